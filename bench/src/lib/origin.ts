/** A WAN-like origin: nginx serving an origin folder behind testkit's proxy (added latency per request, bandwidth cap per response), and an ESS node reading from it. */
import { rmSync } from 'node:fs';
import { startNginx, startProxy, type NginxHandle, type ProxyHandle } from '@ess/testkit';
import type { BenchDataset } from './data.js';
import { EssProcess } from './ess.js';

export interface WanOrigin {
  readonly nginx: NginxHandle;
  readonly proxy: ProxyHandle;
  stop(): Promise<void>;
}

export async function startWan(root: string, delayMs: number, bytesPerSecond: number): Promise<WanOrigin> {
  const nginx = await startNginx(root);
  const proxy = await startProxy(nginx.url, { delayMs, bytesPerSecond });
  return {
    nginx,
    proxy,
    async stop() {
      await proxy.stop();
      await nginx.stop();
    },
  };
}

/**
 * A fresh ESS node (empty data directory) with `ds` registered as a dataset on an HTTP source at
 * `originUrl` (files at `${originUrl}/${ds.relDir}/<lfn>`).
 */
export async function essOnOrigin(dataDir: string, ds: BenchDataset, originUrl: string, args: readonly string[], connections = 8): Promise<EssProcess> {
  rmSync(dataDir, { recursive: true, force: true });
  const ess = await EssProcess.start({ dataDir, args: ['--drain', '1000', ...args] });
  try {
    await ess.api('POST', '/api/v1/sources', { id: 'wan', kind: 'http', endpoint: originUrl, connections, stallMs: 10_000 });
    await ess.api('POST', '/api/v1/datasets', {
      scope: ds.manifest.scope,
      name: ds.manifest.name,
      files: ds.manifest.files.map((f) => ({ lfn: f.lfn, guid: f.guid, size: f.size, events: f.events, replicas: [{ source: 'wan', url: `${originUrl}/${ds.relDir}/${f.lfn}` }] })),
    });
    // Read every file's footer now (event picking builds its index from them), so the clock of a
    // measurement starts with the event index known, as it is for the direct readers it is compared with.
    await fetch(`${ess.httpUrl}/api/v1/datasets/${encodeURIComponent(ds.id)}/events?run=0&event=0`).then((r) => r.arrayBuffer());
    return ess;
  } catch (e) {
    await ess.stop();
    throw e;
  }
}
