/**
 * Server-side prefetch hides the origin's latency: with an origin that adds 50 ms to every request,
 * a worker's ranges after the first are already in the cache when it gets them, and its payload
 * hardly waits for data.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { MONITOR_PATH, PROTOCOL_VERSION } from '@ess/protocol';
import { apiOk, createTask, makeDataset, RawWorker, runWorker, startNginx, startProxy, startTestServer, taskStatus, tempDir, Teardown } from '@ess/testkit';

const KiB = 1024;
const MiB = 1024 * KiB;
const LATENCY_MS = 50;

describe('server-side prefetch', () => {
  const teardown = new Teardown();
  afterEach(() => teardown.run());

  it(`makes later ranges cache hits and the payload's wait far below the origin's ${LATENCY_MS} ms`, async () => {
    const dir = teardown.own(await tempDir(), (d) => d.remove());
    const root = join(dir.path, 'origin');
    const ds = await makeDataset(root, { scope: 'remote', name: 'far', files: 2, eventsPerFile: 48, sizeMean: 64 * KiB, sizeDist: 'fixed', seed: 41 });
    const nginx = await startNginx(root);
    teardown.defer(() => nginx.stop());
    const far = await startProxy(nginx.url, { delayMs: LATENCY_MS });
    teardown.defer(() => far.stop());
    const server = teardown.own(await startTestServer({ dataDir: join(dir.path, 'node'), cache: { blockSize: 256 * KiB, memoryBytes: 64 * MiB, diskBytes: 0 }, prefetchRanges: 8 }), (s) => s.close());
    await apiOk(server, 'POST', '/api/v1/sources', { id: 'far', kind: 'http', endpoint: far.url });
    await apiOk(server, 'POST', '/api/v1/datasets', {
      scope: ds.scope,
      name: ds.name,
      files: ds.files.map((f) => ({ lfn: f.lfn, replicas: [{ source: 'far', url: `${far.url}/datasets/${ds.scope}/${ds.name}/${f.lfn}` }] })),
    });
    const task = await createTask(server, { dataset: ds.id, rangeSize: 8 }); // 12 ranges of 512 KiB
    // A payload that spends 150 ms per range, one at a time; two ranges in flight.
    const w = runWorker({ url: server.wsUrl, task: task.id, outDir: join(dir.path, 'out'), id: 'payload', exec: 'sleep 0.15 && test -s {file}', slots: 1, prefetch: 2, reconnect: false });
    const summary = await w.done;
    expect(summary.rangesFinished).toBe(12);
    expect((await taskStatus(server, task.id)).state).toBe('complete');

    // The wait before each range: from the end of the previous payload to the moment its data was all there.
    const written = w.events.filter((e) => e.event.type === 'range-written').map((e) => e.at);
    const finished = w.events.filter((e) => e.event.type === 'reported' && e.event.status === 'finished').map((e) => e.at);
    const waits = written.slice(1).map((at, i) => Math.max(0, at - finished[i]!));
    const meanWait = waits.reduce((a, b) => a + b, 0) / waits.length;
    expect(meanWait).toBeLessThan(LATENCY_MS / 5);

    // Only the worker's first claim (two ranges at once, its prefetch depth) can meet a cold cache;
    // every range after it came from the cache.
    const { hitBytes, missBytes } = server.totals;
    const rangeBytes = 8 * 64 * KiB;
    expect(hitBytes + missBytes).toBe(12 * rangeBytes);
    expect(missBytes).toBeLessThanOrEqual(2 * rangeBytes);

    // The dashboard's channel carries the cache, prefetch and source figures.
    const monitor = await RawWorker.connect(server.wsUrl, { path: MONITOR_PATH });
    monitor.send({ type: 'hello', protocol: PROTOCOL_VERSION, role: 'monitor' });
    const snapshot = await monitor.next('snapshot');
    monitor.close();
    expect(snapshot.cache!.tiers.map((t) => t.tier)).toEqual(['memory', 'disk']);
    expect(snapshot.cache!.prefetch.issued).toBeGreaterThan(0);
    expect(snapshot.cache!.prefetch.used).toBeGreaterThan(0);
    expect(snapshot.cache!.tiers[0]!.hits).toBeGreaterThan(0);
    const farRow = snapshot.sources.find((x) => x.id === 'far')!;
    expect(farRow).toMatchObject({ kind: 'http', health: 'up' });
    expect(farRow.latencyMs).toBeGreaterThanOrEqual(LATENCY_MS * 0.8);
    expect(snapshot.workers.find((x) => x.id === 'payload')!.hitBytes).toBeGreaterThan(0);
  }, 90_000);
});
