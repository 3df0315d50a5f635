/**
 * Hostile input: more than 10,000 malformed or hostile frames (garbage, random MessagePack, known
 * messages with random fields, absurd credit, forged reports, deep nesting, oversized and text
 * frames, floods) thrown at a server process while four honest workers complete their task. The
 * honest workers finish with correct data, the hostile traffic changes nothing in the ledger, the
 * server's memory stays bounded and it answers /healthz throughout.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import WebSocket from 'ws';
import { encode as msgpack } from '@msgpack/msgpack';
import { PROTOCOL_VERSION, STREAM_PATH, MONITOR_PATH } from '@ess/protocol';
import { checkRangeFiles, ESS_CLI, freePort, makeDataset, runFromSource, spawnWorker, Teardown, killNow, tempDir, waitFor, type ProcessHandle } from '@ess/testkit';

const WORKER_TOKEN = 'honest-and-hostile-workers-0123456789';
const ADMIN_TOKEN = 'fuzz-test-admin-token-0123456789';

/** Frames a hostile or broken peer might send, after a valid hello or instead of one. */
function hostileFrames(seed: number, count: number): (Uint8Array | string)[] {
  const anyValue = fc.anything({ maxDepth: 3, withBigInt: false, withTypedArray: true, withMap: false, withSet: false, withDate: false, withNullPrototype: true });
  const types = fc.constantFrom('hello', 'subscribe', 'credit', 'report', 'heartbeat', 'chunk', 'welcome', 'assign', 'end', 'ack', 'snapshot', '', 'HELLO', 'x'.repeat(300));
  const pack = (v: unknown): Uint8Array => {
    try {
      return msgpack(v);
    } catch {
      return new Uint8Array([0xc1]);
    }
  };
  const deep = (n: number): unknown => (n === 0 ? 1 : [deep(n - 1)]);
  const frame: fc.Arbitrary<Uint8Array | string> = fc.oneof(
    { weight: 3, arbitrary: fc.uint8Array({ maxLength: 3000 }) },
    { weight: 3, arbitrary: anyValue.map(pack) },
    { weight: 6, arbitrary: fc.record({ type: types }, { requiredKeys: ['type'] }).chain((base) => fc.dictionary(fc.string({ maxLength: 12 }), anyValue, { maxKeys: 6 }).map((rest) => pack({ ...rest, ...base }))) },
    { weight: 3, arbitrary: fc.constantFrom(-1, 1.5, Number.MAX_SAFE_INTEGER, 2 ** 60, 1e308, Number.NaN, -0, 2 ** 53 + 2).map((limit) => pack({ type: 'credit', limit })) },
    { weight: 3, arbitrary: fc.tuple(fc.nat(5), fc.nat(20), fc.nat(200), fc.integer({ min: 1, max: 9 }), fc.string({ maxLength: 30 }), fc.constantFrom('running', 'finished', 'failed', 'done')).map(([t, f, r, a, token, status]) => pack({ type: 'report', range: `${t}-${f}-${r}-${a}`, token: token || 'x', status, eventsDone: -3 })) },
    { weight: 1, arbitrary: fc.integer({ min: 1000, max: 10 ** 9 }).map((task) => pack({ type: 'subscribe', task })) },
    { weight: 1, arbitrary: fc.constant(pack(deep(2000))) },
    { weight: 1, arbitrary: fc.constantFrom(new Uint8Array(70 * 1024), new Uint8Array(300 * 1024)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
    { weight: 1, arbitrary: fc.constant(pack({ type: 'hello', protocol: PROTOCOL_VERSION + 7, role: 'worker' })) },
  );
  return fc.sample(frame, { numRuns: count, seed });
}

async function rss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

describe('hostile input', () => {
  const teardown = new Teardown();
  afterEach(() => teardown.run());

  it('10,000 hostile frames: honest workers finish, nothing in the ledger changes, memory bounded, /healthz answered throughout', async () => {
    const dir = teardown.own(await tempDir(), (d) => d.remove());
    const data = join(dir.path, 'node');
    const ds = await makeDataset(data, { scope: 'fuzz', name: 'ds', files: 4, eventsPerFile: 200, sizeMean: 16 * 1024, seed: 71 });
    const tokens = join(dir.path, 'tokens.json');
    await writeFile(tokens, JSON.stringify([{ token: WORKER_TOKEN, role: 'worker', name: 'workers' }, { token: ADMIN_TOKEN, role: 'admin', name: 'test' }]));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const server = runFromSource(ESS_CLI, ['serve', '--data', data, '--port', String(port), '--tokens', tokens, '--log-level', 'error']);
    teardown.own(server, killNow);
    await waitFor(async () => (await fetch(`${url}/healthz`).catch(() => null))?.ok, { timeoutMs: 30_000, message: 'the server' });
    const pid = server.child.pid!;
    const res = await fetch(`${url}/api/v1/tasks`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ dataset: ds.id, rangeSize: 10 }) });
    const task = (await res.json()) as { id: number };

    // Watchers: /healthz and the server's resident memory, all along.
    const health = { ok: 0, failed: 0 };
    let baseline = await rss(pid);
    let peak = baseline;
    const watch = setInterval(() => {
      fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) }).then(
        (r) => (r.ok ? health.ok++ : health.failed++),
        () => health.failed++,
      );
      rss(pid).then((b) => (peak = Math.max(peak, b)), () => undefined);
    }, 100);

    // The attack: many connections, some authenticated as workers, some not, some monitors.
    const frames = hostileFrames(20261125, 10_500);
    let sent = 0;
    let connections = 0;
    const attacker = async (lane: number) => {
      let i = lane;
      while (i < frames.length) {
        connections++;
        const path = i % 11 === 0 ? MONITOR_PATH : STREAM_PATH;
        const ws = new WebSocket(url.replace('http', 'ws') + path, { perMessageDeflate: false, maxPayload: 4 * 1024 * 1024 });
        ws.on('error', () => undefined);
        ws.on('message', () => undefined);
        const open = await new Promise<boolean>((resolve) => {
          ws.once('open', () => resolve(true));
          ws.once('error', () => resolve(false));
        });
        if (!open) continue;
        if (i % 3 !== 0) ws.send(msgpack({ type: 'hello', protocol: PROTOCOL_VERSION, role: path === MONITOR_PATH ? 'monitor' : 'worker', token: WORKER_TOKEN, worker: { id: `hostile-${lane}` } }));
        for (let k = 0; k < 60 && i < frames.length && ws.readyState === WebSocket.OPEN; k++, i += 4) {
          ws.send(frames[i]!);
          sent++;
          if (k % 10 === 0) await new Promise((r) => setImmediate(r));
        }
        ws.terminate();
      }
    };

    const out = [0, 1, 2, 3].map((i) => join(dir.path, `honest-${i}`));
    const honest = out.map((o, i) => spawnWorker({ server: url.replace('http', 'ws'), task: task.id, outDir: o, id: `honest-${i}`, extra: ['--token', WORKER_TOKEN, '--window', '1MiB', '--max-chunk', '64KiB', '--prefetch', '1'] }));
    for (const h of honest) teardown.own(h, killNow);
    await new Promise((r) => setTimeout(r, 500));
    baseline = await rss(pid);
    await Promise.all([0, 1, 2, 3].map(attacker));
    clearInterval(watch);

    expect(sent).toBeGreaterThanOrEqual(10_000);
    expect(connections).toBeGreaterThan(100);
    for (const w of honest) expect((await w.exited).code, w.output()).toBe(0);
    const status = (await (await fetch(`${url}/api/v1/tasks/${task.id}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as { state: string; ranges: Record<string, number> };
    expect(status).toMatchObject({ state: 'complete', ranges: { finished: 80 } });
    // Nothing the attackers sent changed the ledger: every range finished on its first attempt.
    const ranges = (await (await fetch(`${url}/api/v1/tasks/${task.id}/ranges`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as { ranges: { attempt: number }[] };
    expect(ranges.ranges.every((r) => r.attempt === 1)).toBe(true);
    const check = await checkRangeFiles(out, ds.dir);
    expect(check.mismatches).toEqual([]);
    expect(check.seen.size).toBe(800);
    expect(health.failed).toBe(0);
    expect(health.ok).toBeGreaterThan(20);
    expect(peak - baseline).toBeLessThan(200 * 1024 * 1024);
    expect(server.child.exitCode).toBeNull();
  }, 240_000);
});
