/**
 * What only the Redis ledger has to show (the behavioural contract runs in ledger.test.ts, and
 * here once more on a Redis in cluster mode): the Lua verdict table is reportVerdict's, fencing
 * and retry-safe finish on Redis's clock, lease deadlines from Redis TIME, the key layout (hash
 * tags, one slot per task, every key a script touches declared), exact indexes and counters under
 * random operations, exact numbers beyond Lua's 14 digits, durability across a real `kill -9` of
 * redis-server and a restart from its AOF, the refusal of an evicting Redis, WAIT with and
 * without a replica, a large createTask, and claim+finish rates beside SQLite's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Redis } from 'ioredis';
import { RangeState, TERMINAL_STATES } from '@ess/protocol';
import { RedisLedger, RedisLedgerReplicationError } from '../src/dispatch/RedisLedger.js';
import { SqliteLedger } from '../src/dispatch/SqliteLedger.js';
import { reportVerdict, type Ledger, type RangeOutcome, type RangePlan, type ReportKind, type TaskSpec } from '../src/dispatch/Ledger.js';
import { activeMember, globalKeys, keySlot, taskKeys, taskTag, workerKey } from '../src/dispatch/redis/keys.js';
import { VERDICT_PROBE_LUA } from '../src/dispatch/redis/scripts.js';
import { describeLedgerContract } from './ledger-contract.js';
// The harness's Redis, by path: @ess/testkit depends on this package, so it cannot be a dependency of its tests.
import { startRedis, type RedisServer } from '../../testkit/src/redis.js';

const spec = (o: Partial<TaskSpec> = {}): TaskSpec => ({ dataset: 's:n', rangeSize: 10, attempts: 3, priority: 0, label: '', ...o });
const plans = (n: number): RangePlan[] =>
  Array.from({ length: n }, (_, i) => ({ file: Math.floor(i / 1000), index: i % 1000, scope: 's', LFN: 'f', GUID: 'g', startEvent: (i % 1000) * 10, lastEvent: (i % 1000) * 10 + 9 }));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A one-node Redis Cluster (owns every slot; refuses cross-slot transactions and declared keys): it takes 2 s to accept writes, so it starts early. */
let clusterServer: Promise<RedisServer> | null = null;
let server: RedisServer;
let admin: Redis;
let prefixes = 0;
const opened: RedisLedger[] = [];
/** A ledger on the shared server under a fresh key prefix (closed after all tests). */
async function ledger(o: Parameters<typeof RedisLedger.open>[1] = {}): Promise<RedisLedger> {
  const l = await RedisLedger.open(server.url, { keyPrefix: `rt${++prefixes}`, ...o });
  opened.push(l);
  return l;
}
const redisNow = async (r: Redis): Promise<number> => {
  const [s = 0, us = 0] = await r.time();
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
};

/**
 * Every index and counter of a task agrees with its range records: the ready, lease, retry and
 * holders sets hold exactly the ready, held, failed and held ranges (with their positions,
 * deadlines, retry times and workers); the per-state counts, eventsDone and open are the records';
 * the task is in the active set exactly while active.
 */
async function expectIndexesExact(r: Redis, prefix: string, id: number): Promise<void> {
  const k = taskKeys(prefix, id);
  const task = await r.hgetall(k.task);
  const records = Object.entries(await r.hgetall(k.ranges)).map(([field, json]) => ({ field, ...(JSON.parse(json) as Record<string, unknown>) })) as unknown as {
    field: string;
    p: number;
    state: RangeState;
    worker: string | null;
    leaseUntil: number | null;
    retryAt: number | null;
    eventsDone: number;
  }[];
  const zset = async (key: string): Promise<Record<string, number>> => {
    const flat = await r.zrange(key, '0', '-1', 'WITHSCORES');
    const out: Record<string, number> = {};
    for (let i = 0; i < flat.length; i += 2) out[flat[i]!] = Number(flat[i + 1]);
    return out;
  };
  const held = (s: RangeState): boolean => s === RangeState.assigned || s === RangeState.running;
  const expected = (pick: (x: (typeof records)[number]) => [string, number] | null): Record<string, number> =>
    Object.fromEntries(records.map(pick).filter((x): x is [string, number] => x !== null));
  const what = `task ${id} (${prefix})`;
  expect(await zset(k.ready), `${what}: ready set`).toEqual(expected((x) => (x.state === 'ready' ? [x.field, x.p] : null)));
  expect(await zset(k.lease), `${what}: lease set`).toEqual(expected((x) => (held(x.state) ? [x.field, x.leaseUntil!] : null)));
  expect(await zset(k.retry), `${what}: retry set`).toEqual(expected((x) => (x.state === 'failed' ? [x.field, x.retryAt!] : null)));
  expect(await zset(k.holders), `${what}: holders set`).toEqual(expected((x) => (held(x.state) ? [`${x.worker}\0${x.field}`, 0] : null)));
  for (const s of Object.values(RangeState)) {
    expect(Number(task[`n.${s}`]), `${what}: count of ${s}`).toBe(records.filter((x) => x.state === s).length);
  }
  expect(Number(task.eventsDone), `${what}: eventsDone`).toBe(records.reduce((n, x) => n + x.eventsDone, 0));
  expect(Number(task.open), `${what}: open`).toBe(records.filter((x) => !TERMINAL_STATES.has(x.state)).length);
  const active = (await r.zscore(globalKeys(prefix).active, activeMember(id))) !== null;
  expect(active, `${what}: in the active set exactly while active (${task.state})`).toBe(task.state === 'active');
}

beforeAll(async () => {
  clusterServer ??= startRedis({ cluster: true, appendfsync: 'everysec' });
  server = await startRedis();
  admin = server.client();
});
afterAll(async () => {
  for (const l of opened) await l.close();
  admin?.disconnect();
  await server?.stop();
});

describe('RedisLedger — Redis specifics', () => {
  it('the Lua verdict table is reportVerdict, case by case', async () => {
    const states = Object.values(RangeState);
    const outcomes: (RangeOutcome | null)[] = [null, 'finished', 'failed', 'released', 'cancelled'];
    const reports: ReportKind[] = ['start', 'finish', 'fail', 'release'];
    const p = admin.pipeline();
    const cases: { expected: string; label: string }[] = [];
    for (const state of states) {
      for (const outcome of outcomes) {
        for (const stored of [null, 'tok']) {
          for (const token of ['tok', 'other']) {
            for (const report of reports) {
              cases.push({ expected: reportVerdict({ state, token: stored, outcome }, token, report), label: `${report} ${token} on ${state}/${stored}/${outcome}` });
              p.eval(VERDICT_PROBE_LUA, 0, state, stored ?? '', outcome ?? '', token, report);
            }
          }
        }
      }
    }
    const got = (await p.exec())!.map(([err, v]) => (err ? String(err) : v));
    expect(got.length).toBe(cases.length);
    cases.forEach((c, i) => expect(got[i], c.label).toBe(c.expected));
  });

  it('fencing and retry-safe finish on Redis time: a stale token after a re-claim is fenced; the same token again is a duplicate', async () => {
    const l = await ledger();
    const t = await l.createTask(spec(), plans(2), 0);
    const a = (await l.claim({ worker: 'w1', task: t.id, max: 1, leaseMs: 150, now: 0 }))[0]!;
    await sleep(200);
    expect((await l.reap(0)).released.map((r) => r.key)).toEqual([a.range.key]);
    const b = (await l.claim({ worker: 'w2', task: t.id, max: 1, leaseMs: 10_000, now: 0 }))[0]!;
    expect(b.range.key).toBe(a.range.key);
    expect(b.token).not.toBe(a.token);
    const current = await l.getRange(a.range.key);
    for (const o of [await l.start(a.range.key, a.token), await l.finish(a.range.key, a.token, 0), await l.release(a.range.key, a.token, true, 'late')]) {
      expect(o).toEqual({ kind: 'fenced', range: current });
    }
    const done = await l.finish(b.range.key, b.token, 0);
    expect(done).toMatchObject({ kind: 'ok', range: { state: 'finished', outcome: 'finished', eventsDone: 10 } });
    // The worker's reply was lost: it sends the same finish again — "already done", nothing changes.
    for (let i = 0; i < 3; i++) expect(await l.finish(b.range.key, b.token, 0)).toEqual({ kind: 'duplicate', range: (done as { range: unknown }).range });
    expect((await l.progress(t.id))!).toMatchObject({ ranges: { finished: 1, ready: 1 }, eventsDone: 10 });
    await expectIndexesExact(admin, l.prefix, t.id);
  });

  it('lease deadlines, renewals and retry times come from Redis TIME, whatever `now` the caller passes', async () => {
    const l = await ledger();
    const before = await redisNow(admin);
    const t = await l.createTask(spec({ attempts: 5 }), plans(3), 42);
    expect(t.createdAt).toBeGreaterThanOrEqual(before);
    const [a, b] = await l.claim({ worker: 'w', task: t.id, max: 2, leaseMs: 600, now: 1e15 });
    const after = await redisNow(admin);
    for (const x of [a!, b!]) {
      expect(x.leaseUntil).toBeGreaterThanOrEqual(before + 600);
      expect(x.leaseUntil).toBeLessThanOrEqual(after + 600);
    }
    // A caller's clock far ahead reaps nothing; far behind, renew still sees live leases.
    expect(await l.reap(1e15)).toEqual({ released: [], completed: [] });
    expect(await l.renew('w', 600, 0)).toBe(2);
    const renewed = (await l.getRange(a!.range.key))!.leaseUntil!;
    expect(renewed).toBeGreaterThanOrEqual(a!.leaseUntil);
    const f = await l.fail(b!.range.key, b!.token, { eventsDone: 1, message: 'x', retryDelayMs: 200, now: 0 });
    const retryAt = (f as { range: { retryAt: number } }).range.retryAt;
    expect(retryAt).toBeGreaterThanOrEqual(after + 200);
    // Real time passes: the lease lapses and the retry comes, on Redis's clock (reap(0) is ignored).
    await sleep(Math.max(0, renewed - (await redisNow(admin))) + 30);
    const reaped = await l.reap(0);
    expect(reaped.released.map((r) => [r.key, r.state, r.outcome]).sort()).toEqual(
      [
        [a!.range.key, 'ready', 'released'],
        [b!.range.key, 'ready', 'failed'],
      ].sort(),
    );
    expect(await l.renew('w', 600, 1e15)).toBe(0);
    await expectIndexesExact(admin, l.prefix, t.id);
  });

  it('numbers beyond 14 significant digits stay exact (times, event numbers)', async () => {
    const l = await ledger({ clock: 'caller' });
    const big = 2 ** 52 + 1;
    const t = await l.createTask(spec(), [{ file: 0, index: 0, scope: 's', LFN: 'f', GUID: 'g', startEvent: big, lastEvent: big + 99 }], big);
    expect(t).toMatchObject({ createdAt: big, eventsTotal: 100 });
    const [x] = await l.claim({ worker: 'w', task: t.id, max: 1, leaseMs: 7, now: big });
    expect(x!.leaseUntil).toBe(big + 7);
    expect(await l.renew('w', 11, big + 1)).toBe(1);
    expect((await l.getRange(x!.range.key))!.leaseUntil).toBe(big + 12);
    const o = await l.fail(x!.range.key, x!.token, { eventsDone: 33, message: 'm', retryDelayMs: 3, now: big + 5 });
    expect(o).toMatchObject({ kind: 'ok', range: { startEvent: big + 33, lastEvent: big + 99, retryAt: big + 8, eventsDone: 33 } });
    expect(await l.getRange(x!.range.key)).toMatchObject({ startEvent: big + 33, retryAt: big + 8 });
    expect((await l.reap(big + 7)).released).toEqual([]);
    expect((await l.reap(big + 8)).released.map((r) => r.startEvent)).toEqual([big + 33]);
  });

  it('a script that fails does so before its first write: nothing of the change is left behind', async () => {
    const l = await ledger({ clock: 'caller' });
    const t = await l.createTask(spec(), plans(3), 0);
    const [x] = await l.claim({ worker: 'w', task: t.id, max: 1, leaseMs: 100, now: 0 });
    const before = await l.ranges(t.id);
    // Arguments outside the contract's checks that no stored number can hold: the script raises.
    await expect(l.claim({ worker: 'w', task: t.id, max: 2, leaseMs: Number.NaN, now: 0 })).rejects.toThrow(/not a number/);
    await expect(l.fail(x!.range.key, x!.token, { eventsDone: 1, message: 'm', retryDelayMs: Number.NaN, now: 0 })).rejects.toThrow();
    await expect(l.reap(Number.NaN)).rejects.toThrow();
    expect(await l.ranges(t.id)).toEqual(before);
    await expectIndexesExact(admin, l.prefix, t.id);
    expect((await l.finish(x!.range.key, x!.token, 0)).kind).toBe('ok');
  });

  it('indexes and counters stay exact under random operations on Redis time', async () => {
    const op = fc.oneof(
      fc.record({ op: fc.constant('claim' as const), worker: fc.nat({ max: 2 }), max: fc.integer({ min: 1, max: 3 }), leaseMs: fc.constantFrom(0, 5, 60_000) }),
      fc.record({ op: fc.constantFrom('start' as const, 'finish' as const, 'fail' as const, 'release' as const), pick: fc.nat(), events: fc.nat({ max: 12 }), delay: fc.constantFrom(0, 5, 60_000) }),
      fc.record({ op: fc.constantFrom('reap' as const, 'cancel' as const, 'heldBy' as const) }),
      fc.record({ op: fc.constant('renew' as const), worker: fc.nat({ max: 2 }), leaseMs: fc.constantFrom(1, 60_000) }),
    );
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 30 }), async (ops) => {
        const l = await ledger();
        runs++;
        const ids = [(await l.createTask(spec({ attempts: 2 }), plans(5), 0)).id, (await l.createTask(spec({ priority: 1 }), plans(3), 0)).id];
        const leases: { key: string; token: string }[] = [];
        for (const o of ops) {
          switch (o.op) {
            case 'claim':
              for (const x of await l.claim({ worker: `w${o.worker}`, task: null, max: o.max, leaseMs: o.leaseMs, now: 0 })) leases.push({ key: x.range.key, token: x.token });
              break;
            case 'start':
            case 'finish':
            case 'fail':
            case 'release': {
              const x = leases[o.pick % Math.max(1, leases.length)];
              if (!x) break;
              if (o.op === 'start') await l.start(x.key, x.token);
              else if (o.op === 'finish') await l.finish(x.key, x.token, 0);
              else if (o.op === 'fail') await l.fail(x.key, x.token, { eventsDone: o.events, message: 'f', retryDelayMs: o.delay, now: 0 });
              else await l.release(x.key, x.token, o.events % 2 === 0, 'r');
              break;
            }
            case 'reap':
              await l.reap(0);
              break;
            case 'cancel':
              await l.cancelTask(ids[0]!);
              break;
            case 'heldBy':
              for (const h of await l.heldBy('w0')) expect(h.range).toMatchObject({ worker: 'w0', token: h.token });
              break;
            case 'renew':
              await l.renew(`w${o.worker}`, o.leaseMs, 0);
              break;
          }
          for (const id of ids) await expectIndexesExact(admin, l.prefix, id);
        }
      }),
      { numRuns: 25 },
    );
    expect(runs).toBe(25);
  }, 30_000);

  it('survives kill -9 of redis-server: every finish it acknowledged is there after a restart from the AOF', async () => {
    const s = await startRedis();
    try {
      const fragile = { maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false };
      let l = await RedisLedger.open(s.url, { redisOptions: fragile });
      const t = await l.createTask(spec({ attempts: 3 }), plans(2_000), 0);
      const claimed = new Map<string, { token: string; leaseUntil: number }>();
      const finished = new Set<string>();
      let killed = false;
      let inFlight: string | null = null;
      try {
        for (;;) {
          const batch = await l.claim({ worker: 'w', task: t.id, max: 3, leaseMs: 600_000, now: 0 });
          for (const x of batch) claimed.set(x.range.key, { token: x.token, leaseUntil: x.leaseUntil });
          // Finish two of every three; the third stays held.
          for (const x of batch.slice(0, 2)) {
            inFlight = x.range.key;
            // (Settled into a value at once: it may fail while the kill is awaited.)
            const p = l.finish(x.range.key, x.token, 0).then(
              (o) => o,
              (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
            );
            if (finished.size === 300 && !killed) {
              killed = true;
              await s.kill(); // while that finish is on the wire
            }
            const o = await p;
            if (o instanceof Error) throw o;
            expect(o.kind).toBe('ok');
            finished.add(x.range.key);
            inFlight = null;
          }
        }
      } catch (e) {
        expect(killed, `the loop stopped before the kill: ${String(e)}`).toBe(true);
      }
      await l.close();
      expect(finished.size).toBeGreaterThanOrEqual(300);

      await s.restart();
      l = await RedisLedger.open(s.url);
      try {
        const rs = await l.ranges(t.id);
        expect(rs).toHaveLength(2_000);
        const byKey = new Map(rs.map((r) => [r.key, r]));
        for (const key of finished) expect(byKey.get(key)!.state, key).toBe('finished');
        // At most the one finish on the wire when the server died is recorded without an answer.
        const unacked = rs.filter((r) => r.state === 'finished' && !finished.has(r.key));
        expect(unacked.map((r) => r.key)).toEqual(unacked.length ? [inFlight] : []);
        // Held ranges keep worker, token and lease: the worker carries on with its tokens.
        const held = rs.filter((r) => r.state === 'assigned');
        expect(held.length).toBeGreaterThan(0);
        for (const r of held) expect(r).toMatchObject({ worker: 'w', token: claimed.get(r.key)!.token, leaseUntil: claimed.get(r.key)!.leaseUntil, attempt: 1 });
        expect((await l.heldBy('w')).map((x) => x.range.key).sort()).toEqual(held.map((r) => r.key).sort());
        expect(await l.finish(held[0]!.key, held[0]!.token!, 0)).toMatchObject({ kind: 'ok' });
        const p = (await l.progress(t.id))!;
        expect(p.ranges.finished).toBe(finished.size + unacked.length + 1);
        expect(p.eventsDone).toBe(10 * p.ranges.finished);
        await expectIndexesExact(l.redis, l.prefix, t.id);
      } finally {
        await l.close();
      }
    } finally {
      await s.stop();
    }
  }, 30_000);

  it('refuses an evicting Redis at open, and warns when AOF is off', async () => {
    const s = await startRedis({ args: ['--maxmemory-policy', 'allkeys-lru', '--appendonly', 'no'] });
    try {
      await expect(RedisLedger.open(s.url)).rejects.toThrow(/maxmemory-policy allkeys-lru: the ESS ledger needs noeviction/);
      const c = s.client();
      await c.config('SET', 'maxmemory-policy', 'noeviction');
      c.disconnect();
      const lines: string[] = [];
      const log = pino({ level: 'info' }, new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) }));
      const l = await RedisLedger.open(s.url, { log });
      await l.close();
      expect(lines.some((x) => /"level":40.*appendonly is off/.test(x))).toBe(true);
      await expect(RedisLedger.open(s.url, { keyPrefix: 'a{b}' })).rejects.toThrow(/keyPrefix/);
    } finally {
      await s.stop();
    }
  });

  it('WAIT: with replicas 1 and no replica an outcome fails with a clear error; with a replica it is acknowledged', async () => {
    const primary = await startRedis({ appendfsync: 'everysec', args: ['--repl-diskless-sync-delay', '0'] });
    let replica: RedisServer | null = null;
    try {
      const l = await RedisLedger.open(primary.url, { replicas: 1, waitTimeoutMs: 200 });
      try {
        const t = await RedisLedger.open(primary.url).then(async (plain) => {
          try {
            return await plain.createTask(spec(), plans(3), 0);
          } finally {
            await plain.close();
          }
        });
        const [a, b] = await l.claim({ worker: 'w', task: t.id, max: 2, leaseMs: 60_000, now: 0 });
        const error = await l.finish(a!.range.key, a!.token, 0).then(
          () => null,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(RedisLedgerReplicationError);
        expect(String(error)).toMatch(/finish .*: recorded on the Redis primary but WAIT confirmed 0 of 1 replica\(s\) within 200 ms — not acknowledged/);
        expect((await l.getRange(a!.range.key))!.state).toBe('finished');
        // The retry is a duplicate, and still not acknowledged without a replica.
        await expect(l.finish(a!.range.key, a!.token, 0)).rejects.toBeInstanceOf(RedisLedgerReplicationError);

        // (No AOF on the replica: its post-sync AOF rewrite would hold up its shutdown.)
        replica = await startRedis({ args: ['--appendonly', 'no', '--replicaof', '127.0.0.1', String(primary.port)] });
        const rc = replica.client();
        try {
          // Online in the primary's eyes (WAIT counts only those): after its first ACK following the sync.
          const pc = primary.client();
          try {
            for (let i = 0; !/slave0:.*state=online/.test((await pc.call('INFO', 'replication')) as string); i++) {
              if (i > 200) throw new Error('the replica never came online');
              await sleep(25);
            }
          } finally {
            pc.disconnect();
          }
          // The retry after the replica came, through another node (another connection, a patient
          // WAIT): a duplicate, acknowledged — its marker write makes WAIT cover the original finish.
          const l2 = await RedisLedger.open(primary.url, { replicas: 1, waitTimeoutMs: 10_000 });
          try {
            expect(await l2.finish(a!.range.key, a!.token, 0)).toMatchObject({ kind: 'duplicate' });
            expect(await l2.finish(b!.range.key, b!.token, 0)).toMatchObject({ kind: 'ok' });
          } finally {
            await l2.close();
          }
          const json = await rc.hget(taskKeys('ess', t.id).ranges, b!.range.key.slice(String(t.id).length + 1));
          expect(JSON.parse(json!)).toMatchObject({ state: 'finished', outcome: 'finished' });
        } finally {
          rc.disconnect();
        }
      } finally {
        await l.close();
      }
    } finally {
      await replica?.stop();
      await primary.stop();
    }
  }, 20_000);

  it('creates a task of 10,000 ranges quickly; a refused plan writes nothing', async () => {
    const l = await ledger();
    const t0 = performance.now();
    const t = await l.createTask(spec(), plans(10_000), 0);
    const ms = performance.now() - t0;
    expect(ms).toBeLessThan(2_000);
    expect(t).toMatchObject({ rangesTotal: 10_000, eventsTotal: 100_000 });
    expect((await l.progress(t.id))!.ranges.ready).toBe(10_000);
    const leases = await l.claim({ worker: 'w', task: null, max: 600, leaseMs: 100, now: 0 });
    expect(leases.map((x) => x.range.key).slice(0, 3)).toEqual([0, 1, 2].map((i) => `${t.id}-0-${i}`));
    expect(leases).toHaveLength(600);
    expect(new Set(leases.map((x) => x.token)).size).toBe(600);
    const rs = await l.ranges(t.id);
    expect(rs).toHaveLength(10_000);
    expect(rs[9_999]!.key).toBe(`${t.id}-9-999`);
    await expect(l.createTask(spec(), [...plans(3), ...plans(1)], 0)).rejects.toThrow(/planned twice/);
    expect((await l.listTasks()).map((x) => x.id)).toEqual([t.id]);
    expect(await admin.get(globalKeys(l.prefix).seq)).toBe(String(t.id));
    const c0 = performance.now();
    await l.cancelTask(t.id);
    expect(performance.now() - c0).toBeLessThan(2_000);
    await expectIndexesExact(admin, l.prefix, t.id);
  });

  it('claim+finish rate beside SQLite (reported, not asserted)', async () => {
    const n = 200;
    const rate = async (l: Ledger): Promise<number> => {
      const t = await l.createTask(spec(), plans(n), 0);
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        const [x] = await l.claim({ worker: 'w', task: null, max: 1, leaseMs: 60_000, now: Date.now() });
        await l.finish(x!.range.key, x!.token, Date.now());
      }
      return Math.round(n / ((performance.now() - t0) / 1000));
    };
    const dir = mkdtempSync(join(tmpdir(), 'ess-rate-'));
    const everysec = await startRedis({ appendfsync: 'everysec' });
    try {
      const sqlite = SqliteLedger.open(join(dir, 'l.db'));
      const sqliteFull = SqliteLedger.open(join(dir, 'full.db'), { synchronous: 'full' });
      const r1 = await ledger();
      const r2 = await RedisLedger.open(everysec.url);
      const rates = {
        'sqlite (synchronous normal)': await rate(sqlite),
        'sqlite (synchronous full)': await rate(sqliteFull),
        'redis (appendfsync always)': await rate(r1),
        'redis (appendfsync everysec)': await rate(r2),
      };
      await Promise.all([sqlite.close(), sqliteFull.close(), r2.close()]);
      console.log(`claim+finish pairs per second, one caller, ${n} ranges: ${JSON.stringify(rates)}`);
      for (const v of Object.values(rates)) expect(v).toBeGreaterThan(0);
    } finally {
      await everysec.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('key layout: every task key carries its task hash tag; ledger keys share one slot; keySlot agrees with CLUSTER KEYSLOT', async () => {
    const l = await ledger({ clock: 'caller' });
    const t1 = await l.createTask(spec(), plans(4), 0);
    const t2 = await l.createTask(spec({ priority: 2 }), plans(3), 0);
    const ls = await l.claim({ worker: 'w{odd}', task: null, max: 5, leaseMs: 100, now: 0 });
    await l.start(ls[0]!.range.key, ls[0]!.token);
    await l.fail(ls[1]!.range.key, ls[1]!.token, { eventsDone: 1, message: 'x', retryDelayMs: 1000, now: 0 });
    await l.finish(ls[2]!.range.key, ls[2]!.token, 0);
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await admin.scan(cursor, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch.filter((k) => k.startsWith(`{${l.prefix}}`) || k.startsWith(`{${l.prefix}:`) || k.startsWith(`${l.prefix}:`)));
    } while (cursor !== '0');
    const g = globalKeys(l.prefix);
    const perTask = (id: number): string[] => Object.values(taskKeys(l.prefix, id));
    // (An empty set is no key in Redis: t1 has no failed range, t2 no ready one left.)
    const layout = [...Object.values(g), ...perTask(t1.id), ...perTask(t2.id), workerKey(l.prefix, 'w{odd}')];
    expect(keys.sort()).toEqual(layout.filter((k) => !k.endsWith(`t${t1.id}}:retry`) && !k.endsWith(`t${t2.id}}:ready`)).sort());
    for (const id of [t1.id, t2.id]) {
      const slot = keySlot(taskTag(l.prefix, id));
      for (const key of perTask(id)) {
        expect(key.startsWith(taskTag(l.prefix, id))).toBe(true);
        expect(keySlot(key), key).toBe(slot);
      }
    }
    expect(new Set(Object.values(g).map(keySlot)).size).toBe(1);
    // The CRC16 helper against Redis itself (CLUSTER KEYSLOT needs cluster mode).
    const cluster = await (clusterServer ??= startRedis({ cluster: true, appendfsync: 'everysec' }));
    const c = cluster.client();
    try {
      for (const key of [...keys, 'plain', '{}x', 'a{}{b}', '{user1000}.following', 'foo{bar}{zap}', 'ünïcødé{ø}']) {
        expect(keySlot(key), key).toBe(Number(await c.call('CLUSTER', 'KEYSLOT', key)));
      }
    } finally {
      c.disconnect();
    }
  });

  it('cluster safety: every key a script touches is one of its declared keys, all in the task slot (MONITOR on a cluster-mode Redis)', async () => {
    const cluster = await (clusterServer ??= startRedis({ cluster: true, appendfsync: 'everysec' }));
    const watcher = cluster.client();
    const mon = await watcher.monitor();
    const seen: { args: string[]; source: string }[] = [];
    mon.on('monitor', (_time: string, args: string[], source: string) => seen.push({ args, source }));
    const l = await RedisLedger.open(cluster.url, { keyPrefix: 'slots', clock: 'caller' });
    try {
      const t1 = await l.createTask(spec({ attempts: 2 }), plans(6), 0);
      const t2 = await l.createTask(spec({ priority: 1 }), plans(2), 0);
      const ls = await l.claim({ worker: 'w', task: null, max: 6, leaseMs: 100, now: 0 });
      await l.start(ls[0]!.range.key, ls[0]!.token);
      await l.finish(ls[0]!.range.key, ls[0]!.token, 0);
      await l.finish(ls[0]!.range.key, ls[0]!.token, 0);
      await l.fail(ls[1]!.range.key, ls[1]!.token, { eventsDone: 1, message: 'x', retryDelayMs: 10, now: 0 });
      await l.release(ls[2]!.range.key, ls[2]!.token, true, 'r');
      await l.peek(null, 10);
      await l.renew('w', 100, 50);
      await l.heldBy('w');
      await l.reap(1000);
      await l.cancelTask(t1.id);
      await l.finish(ls[3]!.range.key, ls[3]!.token, 0);
      expect((await l.getTask(t1.id))!.state).toBe('cancelled');
      expect((await l.getTask(t2.id))!.state).toBe('active');
      await sleep(100);
    } finally {
      await l.close();
      mon.disconnect();
      watcher.disconnect();
    }
    let declared: string[] | null = null;
    let scripts = 0;
    let inside = 0;
    for (const { args, source } of seen) {
      const cmd = args[0]!.toLowerCase();
      if (source !== 'lua') {
        declared = null;
        if (cmd === 'evalsha' || cmd === 'eval') {
          declared = args.slice(3, 3 + Number(args[2]));
          scripts++;
          expect(new Set(declared.map(keySlot)).size, `declared keys of one script share a slot: ${declared.join(' ')}`).toBe(1);
        }
        continue;
      }
      inside++;
      expect(declared, `a script command outside a script: ${args.join(' ')}`).not.toBeNull();
      if (cmd === 'time') continue;
      expect(declared, `${args.join(' ')} touches a key it did not declare`).toContain(args[1]);
    }
    expect(scripts).toBeGreaterThan(10);
    expect(inside).toBeGreaterThan(50);
  });
});

// ---- the contract once more, on Redis in cluster mode (refuses cross-slot keys and transactions) ----

let clusterPrefixes = 0;
afterAll(async () => (clusterServer ? (await clusterServer).stop() : undefined));
describeLedgerContract('RedisLedger on a one-node Redis Cluster', async () => {
  clusterServer ??= startRedis({ cluster: true, appendfsync: 'everysec' });
  const s = await clusterServer;
  const l = await RedisLedger.open(s.url, { keyPrefix: `c${++clusterPrefixes}`, clock: 'caller' });
  return { ledger: l, close: () => l.close() };
});
