import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { createTask, makeDataset, RawWorker, spawnWorker, startTestServer, taskStatus, tempDir, Teardown, waitFor } from '@ess/testkit';

const KiB = 1024;
const MiB = 1024 * KiB;

describe('a worker that stops reading', () => {
  const teardown = new Teardown();
  afterEach(() => teardown.run());

  it('costs the server at most its credit plus one chunk while the other workers finish', async () => {
    const dir = teardown.own(await tempDir(), (d) => d.remove());
    // Ranges of ~8 MiB and a 16 MiB window: more than loopback's kernel buffers absorb, so the
    // server's own buffering is what the test watches.
    const ds = await makeDataset(dir.path, { scope: 'itest', name: 'slow', files: 4, eventsPerFile: 320, sizeMean: 64 * KiB, sizeDist: 'fixed', seed: 3 });
    const maxChunk = 256 * KiB;
    const window = 16 * MiB;
    const server = teardown.own(await startTestServer({ dataDir: dir.path, limits: { ...(await import('@ess/protocol')).DEFAULT_LIMIT_POLICY, maxChunk } }), (s) => s.close());
    const task = await createTask(server, { dataset: ds.id, rangeSize: 128 });

    // The slow worker subscribes first, takes its ranges, and never reads another byte.
    const slow = await RawWorker.hello(server.wsUrl, { worker: { id: 'slow' }, want: { window, maxChunk, prefetch: 2 } });
    slow.pauseReading();
    slow.send({ type: 'subscribe', task: task.id });
    const session = await waitFor(() => [...server.dispatcher.listSessions()].find((s) => s.workerId === 'slow' && s.held.size > 0));
    // A second one with a window small enough for the kernel to absorb: there credit is the limit.
    const smallWindow = 1 * MiB;
    const stalled = await RawWorker.hello(server.wsUrl, { worker: { id: 'stalled' }, want: { window: smallWindow, maxChunk, prefetch: 2 } });
    stalled.pauseReading();
    stalled.send({ type: 'subscribe', task: task.id });
    const stalledSession = await waitFor(() => [...server.dispatcher.listSessions()].find((s) => s.workerId === 'stalled' && s.window.sent > 0));

    let maxBuffered = 0;
    const sampler = setInterval(() => {
      maxBuffered = Math.max(maxBuffered, session.socket.bufferedAmount());
    }, 2);
    try {
      const outDirs = [0, 1, 2].map((i) => join(dir.path, `out-${i}`));
      const workers = outDirs.map((out, i) => spawnWorker({ server: server.wsUrl, task: task.id, outDir: out, id: `fast-${i}` }));
      // Everything but the slow worker's ranges gets finished by the others.
      const slowHeld = session.held.size + stalledSession.held.size;
      const status = await waitFor(
        async () => {
          const s = await taskStatus(server, task.id);
          return s.ranges.finished === task.rangesTotal - slowHeld ? s : null;
        },
        { timeoutMs: 60_000, message: 'the fast workers to finish everything else' },
      );
      expect((status.ranges.assigned ?? 0) + (status.ranges.running ?? 0)).toBe(slowHeld);
      // The server sent the slow worker no more than its window, and buffers no more than that plus a chunk.
      expect(session.window.sent).toBeLessThanOrEqual(window);
      expect(maxBuffered).toBeGreaterThan(0);
      expect(maxBuffered).toBeLessThanOrEqual(window + maxChunk);
      // It is the socket high-water mark that stops the pump here, before the credit runs out.
      expect(maxBuffered).toBeLessThanOrEqual(server.config.socketHighWater + maxChunk);
      expect(session.window.sent).toBeLessThan(window);

      expect(stalledSession.window.sent).toBe(smallWindow);
      expect(stalledSession.socket.bufferedAmount()).toBeLessThanOrEqual(smallWindow + maxChunk);

      // When the slow workers finally go, their ranges finish elsewhere and everyone exits cleanly.
      slow.terminate();
      stalled.terminate();
      const exits = await Promise.all(workers.map((w) => w.exited));
      for (const [i, e] of exits.entries()) expect(e, workers[i]!.output()).toEqual({ code: 0, signal: null });
      const end = await taskStatus(server, task.id);
      expect(end.state).toBe('complete');
      expect(end.ranges.finished).toBe(task.rangesTotal);
    } finally {
      clearInterval(sampler);
    }
  }, 120_000);
});
