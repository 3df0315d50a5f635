/**
 * The corruption bug's conditions (TRANSPORT-NOTES.md) through the real channels: frames of
 * 16 KiB and more to clients that pause and resume their sockets every few milliseconds, on the
 * worker channel (chunks) and the monitor channel (deltas of a hundred changing worker rows).
 * Every frame must arrive intact and in order, and the streams must stay alive.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { crc32 } from 'node:zlib';
import { MONITOR_PATH, PROTOCOL_VERSION, ReceiveWindow, encode, type ServerMessage } from '@ess/protocol';
import { createTask, makeDataset, RawWorker, startTestServer, tempDir, Teardown, waitFor } from '@ess/testkit';

const KiB = 1024;

function keepPausing(w: RawWorker): () => void {
  const timer = setInterval(() => {
    w.pauseReading();
    setTimeout(() => w.resumeReading(), 1 + Math.random() * 4);
  }, 5);
  return () => {
    clearInterval(timer);
    w.resumeReading();
  };
}

describe('large frames to clients that keep pausing, through the real channels', () => {
  const teardown = new Teardown();
  afterEach(() => teardown.run());

  it('worker channel: every chunk intact and in order, every range checksum right', async () => {
    const dir = teardown.own(await tempDir(), (d) => d.remove());
    const ds = await makeDataset(dir.path, { scope: 'itest', name: 'pause', files: 2, eventsPerFile: 200, sizeMean: 48 * KiB, seed: 5 });
    const server = teardown.own(await startTestServer({ dataDir: dir.path }), (s) => s.close());
    const problems: string[] = [];
    const ranges = new Map<string, { seq: number; offset: number; crc: number; token: string }>();
    let credit: ReceiveWindow | null = null;
    let rangesChecked = 0;
    let largeChunks = 0;
    let w!: RawWorker;
    const onMessage = (m: ServerMessage, frameBytes: number) => {
      if (m.type === 'welcome') credit = new ReceiveWindow(m.limits!.window);
      if (m.type === 'assign') ranges.set(m.range.eventRangeID, { seq: 0, offset: 0, crc: 0, token: m.token });
      if (m.type === 'chunk') {
        if (frameBytes >= 16 * KiB) largeChunks++;
        const r = ranges.get(m.range);
        if (!r) return void problems.push(`chunk of unknown range ${m.range}`);
        if (m.seq !== r.seq || m.offset !== r.offset) problems.push(`${m.range}: chunk ${m.seq}@${m.offset}, expected ${r.seq}@${r.offset}`);
        r.seq++;
        r.offset += m.data.length;
        r.crc = crc32(m.data, r.crc);
        const got = credit!.receive(m.data.length);
        if (!got.ok) problems.push(got.error.message);
        const limit = credit!.release(m.data.length);
        if (limit !== null) w.send({ type: 'credit', limit });
      }
      if (m.type === 'end') {
        const r = ranges.get(m.range)!;
        if (m.crc32 !== r.crc >>> 0 || m.bytes !== r.offset || m.chunks !== r.seq) problems.push(`${m.range}: end marker disagrees with what arrived`);
        rangesChecked++;
        ranges.delete(m.range);
        w.send({ type: 'report', range: m.range, token: r.token, status: 'finished' });
      }
    };
    w = await RawWorker.hello(server.wsUrl, { worker: { id: 'pausing' }, want: { maxChunk: 128 * KiB, window: 4 * 1024 * KiB, prefetch: 4 } }, { onMessage, retainChunks: false });
    w.send({ type: 'subscribe', task: null });
    // Keep data flowing for the whole test: a new task whenever the last one is done.
    let task = await createTask(server, { dataset: ds.id, rangeSize: 20 });
    const feeder = setInterval(async () => {
      const t = await server.ledger.getTask(task.id);
      if (t?.state === 'complete') task = await createTask(server, { dataset: ds.id, rangeSize: 20 });
    }, 50);
    const stop = keepPausing(w);
    await new Promise((r) => setTimeout(r, 4_000));
    stop();
    const during = rangesChecked;
    await waitFor(() => rangesChecked > during, { message: 'ranges after the pausing stopped' });
    clearInterval(feeder);
    expect(problems.slice(0, 5)).toEqual([]);
    expect(w.undecodable).toHaveLength(0);
    expect(largeChunks).toBeGreaterThan(500);
    expect(during).toBeGreaterThan(20);
    w.close();
  }, 30_000);

  it('monitor channel: every delta intact and in order', async () => {
    const dir = teardown.own(await tempDir(), (d) => d.remove());
    const server = teardown.own(await startTestServer({ dataDir: dir.path, monitorIntervalMs: 20 }), (s) => s.close());
    // A hundred workers whose rows change on every tick (their heartbeats move lastSeen).
    const workers = await Promise.all(Array.from({ length: 100 }, (_, i) => RawWorker.hello(server.wsUrl, { worker: { id: `idle-${i}`, label: `an idle worker with a long label ${i}`, site: 'SITE-WITH-A-NAME' } })));
    const beat = setInterval(() => {
      for (const w of workers) w.send({ type: 'heartbeat', t: Date.now() });
    }, 15);
    let lastSeq = -1;
    let largeDeltas = 0;
    const problems: string[] = [];
    const monitor = await RawWorker.connect(server.wsUrl, {
      path: MONITOR_PATH,
      onMessage: (m, frameBytes) => {
        if (m.type === 'snapshot') lastSeq = m.seq;
        if (m.type === 'delta') {
          if (m.seq <= lastSeq) problems.push(`delta ${m.seq} after ${lastSeq}`);
          lastSeq = m.seq;
          if (frameBytes >= 16 * KiB) largeDeltas++;
        }
      },
    });
    monitor.sendRaw(encode({ type: 'hello', protocol: PROTOCOL_VERSION, role: 'monitor' }));
    await monitor.next('snapshot');
    const stop = keepPausing(monitor);
    await new Promise((r) => setTimeout(r, 4_000));
    stop();
    const during = lastSeq;
    await waitFor(() => lastSeq > during + 5, { message: 'deltas after the pausing stopped' });
    clearInterval(beat);
    expect(problems.slice(0, 5)).toEqual([]);
    expect(monitor.undecodable.map((b) => b.length)).toEqual([]);
    expect(largeDeltas).toBeGreaterThan(50);
    monitor.close();
    for (const w of workers) w.close();
  }, 30_000);
});
