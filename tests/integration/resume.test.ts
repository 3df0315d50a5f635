import { afterEach, describe, expect, it } from 'vitest';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { checkRangeFiles, createTask, makeDataset, spawnWorker, startTestServer, taskStatus, tempDir, Teardown, waitFor } from '@ess/testkit';

/** A TCP relay whose connections can be cut, as a flaky network would. */
async function relay(targetPort: number): Promise<{ port: number; cut(): void; stop(): Promise<void> }> {
  const pairs = new Set<[Socket, Socket]>();
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    client.pipe(upstream).pipe(client);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    cut: () => {
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      pairs.clear();
    },
    stop: () => new Promise((r) => server.close(() => r())),
  };
}

describe('a worker whose link drops', () => {
  const teardown = new Teardown();
  afterEach(() => teardown.run());

  it('takes its ranges back on reconnect and receives the rest of their data, none of it twice', async () => {
    const dir = teardown.own(await tempDir(), (d) => d.remove());
    const ds = await makeDataset(dir.path, { scope: 'itest', name: 'resume', files: 2, eventsPerFile: 200, sizeMean: 64 * 1024, sizeDist: 'fixed', seed: 11 });
    const total = ds.files.reduce((n, f) => n + f.size, 0);
    const server = teardown.own(await startTestServer({ dataDir: dir.path, graceMs: 30_000 }), (s) => s.close());
    const task = await createTask(server, { dataset: ds.id, rangeSize: 100 });
    const net = await relay(server.port);
    try {
      const out = join(dir.path, 'out');
      // Small credit so that the cuts land in the middle of ranges.
      const w = spawnWorker({ server: `ws://127.0.0.1:${net.port}`, task: task.id, outDir: out, id: 'flaky', extra: ['--window', '1MiB', '--max-chunk', '256KiB', '--prefetch', '2'] });
      for (let cut = 1; cut <= 3; cut++) {
        await waitFor(() => server.totals.bytes > (cut * total) / 5, { timeoutMs: 20_000, message: `data before cut ${cut}` });
        net.cut();
      }
      const exit = await w.exited;
      expect(exit.code, w.output()).toBe(0);
      const status = await taskStatus(server, task.id);
      expect(status.state).toBe('complete');
      // Taken back, not handed out again: the ranges the worker held at each cut continued on
      // their first attempt. (Only an assignment still in flight at a cut, which the worker never
      // saw and so could not mention, goes back to ready with an attempt fewer.)
      expect(server.totals.rangesResumed).toBeGreaterThanOrEqual(3);
      const ranges = await server.ledger.ranges(task.id);
      expect(ranges.every((r) => r.state === 'finished')).toBe(true);
      expect(ranges.filter((r) => r.attempt > 1).length).toBeLessThanOrEqual(3 * 2);
      const check = await checkRangeFiles([out], ds.dir);
      expect(check.mismatches).toEqual([]);
      expect(check.seen.size).toBe(400);
      // Only what was in flight at a cut may have been sent again: at most a window per cut.
      const payload = ds.files.reduce((n, f) => n + f.events, 0) * 64 * 1024;
      expect(server.totals.bytes).toBeGreaterThanOrEqual(payload);
      expect(server.totals.bytes - payload).toBeLessThanOrEqual(3 * 1024 * 1024);
    } finally {
      await net.stop();
    }
  }, 90_000);
});
