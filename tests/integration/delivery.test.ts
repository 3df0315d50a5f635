import { afterEach, describe, expect, it } from 'vitest';
import { checkRangeFiles, createTask, makeDataset, spawnWorker, startTestServer, taskStatus, tempDir, Teardown } from '@ess/testkit';
import { join } from 'node:path';

describe('delivery to real worker processes', () => {
  const teardown = new Teardown();
  afterEach(() => teardown.run());

  it('delivers a 200 MB dataset to four workers: every event exactly once, bytes equal to the source', async () => {
    const dir = teardown.own(await tempDir(), (d) => d.remove());
    const ds = await makeDataset(dir.path, { scope: 'itest', name: 'big', files: 8, eventsPerFile: 256, sizeMean: 100 * 1024, sizeDist: 'lognormal', seed: 42 });
    const totalBytes = ds.files.reduce((n, f) => n + f.size, 0);
    expect(totalBytes).toBeGreaterThan(200e6);
    const server = teardown.own(await startTestServer({ dataDir: dir.path }), (s) => s.close());
    const task = await createTask(server, { dataset: ds.id, rangeSize: 32 });
    expect(task.rangesTotal).toBe(64);

    const outDirs = [0, 1, 2, 3].map((i) => join(dir.path, `out-${i}`));
    const workers = outDirs.map((out, i) => spawnWorker({ server: server.wsUrl, task: task.id, outDir: out, id: `worker-${i}` }));
    const exits = await Promise.all(workers.map((w) => w.exited));
    for (const [i, e] of exits.entries()) expect(e, workers[i]!.output()).toEqual({ code: 0, signal: null });

    const status = await taskStatus(server, task.id);
    expect(status.state).toBe('complete');
    expect(status.ranges.finished).toBe(64);
    expect(status.eventsDone).toBe(8 * 256);

    const check = await checkRangeFiles(outDirs, ds.dir);
    expect(check.mismatches).toEqual([]);
    expect(check.seen.size).toBe(8 * 256);
    expect([...check.seen.values()].every((n) => n === 1)).toBe(true);
    expect(check.files).toBe(64);
    // Every worker took part.
    const perWorker = await Promise.all(outDirs.map((d) => checkRangeFiles([d], ds.dir)));
    for (const w of perWorker) expect(w.files).toBeGreaterThan(0);
    // The bytes above went out in reused frames: most chunks did not allocate fresh memory.
    const metrics = await (await fetch(`${server.httpUrl}/metrics`)).text();
    const sample = (name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(metrics)?.[1] ?? NaN);
    expect(sample('ess_chunk_frames_reused_total')).toBeGreaterThan(sample('ess_chunks_sent_total') / 2);
  }, 180_000);
});
