/**
 * Data on real remote origins started by the tests: Debian's nginx and XRootD (HTTP port) serving
 * generated datasets. Delivery byte-exact from each, failover when the preferred origin stops in
 * the middle of a task, and request coalescing counted in the origin's own access log.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import {
  apiOk,
  checkRangeFiles,
  createTask,
  makeDataset,
  runWorker,
  spawnWorker,
  startNginx,
  startProxy,
  startTestServer,
  startXrootd,
  taskStatus,
  tempDir,
  Teardown,
  waitFor,
  type TempDir,
} from '@ess/testkit';
import type { EssServer } from '@ess/server';
import type { SourceRow } from '@ess/protocol';

const KiB = 1024;
const MiB = 1024 * KiB;

describe('data on remote origins', () => {
  const teardown = new Teardown();
  afterEach(() => teardown.run());

  async function setUp(spec: Parameters<typeof makeDataset>[1], serverOptions: Partial<Parameters<typeof startTestServer>[0]> = {}) {
    const dir = teardown.own(await tempDir(), (d) => d.remove());
    const origin = join(dir.path, 'origin');
    const ds = await makeDataset(origin, spec);
    const server = teardown.own(await startTestServer({ dataDir: join(dir.path, 'node'), ...serverOptions }), (s) => s.close());
    return { dir, server, origin, ds, path: (lfn: string) => `/datasets/${ds.scope}/${ds.name}/${lfn}` };
  }

  async function register(server: EssServer, source: string, endpoint: string, ds: { scope: string; name: string; files: { lfn: string }[] }, url: (lfn: string) => string) {
    await apiOk(server, 'POST', '/api/v1/sources', { id: source, kind: 'http', endpoint, stallMs: 2_000 });
    // Only LFNs and replicas: sizes, GUIDs and event counts are read from the files themselves.
    await apiOk(server, 'POST', '/api/v1/datasets', { scope: ds.scope, name: ds.name, files: ds.files.map((f) => ({ lfn: f.lfn, replicas: [{ source, url: url(f.lfn) }] })) });
  }

  async function deliver(server: EssServer, dir: TempDir, datasetId: string, datasetDir: string, workers: number, rangeSize: number) {
    const task = await createTask(server, { dataset: datasetId, rangeSize });
    const outs = Array.from({ length: workers }, (_, i) => join(dir.path, `out-${task.id}-${i}`));
    const procs = outs.map((out, i) => spawnWorker({ server: server.wsUrl, task: task.id, outDir: out, id: `w${task.id}-${i}` }));
    for (const p of procs) expect((await p.exited).code, p.output()).toBe(0);
    expect((await taskStatus(server, task.id)).state).toBe('complete');
    return checkRangeFiles(outs, datasetDir);
  }

  for (const origin of ['nginx', 'xrootd'] as const) {
    it(`delivers a dataset served by ${origin === 'nginx' ? 'nginx' : "XRootD's HTTP port"}, byte-exact`, async () => {
      const { dir, server, origin: root, ds, path } = await setUp({ scope: 'remote', name: origin, files: 3, eventsPerFile: 60, sizeMean: 48 * KiB, seed: 31 });
      const o = origin === 'nginx' ? await startNginx(root) : await startXrootd(root);
      teardown.defer(() => o.stop());
      const base = 'httpUrl' in o ? o.httpUrl : o.url;
      await register(server, origin, base, ds, (lfn) => base + path(lfn));
      const check = await deliver(server, dir, ds.id, ds.dir, 2, 16);
      expect(check.mismatches).toEqual([]);
      expect(check.seen.size).toBe(180);
      const sources = await apiOk<{ sources: SourceRow[] }>(server, 'GET', '/api/v1/sources');
      const row = sources.sources.find((s) => s.id === origin)!;
      expect(row.kind).toBe('http');
      expect(row.bytes).toBeGreaterThanOrEqual(ds.files.reduce((n, f) => n + f.size, 0) * 0.9);
      expect(row.errors).toBe(0);
    }, 90_000);
  }

  it('fails over to the other replica when the preferred origin stops mid-task: every event exactly once', async () => {
    const { dir, server, origin: root, ds, path } = await setUp(
      { scope: 'remote', name: 'failover', files: 6, eventsPerFile: 80, sizeMean: 64 * KiB, sizeDist: 'fixed', seed: 32 },
      // A small cache and little prefetch, so the origins keep serving while the task runs.
      { cache: { blockSize: 256 * KiB, memoryBytes: 8 * MiB, diskBytes: 0 }, prefetchRanges: 1 },
    );
    const nginx = await startNginx(root);
    teardown.defer(() => nginx.stop());
    const xrootd = await startXrootd(root);
    teardown.defer(() => xrootd.stop());
    // The second replica sits behind added latency, so the first is preferred while it lives.
    const slow = await startProxy(xrootd.httpUrl, { delayMs: 15 });
    teardown.defer(() => slow.stop());
    await register(server, 'primary', nginx.url, ds, (lfn) => nginx.url + path(lfn));
    await apiOk(server, 'POST', '/api/v1/sources', { id: 'secondary', kind: 'http', endpoint: slow.url, stallMs: 2_000 });
    await apiOk(server, 'POST', `/api/v1/datasets/${encodeURIComponent(ds.id)}/replicas`, { source: 'secondary', prefix: `${slow.url}/datasets/${ds.scope}/${ds.name}/` });

    const task = await createTask(server, { dataset: ds.id, rangeSize: 8 });
    const out = join(dir.path, 'out');
    const w = spawnWorker({ server: server.wsUrl, task: task.id, outDir: out, id: 'failover-worker', extra: ['--window', '2MiB', '--max-chunk', '256KiB'] });
    await waitFor(async () => (await taskStatus(server, task.id)).ranges.finished! >= 15, { timeoutMs: 30_000, message: 'a third of the task' });
    await nginx.stop();
    expect((await w.exited).code, w.output()).toBe(0);

    const status = await taskStatus(server, task.id);
    expect(status).toMatchObject({ state: 'complete', ranges: { finished: 60, fatal: 0 } });
    const check = await checkRangeFiles([out], ds.dir);
    expect(check.mismatches).toEqual([]);
    expect(check.seen.size).toBe(480);
    expect([...check.seen.values()].every((n) => n === 1)).toBe(true);
    const rows = (await apiOk<{ sources: SourceRow[] }>(server, 'GET', '/api/v1/sources')).sources;
    const primary = rows.find((s) => s.id === 'primary')!;
    const secondary = rows.find((s) => s.id === 'secondary')!;
    expect(primary.failovers).toBeGreaterThan(0);
    expect(primary.errors).toBeGreaterThan(0);
    expect(primary.health).not.toBe('up');
    expect(secondary.bytes).toBeGreaterThan(0);
    expect(slow.requests).toBeGreaterThan(0);
    // The failover shows in the Prometheus metrics too.
    const metrics = await (await fetch(`${server.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/ess_source_failovers_total\{source="primary",kind="http"\} [1-9]/);
  }, 120_000);

  it('sixteen workers reading the same range cost one origin read per block', async () => {
    const blockSize = 256 * KiB;
    const { dir, server, origin: root, ds, path } = await setUp(
      { scope: 'remote', name: 'coalesce', files: 1, eventsPerFile: 40, sizeMean: 50 * KiB, sizeDist: 'fixed', seed: 33 },
      { cache: { blockSize, memoryBytes: 64 * MiB, diskBytes: 0 }, prefetchRanges: 0 },
    );
    const nginx = await startNginx(root);
    teardown.defer(() => nginx.stop());
    await register(server, 'origin', nginx.url, ds, (lfn) => nginx.url + path(lfn));
    const lfn = ds.files[0]!.lfn;
    const before = (await nginx.requests()).length;
    // Sixteen tasks over the same single range, sixteen workers asking at the same moment.
    const tasks = [];
    for (let i = 0; i < 16; i++) tasks.push(await createTask(server, { dataset: ds.id, rangeSize: 40 }));
    const workers = tasks.map((t, i) => runWorker({ url: server.wsUrl, task: t.id, outDir: join(dir.path, `out-${i}`), id: `c${i}`, reconnect: false }));
    const summaries = await Promise.all(workers.map((w) => w.done));
    for (const s of summaries) expect(s.rangesFinished).toBe(1);

    const size = ds.files[0]!.size;
    const reads = (await nginx.requests())
      .slice(before)
      .filter((r) => r.path === path(lfn) && r.range !== null)
      .map((r) => /bytes=(\d+)-(\d+)/.exec(r.range!)!.slice(1).map(Number) as [number, number]);
    const isBlock = ([a, b]: [number, number]) => a % blockSize === 0 && (b + 1 - a === blockSize || b + 1 === size);
    const blockReads = reads.filter(isBlock).map(([a]) => a / blockSize);
    // The range's blocks (8-byte magic, then 40 events of 50 KiB), each read from the origin exactly once.
    const blocks = Math.ceil((8 + 40 * 50 * KiB) / blockSize);
    expect(blockReads.sort((a, b) => a - b)).toEqual(Array.from({ length: blocks }, (_, b) => b));
    // Besides them, at most the one small read of the file's footer.
    expect(reads.length - blockReads.length).toBeLessThanOrEqual(1);
    const cache = server.cache!.stats();
    expect(cache.coalesced).toBeGreaterThan(0);
  }, 90_000);
});
