/**
 * The behavioural contract of a Ledger, implementation-neutral: run it for every implementation
 * (memory, SQLite, later Redis) with `describeLedgerContract(name, open)`.
 *
 * Neutral means: task ids are whatever `createTask` returns (keys and eventRangeIDs are derived
 * from them), tokens are only compared for identity (random, never reused), and collections
 * whose order the interface does not promise (`heldBy`, `reap`, `listTasks`) are compared sorted.
 * Claim/peek order and `ranges()` (planning) order are part of the contract.
 *
 * The last test is a model test: random operation sequences applied to the ledger under test and
 * to a fresh MemoryLedger (the reference) must give the same outcomes, states and counts at every
 * step, while no range is ever finished twice, no terminal state (of a range or a task) ever
 * changes, and every range's `outcome` fits its state.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { RangeState, TERMINAL_STATES, TaskStateName } from '@ess/protocol';
import { MemoryLedger } from '../src/dispatch/MemoryLedger.js';
import {
  LedgerError,
  type Lease,
  type Ledger,
  type LedgerOutcome,
  type RangeOutcome,
  type RangePlan,
  type RangeRecord,
  type ReapResult,
  type TaskRecord,
  type TaskSpec,
} from '../src/dispatch/Ledger.js';

export type OpenLedger = () => Promise<{ ledger: Ledger; close(): Promise<void> }>;

const spec = (o: Partial<TaskSpec> = {}): TaskSpec => ({ dataset: 's:n', rangeSize: 10, attempts: 2, priority: 0, label: '', ...o });
const plans = (n: number, file = 0): RangePlan[] =>
  Array.from({ length: n }, (_, i) => ({ file, index: i, scope: 's', LFN: `f${file}`, GUID: 'g', startEvent: i * 10, lastEvent: i * 10 + 9 }));
const TOKEN = /^[\w-]{16}$/;

async function claimOne(l: Ledger, task: number | null, worker = 'w', now = 0, leaseMs = 1000): Promise<Lease> {
  const [lease] = await l.claim({ worker, task, max: 1, leaseMs, now });
  if (!lease) throw new Error('nothing to claim');
  return lease;
}

const keysOf = (xs: readonly { key: string }[]): string[] => xs.map((x) => x.key);
/** The keys of the ranges a reap moved, sorted (reap promises no order). */
const reapedKeys = (r: ReapResult): string[] => keysOf(r.released).sort();
const NOTHING_REAPED: ReapResult = { released: [], completed: [] };

/** Expects `p` to reject with a LedgerError of code `invalid`. */
async function refused(p: Promise<unknown>): Promise<void> {
  const error: unknown = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error, 'refused with a LedgerError').toBeInstanceOf(LedgerError);
  expect((error as LedgerError).code).toBe('invalid');
}
const leaseKeys = (xs: readonly Lease[]): string[] => xs.map((x) => x.range.key);

export function describeLedgerContract(name: string, open: OpenLedger): void {
  /** Each test gets a fresh ledger, closed afterwards whatever happens. */
  const test = (title: string, body: (l: Ledger) => Promise<void>, timeout?: number): void => {
    it(
      title,
      async () => {
        const h = await open();
        try {
          await body(h.ledger);
        } finally {
          await h.close();
        }
      },
      timeout,
    );
  };

  describe(`${name} — ledger contract`, () => {
    // ---- tasks ----------------------------------------------------------------------------------

    test('creates a task: its record, its ranges in planning order with their initial fields, increasing ids', async (l) => {
      const t = await l.createTask(spec({ label: 'a', priority: 3 }), [...plans(2, 0), ...plans(1, 1)], 1234);
      expect(t).toEqual({
        id: t.id,
        spec: { dataset: 's:n', rangeSize: 10, attempts: 2, priority: 3, label: 'a' },
        createdAt: 1234,
        state: 'active',
        rangesTotal: 3,
        eventsTotal: 30,
      });
      expect(await l.getTask(t.id)).toEqual(t);
      const u = await l.createTask(spec(), plans(1), 1235);
      expect(u.id).toBeGreaterThan(t.id);
      expect((await l.listTasks()).map((x) => x.id).sort((a, b) => a - b)).toEqual([t.id, u.id]);

      const rs = await l.ranges(t.id);
      expect(keysOf(rs)).toEqual([`${t.id}-0-0`, `${t.id}-0-1`, `${t.id}-1-0`]);
      expect(rs[2]).toEqual({
        task: t.id,
        file: 1,
        index: 0,
        key: `${t.id}-1-0`,
        scope: 's',
        LFN: 'f1',
        GUID: 'g',
        startEvent: 0,
        lastEvent: 9,
        state: 'ready',
        attempt: 0,
        attemptsLeft: 2,
        worker: null,
        token: null,
        leaseUntil: null,
        retryAt: null,
        eventsDone: 0,
        message: null,
        outcome: null,
      });
      for (const r of rs) expect(await l.getRange(r.key)).toEqual(r);
      expect(await l.progress(t.id)).toEqual({
        ranges: { ready: 3, assigned: 0, running: 0, finished: 0, failed: 0, fatal: 0, cancelled: 0 },
        eventsDone: 0,
      });
    });

    test('a task with zero ranges is complete at once and hands nothing out', async (l) => {
      const t = await l.createTask(spec(), [], 0);
      expect(t).toMatchObject({ state: 'complete', rangesTotal: 0, eventsTotal: 0 });
      expect((await l.getTask(t.id))!.state).toBe('complete');
      expect(await l.claim({ worker: 'w', task: t.id, max: 5, leaseMs: 100, now: 0 })).toEqual([]);
      expect(await l.claim({ worker: 'w', task: null, max: 5, leaseMs: 100, now: 0 })).toEqual([]);
      expect(await l.peek(t.id, 5)).toEqual([]);
      expect(await l.ranges(t.id)).toEqual([]);
      expect(await l.progress(t.id)).toEqual({
        ranges: { ready: 0, assigned: 0, running: 0, finished: 0, failed: 0, fatal: 0, cancelled: 0 },
        eventsDone: 0,
      });
    });

    test('unknown ids and keys: null, empty, or `unknown`', async (l) => {
      const t = await l.createTask(spec(), plans(1), 0);
      const missing = t.id + 1000;
      expect(await l.getTask(missing)).toBeNull();
      expect(await l.progress(missing)).toBeNull();
      expect(await l.cancelTask(missing)).toBeNull();
      expect(await l.ranges(missing)).toEqual([]);
      expect(await l.claim({ worker: 'w', task: missing, max: 1, leaseMs: 100, now: 0 })).toEqual([]);
      expect(await l.peek(missing, 1)).toEqual([]);
      for (const key of ['nope', `${t.id}-9-9`, `${missing}-0-0`]) {
        expect(await l.getRange(key)).toBeNull();
        expect(await l.start(key, 'x')).toEqual({ kind: 'unknown' });
        expect(await l.finish(key, 'x', 0)).toEqual({ kind: 'unknown' });
        expect(await l.fail(key, 'x', { eventsDone: 0, message: 'm', retryDelayMs: 0, now: 0 })).toEqual({ kind: 'unknown' });
        expect(await l.release(key, 'x', true, 'r')).toEqual({ kind: 'unknown' });
      }
      expect(await l.heldBy('nobody')).toEqual([]);
      expect(await l.renew('nobody', 100, 0)).toBe(0);
    });

    // ---- claiming -------------------------------------------------------------------------------

    test('claims in order under fresh random tokens and encodes the attempt in the eventRangeID', async (l) => {
      const t = await l.createTask(spec(), plans(3), 0);
      const a = await l.claim({ worker: 'w', task: t.id, max: 2, leaseMs: 1000, now: 0 });
      expect(a.map((x) => x.eventRangeID)).toEqual([`${t.id}-0-0-1`, `${t.id}-0-1-1`]);
      expect(new Set(a.map((x) => x.token)).size).toBe(2);
      for (const x of a) {
        expect(x.token).toMatch(TOKEN);
        expect(x.leaseUntil).toBe(1000);
        expect(x.range).toMatchObject({ state: 'assigned', attempt: 1, attemptsLeft: 2, worker: 'w', token: x.token, leaseUntil: 1000, retryAt: null });
        expect(await l.getRange(x.range.key)).toEqual(x.range);
      }
      expect((await l.progress(t.id))!.ranges).toMatchObject({ ready: 1, assigned: 2 });
    });

    test('claim with task null goes across tasks by priority, then age, each in planning order', async (l) => {
      const t1 = await l.createTask(spec({ priority: 0 }), plans(2), 0);
      const t2 = await l.createTask(spec({ priority: 5 }), plans(2), 0);
      const t3 = await l.createTask(spec({ priority: 5 }), [...plans(1, 0), ...plans(1, 1)], 0);
      const t4 = await l.createTask(spec({ priority: -1 }), plans(1), 0);
      const expected = [`${t2.id}-0-0`, `${t2.id}-0-1`, `${t3.id}-0-0`, `${t3.id}-1-0`, `${t1.id}-0-0`, `${t1.id}-0-1`, `${t4.id}-0-0`];
      expect(keysOf(await l.peek(null, 10))).toEqual(expected);
      expect(keysOf(await l.peek(null, 3))).toEqual(expected.slice(0, 3));
      const first = await l.claim({ worker: 'w', task: null, max: 3, leaseMs: 100, now: 0 });
      expect(leaseKeys(first)).toEqual(expected.slice(0, 3));
      const rest = await l.claim({ worker: 'w', task: null, max: 10, leaseMs: 100, now: 0 });
      expect(leaseKeys(rest)).toEqual(expected.slice(3));
      expect(await l.claim({ worker: 'w', task: null, max: 1, leaseMs: 100, now: 0 })).toEqual([]);
    });

    test('claim for one task takes only from it; max 0 claims nothing', async (l) => {
      const t1 = await l.createTask(spec({ priority: 0 }), plans(2), 0);
      await l.createTask(spec({ priority: 9 }), plans(2), 0);
      expect(await l.claim({ worker: 'w', task: t1.id, max: 0, leaseMs: 100, now: 0 })).toEqual([]);
      expect(await l.claim({ worker: 'w', task: null, max: 0, leaseMs: 100, now: 0 })).toEqual([]);
      expect(await l.peek(null, 0)).toEqual([]);
      const got = await l.claim({ worker: 'w', task: t1.id, max: 5, leaseMs: 100, now: 0 });
      expect(leaseKeys(got)).toEqual([`${t1.id}-0-0`, `${t1.id}-0-1`]);
      expect(keysOf(await l.peek(t1.id, 5))).toEqual([]);
      expect(await l.claim({ worker: 'w', task: t1.id, max: 5, leaseMs: 100, now: 0 })).toEqual([]);
    });

    test('peek shows what claim would hand out, without claiming', async (l) => {
      const t = await l.createTask(spec(), plans(4), 0);
      const before = await l.peek(t.id, 2);
      expect(before.map((r) => r.state)).toEqual(['ready', 'ready']);
      expect(await l.peek(t.id, 2)).toEqual(before);
      expect((await l.progress(t.id))!.ranges.ready).toBe(4);
      const got = await l.claim({ worker: 'w', task: t.id, max: 2, leaseMs: 100, now: 0 });
      expect(leaseKeys(got)).toEqual(keysOf(before));
    });

    test('a range back in ready is claimed again in planning order, not release order; failed ranges wait', async (l) => {
      const t = await l.createTask(spec({ attempts: 3 }), plans(4), 0);
      const [a, b, c] = await l.claim({ worker: 'w', task: t.id, max: 3, leaseMs: 100, now: 0 });
      await l.release(c!.range.key, c!.token, false, 'later');
      await l.release(a!.range.key, a!.token, false, 'first');
      await l.fail(b!.range.key, b!.token, { eventsDone: 0, message: 'x', retryDelayMs: 1000, now: 0 });
      const again = await l.claim({ worker: 'v', task: t.id, max: 5, leaseMs: 100, now: 10 });
      expect(leaseKeys(again)).toEqual([a!.range.key, c!.range.key, `${t.id}-0-3`]);
      expect(again[0]!.eventRangeID).toBe(`${t.id}-0-0-2`);
      expect(again[0]!.token).not.toBe(a!.token);
      expect((await l.getRange(b!.range.key))!.state).toBe('failed');
    });

    test('the attempt number counts claims: 1, 2, 3 across releases and failures', async (l) => {
      const t = await l.createTask(spec({ attempts: 5 }), plans(1), 0);
      const a = await claimOne(l, t.id);
      await l.release(a.range.key, a.token, false, 'x');
      const b = await claimOne(l, t.id);
      await l.fail(b.range.key, b.token, { eventsDone: 0, message: 'y', retryDelayMs: 0, now: 0 });
      const c = await claimOne(l, t.id);
      expect([a, b, c].map((x) => x.eventRangeID)).toEqual([`${t.id}-0-0-1`, `${t.id}-0-0-2`, `${t.id}-0-0-3`]);
      expect(c.range).toMatchObject({ attempt: 3, attemptsLeft: 4 });
      expect(new Set([a.token, b.token, c.token]).size).toBe(3);
    });

    test('priorities: higher first, negative last, ties by age; a cancelled task is skipped', async (l) => {
      const low = await l.createTask(spec({ priority: -3 }), plans(1), 0);
      const mid = await l.createTask(spec({ priority: 1 }), plans(1), 0);
      const high = await l.createTask(spec({ priority: 7 }), plans(1), 0);
      const mid2 = await l.createTask(spec({ priority: 1 }), plans(1), 0);
      expect((await l.peek(null, 10)).map((r) => r.task)).toEqual([high.id, mid.id, mid2.id, low.id]);
      await l.cancelTask(high.id);
      expect((await l.peek(null, 10)).map((r) => r.task)).toEqual([mid.id, mid2.id, low.id]);
      expect((await claimOne(l, null)).range.task).toBe(mid.id);
    });

    // ---- reports --------------------------------------------------------------------------------

    test('finish is retry-safe: the same token again is a duplicate, another token is fenced', async (l) => {
      const t = await l.createTask(spec(), plans(1), 0);
      const lease = await claimOne(l, t.id);
      const first = await l.finish(lease.range.key, lease.token, 1);
      expect(first).toMatchObject({ kind: 'ok', taskComplete: true, range: { state: 'finished', eventsDone: 10, worker: null, leaseUntil: null } });
      expect(await l.finish(lease.range.key, lease.token, 2)).toMatchObject({ kind: 'duplicate', range: { state: 'finished' } });
      expect((await l.finish(lease.range.key, 'stale', 2)).kind).toBe('fenced');
      expect((await l.finish('9-9-9', 'x', 2)).kind).toBe('unknown');
      expect((await l.getTask(t.id))!.state).toBe('complete');
      expect(await l.progress(t.id)).toEqual({
        ranges: { ready: 0, assigned: 0, running: 0, finished: 1, failed: 0, fatal: 0, cancelled: 0 },
        eventsDone: 10,
      });
    });

    test('start: assigned → running, again a duplicate; finish from running', async (l) => {
      const t = await l.createTask(spec(), plans(2), 0);
      const a = await claimOne(l, t.id);
      expect(await l.start(a.range.key, a.token)).toMatchObject({ kind: 'ok', taskComplete: false, range: { state: 'running', worker: 'w' } });
      expect(await l.start(a.range.key, a.token)).toMatchObject({ kind: 'duplicate', range: { state: 'running' } });
      expect((await l.start(a.range.key, 'stale')).kind).toBe('fenced');
      expect((await l.progress(t.id))!.ranges).toMatchObject({ running: 1, ready: 1 });
      expect(await l.finish(a.range.key, a.token, 5)).toMatchObject({ kind: 'ok', taskComplete: false, range: { state: 'finished' } });
      // A late `running` after the finish does not reopen anything.
      expect((await l.start(a.range.key, a.token)).kind).toBe('fenced');
      expect((await l.getRange(a.range.key))!.state).toBe('finished');
    });

    test('duplicates: the same token repeating a recorded outcome changes nothing', async (l) => {
      const t = await l.createTask(spec({ attempts: 3 }), plans(3), 0);
      const [a, b, c] = await l.claim({ worker: 'w', task: t.id, max: 3, leaseMs: 1000, now: 0 });
      // After finish.
      await l.finish(a!.range.key, a!.token, 1);
      expect((await l.finish(a!.range.key, a!.token, 2)).kind).toBe('duplicate');
      expect((await l.fail(a!.range.key, a!.token, { eventsDone: 0, message: 'late', retryDelayMs: 0, now: 2 })).kind).toBe('fenced');
      expect((await l.release(a!.range.key, a!.token, true, 'late')).kind).toBe('fenced');
      expect(await l.getRange(a!.range.key)).toMatchObject({ state: 'finished', eventsDone: 10, attemptsLeft: 3, message: null });
      // After fail (waiting for its retry).
      const failure = { eventsDone: 2, message: 'boom', retryDelayMs: 500, now: 1 };
      expect((await l.fail(b!.range.key, b!.token, failure)).kind).toBe('ok');
      const failed = await l.getRange(b!.range.key);
      expect(await l.fail(b!.range.key, b!.token, failure)).toMatchObject({ kind: 'duplicate', range: failed! });
      expect(await l.getRange(b!.range.key)).toEqual(failed);
      expect(failed).toMatchObject({ state: 'failed', attemptsLeft: 2, eventsDone: 2, startEvent: 12, retryAt: 501 });
      expect((await l.finish(b!.range.key, b!.token, 2)).kind).toBe('fenced');
      // After a fail that made the range fatal.
      await l.release(c!.range.key, c!.token, true, 'x');
      const c2 = await claimOne(l, t.id, 'w', 2);
      await l.release(c2.range.key, c2.token, false, 'y');
      const c3 = await claimOne(l, t.id, 'w', 3);
      expect(c3.range).toMatchObject({ key: c!.range.key, attemptsLeft: 2 });
      await l.fail(c3.range.key, c3.token, failure);
      expect((await l.fail(c3.range.key, c3.token, failure)).kind).toBe('duplicate');
      const c4 = await l.reap(501).then(() => claimOne(l, t.id, 'w', 502));
      expect(c4.range.key).toBe(b!.range.key);
      const c5 = await claimOne(l, t.id, 'w', 502);
      expect(c5.range).toMatchObject({ key: c!.range.key, attemptsLeft: 1 });
      expect((await l.fail(c5.range.key, c5.token, failure)).kind).toBe('ok');
      expect(await l.getRange(c5.range.key)).toMatchObject({ state: 'fatal', attemptsLeft: 0 });
      expect(await l.fail(c5.range.key, c5.token, failure)).toMatchObject({ kind: 'duplicate', range: { state: 'fatal' } });
      expect((await l.progress(t.id))!.ranges).toMatchObject({ finished: 1, fatal: 1, assigned: 1 });
    });

    test('fenced: a stale token after a re-claim moves nothing', async (l) => {
      const t = await l.createTask(spec({ attempts: 3 }), plans(2), 0);
      const a = await claimOne(l, t.id, 'w1', 0, 100);
      await l.start(a.range.key, a.token);
      expect(reapedKeys(await l.reap(100))).toEqual([a.range.key]);
      const b = await claimOne(l, t.id, 'w2', 100, 100);
      expect(b.range.key).toBe(a.range.key);
      expect(b.eventRangeID).toBe(`${t.id}-0-0-2`);
      const current = await l.getRange(a.range.key);
      expect(current).toMatchObject({ state: 'assigned', worker: 'w2', attempt: 2, attemptsLeft: 2, token: b.token });
      for (const o of [
        await l.start(a.range.key, a.token),
        await l.finish(a.range.key, a.token, 150),
        await l.fail(a.range.key, a.token, { eventsDone: 5, message: 'late', retryDelayMs: 0, now: 150 }),
        await l.release(a.range.key, a.token, true, 'late'),
      ]) {
        expect(o).toEqual({ kind: 'fenced', range: current });
      }
      expect(await l.getRange(a.range.key)).toEqual(current);
      // Tokens of other ranges, and of a range never claimed, are fenced too.
      expect((await l.finish(`${t.id}-0-1`, b.token, 150)).kind).toBe('fenced');
      expect((await l.start(`${t.id}-0-1`, 'anything')).kind).toBe('fenced');
      expect((await l.getRange(`${t.id}-0-1`))!.state).toBe('ready');
      expect((await l.finish(b.range.key, b.token, 150)).kind).toBe('ok');
    });

    test('a released range comes back with one attempt fewer, a new attempt number and token; at zero it is fatal', async (l) => {
      const t = await l.createTask(spec({ attempts: 2 }), plans(1), 0);
      const a = await claimOne(l, t.id, 'w1');
      expect((await l.release(a.range.key, a.token, true, 'gone')).kind).toBe('ok');
      expect(await l.getRange(a.range.key)).toMatchObject({ state: 'ready', attemptsLeft: 1, attempt: 1, worker: null, leaseUntil: null, message: 'gone' });
      const b = await claimOne(l, t.id, 'w2');
      expect(b.eventRangeID).toBe(`${t.id}-0-0-2`);
      expect(b.token).not.toBe(a.token);
      // The first holder's late report is fenced.
      expect((await l.finish(a.range.key, a.token, 0)).kind).toBe('fenced');
      const last = await l.release(b.range.key, b.token, true, 'gone again');
      expect(last).toMatchObject({ kind: 'ok', taskComplete: true });
      expect(await l.getRange(b.range.key)).toMatchObject({ state: 'fatal', attemptsLeft: 0, worker: null, leaseUntil: null, message: 'gone again' });
      expect((await l.getTask(t.id))!.state).toBe('complete');
    });

    test('release without consuming an attempt keeps the count, from assigned and from running', async (l) => {
      const t = await l.createTask(spec({ attempts: 1 }), plans(1), 0);
      const a = await claimOne(l, t.id);
      expect(await l.release(a.range.key, a.token, false, 'shutdown')).toMatchObject({ kind: 'ok', taskComplete: false, range: { state: 'ready' } });
      expect(await l.getRange(a.range.key)).toMatchObject({ state: 'ready', attemptsLeft: 1, message: 'shutdown' });
      const b = await claimOne(l, t.id);
      await l.start(b.range.key, b.token);
      await l.release(b.range.key, b.token, false, 'left before delivery');
      expect(await l.getRange(a.range.key)).toMatchObject({ state: 'ready', attemptsLeft: 1, attempt: 2 });
      // A release repeated with the same token is a duplicate and changes nothing.
      expect(await l.release(b.range.key, b.token, true, 'again')).toMatchObject({ kind: 'duplicate', range: { state: 'ready', attemptsLeft: 1, message: 'left before delivery' } });
      const c = await claimOne(l, t.id);
      await l.start(c.range.key, c.token);
      expect((await l.release(c.range.key, c.token, true, 'worker vanished')).kind).toBe('ok');
      expect(await l.getRange(c.range.key)).toMatchObject({ state: 'fatal', attemptsLeft: 0 });
      expect((await l.getTask(t.id))!.state).toBe('complete');
    });

    test('keeps partial progress of a failure and retries only the rest, after the retry delay', async (l) => {
      const t = await l.createTask(spec({ attempts: 3 }), plans(1), 0);
      const a = await claimOne(l, t.id);
      const o = await l.fail(a.range.key, a.token, { eventsDone: 4, message: 'segfault', retryDelayMs: 500, now: 100 });
      expect(o).toMatchObject({ kind: 'ok', taskComplete: false });
      const r = (await l.getRange(a.range.key))!;
      expect(r).toMatchObject({ state: 'failed', startEvent: 4, lastEvent: 9, eventsDone: 4, attemptsLeft: 2, message: 'segfault', retryAt: 600, worker: null, leaseUntil: null });
      expect(await l.claim({ worker: 'w', task: t.id, max: 1, leaseMs: 1000, now: 200 })).toEqual([]);
      expect(await l.reap(599)).toEqual(NOTHING_REAPED);
      expect((await l.getRange(a.range.key))!.state).toBe('failed');
      expect(await l.reap(600)).toEqual({ released: [{ ...r, state: 'ready', retryAt: null }], completed: [] });
      const [b] = await l.claim({ worker: 'w', task: t.id, max: 1, leaseMs: 1000, now: 700 });
      expect(b!.range).toMatchObject({ startEvent: 4, attempt: 2 });
      expect(await l.finish(b!.range.key, b!.token, 800)).toMatchObject({ kind: 'ok', taskComplete: true, range: { eventsDone: 10, startEvent: 4 } });
      expect((await l.progress(t.id))!.eventsDone).toBe(10);
    });

    test('fail with eventsDone covering the whole span finishes the range; beyond it is clamped; zero counts nothing', async (l) => {
      const t = await l.createTask(spec({ attempts: 3 }), plans(4), 0);
      const [a, b, c, d] = await l.claim({ worker: 'w', task: t.id, max: 4, leaseMs: 1000, now: 0 });
      const whole = await l.fail(a!.range.key, a!.token, { eventsDone: 10, message: 'noticed late', retryDelayMs: 50, now: 1 });
      expect(whole).toMatchObject({ kind: 'ok', taskComplete: false });
      expect(await l.getRange(a!.range.key)).toMatchObject({ state: 'finished', eventsDone: 10, startEvent: 0, attemptsLeft: 3, worker: null, leaseUntil: null, retryAt: null, message: 'noticed late' });
      expect((await l.fail(b!.range.key, b!.token, { eventsDone: 25, message: 'over', retryDelayMs: 50, now: 1 })).kind).toBe('ok');
      expect(await l.getRange(b!.range.key)).toMatchObject({ state: 'finished', eventsDone: 10, attemptsLeft: 3 });
      expect((await l.fail(c!.range.key, c!.token, { eventsDone: 0, message: 'none', retryDelayMs: 50, now: 1 })).kind).toBe('ok');
      expect(await l.getRange(c!.range.key)).toMatchObject({ state: 'failed', eventsDone: 0, startEvent: 20, attemptsLeft: 2, retryAt: 51 });
      // The rest of a partly done range, done in full on the next attempt's failure.
      await l.fail(d!.range.key, d!.token, { eventsDone: 3, message: 'p', retryDelayMs: 0, now: 1 });
      const d2 = await l.claim({ worker: 'w', task: t.id, max: 1, leaseMs: 1000, now: 2 });
      expect(d2[0]!.range).toMatchObject({ key: d!.range.key, startEvent: 33, eventsDone: 3 });
      const last = await l.fail(d!.range.key, d2[0]!.token, { eventsDone: 7, message: 'q', retryDelayMs: 0, now: 3 });
      expect(last).toMatchObject({ kind: 'ok', taskComplete: false });
      expect(await l.getRange(d!.range.key)).toMatchObject({ state: 'finished', eventsDone: 10, startEvent: 33, attemptsLeft: 2 });
      expect(await l.progress(t.id)).toEqual({
        ranges: { ready: 0, assigned: 0, running: 0, finished: 3, failed: 1, fatal: 0, cancelled: 0 },
        eventsDone: 30,
      });
    });

    test('fail with no retry delay readies the range at once; attempts reaching zero make it fatal', async (l) => {
      const t = await l.createTask(spec({ attempts: 2 }), plans(1), 0);
      const a = await claimOne(l, t.id);
      expect(await l.fail(a.range.key, a.token, { eventsDone: 1, message: 'once', retryDelayMs: 0, now: 10 })).toMatchObject({
        kind: 'ok',
        taskComplete: false,
        range: { state: 'ready', retryAt: null, attemptsLeft: 1, startEvent: 1, eventsDone: 1 },
      });
      const b = await claimOne(l, t.id);
      const last = await l.fail(b.range.key, b.token, { eventsDone: 2, message: 'twice', retryDelayMs: 0, now: 20 });
      expect(last).toMatchObject({ kind: 'ok', taskComplete: true });
      expect(await l.getRange(a.range.key)).toMatchObject({ state: 'fatal', attemptsLeft: 0, startEvent: 3, eventsDone: 3, message: 'twice', worker: null, leaseUntil: null, retryAt: null });
      expect((await l.getTask(t.id))!.state).toBe('complete');
      expect(await l.progress(t.id)).toEqual({
        ranges: { ready: 0, assigned: 0, running: 0, finished: 0, failed: 0, fatal: 1, cancelled: 0 },
        eventsDone: 3,
      });
    });

    test('progress counts every state and the events done', async (l) => {
      const t = await l.createTask(spec({ attempts: 3 }), plans(6), 0);
      const [a, b, c, d, e] = await l.claim({ worker: 'w', task: t.id, max: 5, leaseMs: 1000, now: 0 });
      await l.finish(a!.range.key, a!.token, 1);
      await l.fail(b!.range.key, b!.token, { eventsDone: 3, message: 'x', retryDelayMs: 100, now: 1 });
      await l.start(c!.range.key, c!.token);
      await l.release(e!.range.key, e!.token, false, 'x');
      expect(d).toBeDefined();
      expect(await l.progress(t.id)).toEqual({
        ranges: { ready: 2, assigned: 1, running: 1, finished: 1, failed: 1, fatal: 0, cancelled: 0 },
        eventsDone: 13,
      });
    });

    // ---- leases ---------------------------------------------------------------------------------

    test('reaps lapsed leases, and renew keeps them alive', async (l) => {
      const t = await l.createTask(spec(), plans(2), 0);
      const [a, b] = await l.claim({ worker: 'w', task: t.id, max: 2, leaseMs: 100, now: 0 });
      expect(await l.renew('w', 100, 50)).toBe(2);
      expect(await l.reap(120)).toEqual(NOTHING_REAPED);
      const reaped = await l.reap(151);
      expect(reapedKeys(reaped)).toEqual([a!.range.key, b!.range.key].sort());
      expect(reaped.completed).toEqual([]);
      expect((await l.progress(t.id))!.ranges.ready).toBe(2);
    });

    test('reap: a lease lapses when its time is reached; one attempt fewer, then fatal; failed ranges come back when their retry time came', async (l) => {
      const t = await l.createTask(spec({ attempts: 2 }), plans(3), 0);
      const [a, b, c] = await l.claim({ worker: 'w', task: t.id, max: 3, leaseMs: 100, now: 0 });
      await l.start(b!.range.key, b!.token);
      await l.fail(c!.range.key, c!.token, { eventsDone: 0, message: 'x', retryDelayMs: 100, now: 0 });
      expect(await l.reap(99)).toEqual(NOTHING_REAPED);
      const first = await l.reap(100);
      expect(first.completed).toEqual([]);
      const reaped = first.released.sort((x, y) => x.key.localeCompare(y.key));
      expect(reaped).toEqual([await l.getRange(a!.range.key), await l.getRange(b!.range.key), await l.getRange(c!.range.key)]);
      for (const r of reaped.slice(0, 2)) {
        expect(r).toMatchObject({ state: 'ready', attempt: 1, attemptsLeft: 1, worker: null, leaseUntil: null, message: 'lease expired' });
      }
      expect(reaped[2]).toMatchObject({ state: 'ready', attemptsLeft: 1, retryAt: null, message: 'x' });
      expect(await l.reap(100)).toEqual(NOTHING_REAPED);
      // The last attempt lapses too: fatal, and the task is complete.
      const again = await l.claim({ worker: 'w', task: t.id, max: 3, leaseMs: 100, now: 200 });
      expect(again).toHaveLength(3);
      const last = await l.reap(300);
      expect(last.released.map((r) => r.state)).toEqual(['fatal', 'fatal', 'fatal']);
      expect(last.completed).toEqual([t.id]);
      expect((await l.getTask(t.id))!.state).toBe('complete');
      expect(await l.reap(1e12)).toEqual(NOTHING_REAPED);
    });

    test('renew extends exactly the leases the worker holds', async (l) => {
      const t = await l.createTask(spec(), plans(4), 0);
      const [a, b] = await l.claim({ worker: 'w', task: t.id, max: 2, leaseMs: 100, now: 0 });
      const [c] = await l.claim({ worker: 'v', task: t.id, max: 1, leaseMs: 100, now: 0 });
      await l.start(b!.range.key, b!.token);
      expect(await l.renew('w', 500, 99)).toBe(2);
      expect((await l.getRange(a!.range.key))!.leaseUntil).toBe(599);
      expect((await l.getRange(b!.range.key))!.leaseUntil).toBe(599);
      expect((await l.getRange(c!.range.key))!.leaseUntil).toBe(100);
      expect((await l.heldBy('w')).map((h) => h.leaseUntil)).toEqual([599, 599]);
      await l.finish(a!.range.key, a!.token, 200);
      expect(await l.renew('w', 500, 200)).toBe(1);
      expect(await l.renew('nobody', 500, 200)).toBe(0);
      // v's lease was not renewed: it lapsed at 100.
      expect(reapedKeys(await l.reap(650))).toEqual([c!.range.key]);
      expect(await l.reap(699)).toEqual(NOTHING_REAPED);
      expect(reapedKeys(await l.reap(700))).toEqual([b!.range.key]);
    });

    test('heldBy: the assigned and running leases of a worker across tasks, with their tokens', async (l) => {
      const t1 = await l.createTask(spec({ priority: 1 }), plans(3), 0);
      const t2 = await l.createTask(spec({ priority: 0 }), plans(2), 0);
      const claimed = await l.claim({ worker: 'w', task: null, max: 4, leaseMs: 100, now: 0 });
      const other = await l.claim({ worker: 'v', task: null, max: 1, leaseMs: 100, now: 0 });
      expect(leaseKeys(claimed)).toEqual([`${t1.id}-0-0`, `${t1.id}-0-1`, `${t1.id}-0-2`, `${t2.id}-0-0`]);
      const [a, b, c, d] = claimed;
      await l.start(b!.range.key, b!.token);
      await l.finish(c!.range.key, c!.token, 1);
      await l.release(d!.range.key, d!.token, false, 'x');
      const held = (await l.heldBy('w')).sort((x, y) => x.range.key.localeCompare(y.range.key));
      expect(held).toEqual([
        { ...a!, range: (await l.getRange(a!.range.key))! },
        { ...b!, range: (await l.getRange(b!.range.key))! },
      ]);
      expect(held[1]!.range.state).toBe('running');
      expect(leaseKeys(await l.heldBy('v'))).toEqual(leaseKeys(other));
      expect(await l.heldBy('nobody')).toEqual([]);
    });

    // ---- cancel ---------------------------------------------------------------------------------

    test('claims across tasks by priority, then age; cancel ends what is open', async (l) => {
      const t1 = await l.createTask(spec({ priority: 0 }), plans(1), 0);
      const t2 = await l.createTask(spec({ priority: 5 }), plans(1), 0);
      const first = await claimOne(l, null);
      expect(first.range.task).toBe(t2.id);
      expect((await l.peek(null, 5)).map((r) => r.task)).toEqual([t1.id]);
      await l.cancelTask(t1.id);
      expect((await l.getTask(t1.id))!.state).toBe('cancelled');
      expect(await l.claim({ worker: 'w', task: null, max: 1, leaseMs: 100, now: 0 })).toEqual([]);
    });

    test('cancel: every range not yet terminal becomes cancelled; terminal ones stay; late reports are fenced', async (l) => {
      const t = await l.createTask(spec({ attempts: 2 }), plans(6), 0);
      const other = await l.createTask(spec(), plans(1), 0);
      const [r0, r1, r2, r3] = await l.claim({ worker: 'w', task: t.id, max: 4, leaseMs: 100, now: 0 });
      await l.finish(r0!.range.key, r0!.token, 1);
      await l.release(r1!.range.key, r1!.token, true, 'x');
      const r1b = await claimOne(l, t.id);
      expect(r1b.range.key).toBe(r1!.range.key);
      await l.release(r1b.range.key, r1b.token, true, 'y');
      await l.fail(r2!.range.key, r2!.token, { eventsDone: 1, message: 'f', retryDelayMs: 1000, now: 1 });
      await l.start(r3!.range.key, r3!.token);
      const r4 = await claimOne(l, t.id);
      expect(r4.range.key).toBe(`${t.id}-0-4`);
      const o = await claimOne(l, other.id);

      const cancelled = await l.cancelTask(t.id);
      expect(cancelled).toEqual({ ...t, state: 'cancelled' });
      expect((await l.getTask(t.id))!.state).toBe('cancelled');
      const rs = await l.ranges(t.id);
      expect(rs.map((r) => r.state)).toEqual(['finished', 'fatal', 'cancelled', 'cancelled', 'cancelled', 'cancelled']);
      for (const r of rs.slice(2)) expect(r).toMatchObject({ worker: null, leaseUntil: null, retryAt: null, outcome: 'cancelled' });
      expect(rs.slice(0, 2).map((r) => r.outcome)).toEqual(['finished', 'released']);
      expect(rs[2]).toMatchObject({ eventsDone: 1, startEvent: 21 });
      expect(await l.progress(t.id)).toEqual({
        ranges: { ready: 0, assigned: 0, running: 0, finished: 1, failed: 0, fatal: 1, cancelled: 4 },
        eventsDone: 11,
      });
      expect((await l.finish(r3!.range.key, r3!.token, 2)).kind).toBe('fenced');
      expect((await l.fail(r4.range.key, r4.token, { eventsDone: 0, message: 'x', retryDelayMs: 0, now: 2 })).kind).toBe('fenced');
      expect((await l.release(r4.range.key, r4.token, true, 'x')).kind).toBe('fenced');
      expect(leaseKeys(await l.heldBy('w'))).toEqual([o.range.key]);
      expect(await l.renew('w', 100, 10)).toBe(1);
      expect((await l.reap(1e12)).released).toHaveLength(1);
      expect(await l.claim({ worker: 'w', task: t.id, max: 5, leaseMs: 100, now: 0 })).toEqual([]);
      expect(await l.peek(t.id, 5)).toEqual([]);
      // The other task is untouched.
      expect((await l.getTask(other.id))!.state).toBe('active');
      expect(rs.map((r) => r.state)).toEqual((await l.ranges(t.id)).map((r) => r.state));
    });

    // ---- outcomes after the change (review point 1) --------------------------------------------

    test('every ok outcome carries the range as stored after the write, on every path', async (l) => {
      const t = await l.createTask(spec({ attempts: 2 }), plans(6), 0);
      const [a, b, c, d, e, f] = await l.claim({ worker: 'w', task: t.id, max: 6, leaseMs: 1000, now: 0 });
      const u = await l.createTask(spec({ attempts: 1 }), plans(2), 0);
      const [x, y] = await l.claim({ worker: 'w', task: u.id, max: 2, leaseMs: 1000, now: 0 });
      const stored = async (o: LedgerOutcome, expected: Partial<RangeRecord>, taskComplete = false): Promise<void> => {
        expect(o).toMatchObject({ kind: 'ok', taskComplete, range: expected });
        if (o.kind === 'ok') expect(o.range).toEqual(await l.getRange(o.range.key));
      };
      const gone = { worker: null, leaseUntil: null };
      await stored(await l.start(a!.range.key, a!.token), { state: 'running', outcome: null, worker: 'w', leaseUntil: 1000 });
      await stored(await l.finish(a!.range.key, a!.token, 1), { state: 'finished', outcome: 'finished', eventsDone: 10, ...gone });
      await stored(await l.fail(b!.range.key, b!.token, { eventsDone: 10, message: 'all done', retryDelayMs: 50, now: 1 }), {
        state: 'finished',
        outcome: 'failed',
        eventsDone: 10,
        retryAt: null,
        ...gone,
      });
      await stored(await l.fail(c!.range.key, c!.token, { eventsDone: 2, message: 'later', retryDelayMs: 50, now: 1 }), {
        state: 'failed',
        outcome: 'failed',
        retryAt: 51,
        attemptsLeft: 1,
        ...gone,
      });
      await stored(await l.fail(d!.range.key, d!.token, { eventsDone: 2, message: 'now', retryDelayMs: 0, now: 1 }), { state: 'ready', outcome: 'failed', retryAt: null, ...gone });
      await stored(await l.release(e!.range.key, e!.token, false, 'shutdown'), { state: 'ready', outcome: 'released', attemptsLeft: 2, ...gone });
      await stored(await l.release(f!.range.key, f!.token, true, 'gone'), { state: 'ready', outcome: 'released', attemptsLeft: 1, ...gone });
      // Down to zero attempts: fatal, the record shows it (and the last one completes the task).
      await stored(await l.fail(x!.range.key, x!.token, { eventsDone: 1, message: 'fatal', retryDelayMs: 50, now: 1 }), {
        state: 'fatal',
        outcome: 'failed',
        attemptsLeft: 0,
        retryAt: null,
        ...gone,
      });
      await stored(await l.release(y!.range.key, y!.token, true, 'gone'), { state: 'fatal', outcome: 'released', attemptsLeft: 0, ...gone }, true);
      // Also when the fatal range is the last one of its task through a failure.
      const v = await l.createTask(spec({ attempts: 1 }), plans(1), 0);
      const z = await claimOne(l, v.id);
      await stored(await l.fail(z.range.key, z.token, { eventsDone: 0, message: 'last', retryDelayMs: 0, now: 1 }), { state: 'fatal', ...gone }, true);
      // A failure reporting every event done can complete the task too.
      const w = await l.createTask(spec(), plans(1), 0);
      const q = await claimOne(l, w.id);
      await stored(await l.fail(q.range.key, q.token, { eventsDone: 99, message: 'done', retryDelayMs: 0, now: 1 }), { state: 'finished', eventsDone: 10, ...gone }, true);
    });

    // ---- one rule for duplicates (review point 2) ----------------------------------------------

    test('outcome: null before any claim and while held; set by finish, fail, release and cancel; cleared by the next claim', async (l) => {
      const t = await l.createTask(spec({ attempts: 3 }), plans(5), 0);
      expect((await l.ranges(t.id)).map((r) => r.outcome)).toEqual([null, null, null, null, null]);
      const [a, b, c, d] = await l.claim({ worker: 'w', task: t.id, max: 4, leaseMs: 1000, now: 0 });
      for (const x of [a, b, c, d]) expect(x!.range.outcome).toBeNull();
      await l.start(a!.range.key, a!.token);
      expect((await l.getRange(a!.range.key))!.outcome).toBeNull();
      await l.finish(a!.range.key, a!.token, 1);
      await l.fail(b!.range.key, b!.token, { eventsDone: 1, message: 'f', retryDelayMs: 0, now: 1 });
      await l.release(c!.range.key, c!.token, true, 'r');
      expect((await l.ranges(t.id)).map((r) => [r.state, r.outcome])).toEqual([
        ['finished', 'finished'],
        ['ready', 'failed'],
        ['ready', 'released'],
        ['assigned', null],
        ['ready', null],
      ]);
      const again = await l.claim({ worker: 'v', task: t.id, max: 2, leaseMs: 1000, now: 2 });
      expect(again.map((x) => [x.range.key, x.range.outcome])).toEqual([
        [b!.range.key, null],
        [c!.range.key, null],
      ]);
      expect((await l.getRange(b!.range.key))!.outcome).toBeNull();
      await l.cancelTask(t.id);
      expect((await l.ranges(t.id)).map((r) => [r.state, r.outcome])).toEqual([
        ['finished', 'finished'],
        ['cancelled', 'cancelled'],
        ['cancelled', 'cancelled'],
        ['cancelled', 'cancelled'],
        ['cancelled', 'cancelled'],
      ]);
    });

    test('the duplicate table: what each report with the current token answers after each history', async (l) => {
      type Answer = 'ok' | 'duplicate' | 'fenced';
      type Reports = readonly [start: Answer, finish: Answer, fail: Answer, release: Answer];
      interface History {
        readonly name: string;
        readonly attempts?: number;
        /** Brings a fresh range of its own task to the state under test; returns the token to report with. */
        readonly run: (lease: Lease, task: number) => Promise<string>;
        readonly expect: Reports;
      }
      const later = { message: 'f', retryDelayMs: 100, now: 10 };
      const AFTER_FINISH: Reports = ['fenced', 'duplicate', 'fenced', 'fenced'];
      const AFTER_FAIL: Reports = ['fenced', 'fenced', 'duplicate', 'fenced'];
      const AFTER_RELEASE: Reports = ['fenced', 'fenced', 'fenced', 'duplicate'];
      const FENCED: Reports = ['fenced', 'fenced', 'fenced', 'fenced'];
      let now = 0;
      /** A history that does `f` and reports with the lease's own token. */
      const then =
        (f: (x: Lease, task: number) => Promise<unknown>) =>
        async (x: Lease, task: number): Promise<string> => {
          await f(x, task);
          return x.token;
        };
      const histories: History[] = [
        { name: 'assigned', run: async (x) => x.token, expect: ['ok', 'ok', 'ok', 'ok'] },
        { name: 'running', run: then((x) => l.start(x.range.key, x.token)), expect: ['duplicate', 'ok', 'ok', 'ok'] },
        { name: 'finished', run: then((x) => l.finish(x.range.key, x.token, 1)), expect: AFTER_FINISH },
        { name: 'failed, waiting for its retry', run: then((x) => l.fail(x.range.key, x.token, { ...later, eventsDone: 2 })), expect: AFTER_FAIL },
        { name: 'failed, ready at once', run: then((x) => l.fail(x.range.key, x.token, { ...later, eventsDone: 2, retryDelayMs: 0 })), expect: AFTER_FAIL },
        {
          name: 'failed, readied by reap',
          run: async (x) => {
            await l.fail(x.range.key, x.token, { ...later, eventsDone: 2, now });
            const { released } = await l.reap(now + 100);
            expect(released.find((r) => r.key === x.range.key)).toMatchObject({ state: 'ready', outcome: 'failed' });
            return x.token;
          },
          expect: AFTER_FAIL,
        },
        { name: 'failed to fatal', attempts: 1, run: then((x) => l.fail(x.range.key, x.token, { ...later, eventsDone: 2 })), expect: AFTER_FAIL },
        { name: 'failed with every event done (finished)', run: then((x) => l.fail(x.range.key, x.token, { ...later, eventsDone: 10 })), expect: AFTER_FAIL },
        { name: 'released', run: then((x) => l.release(x.range.key, x.token, false, 'r')), expect: AFTER_RELEASE },
        { name: 'released to fatal', attempts: 1, run: then((x) => l.release(x.range.key, x.token, true, 'r')), expect: AFTER_RELEASE },
        {
          name: 'lease lapsed and reaped',
          run: async (x) => {
            expect(reapedKeys(await l.reap(x.leaseUntil))).toContain(x.range.key);
            return x.token;
          },
          expect: AFTER_RELEASE,
        },
        {
          name: 'lease lapsed and reaped to fatal',
          attempts: 1,
          run: async (x) => {
            expect(reapedKeys(await l.reap(x.leaseUntil))).toContain(x.range.key);
            return x.token;
          },
          expect: AFTER_RELEASE,
        },
        { name: 'cancelled while held', run: then((_x, task) => l.cancelTask(task)), expect: FENCED },
        {
          name: 'failed, then cancelled',
          run: then(async (x, task) => {
            await l.fail(x.range.key, x.token, { ...later, eventsDone: 2 });
            await l.cancelTask(task);
          }),
          expect: FENCED,
        },
        {
          name: 'released, then claimed again (the old token)',
          run: then(async (x, task) => {
            await l.release(x.range.key, x.token, false, 'r');
            await claimOne(l, task, 'v', now);
          }),
          expect: FENCED,
        },
        { name: 'assigned, with a token never handed out', run: async () => 'never-handed-out', expect: FENCED },
      ];
      const reports = ['start', 'finish', 'fail', 'release'] as const;
      for (const h of histories) {
        for (const [i, report] of reports.entries()) {
          now += 1_000; // every cell's leases lapse long after the reaps of the cells before it
          const t = await l.createTask(spec({ attempts: h.attempts ?? 3, label: `${h.name} / ${report}` }), plans(1), now);
          const lease = await claimOne(l, t.id, 'w', now, 500);
          const token = await h.run(lease, t.id);
          const before = (await l.getRange(lease.range.key))!;
          const o = await (report === 'start'
            ? l.start(lease.range.key, token)
            : report === 'finish'
              ? l.finish(lease.range.key, token, now)
              : report === 'fail'
                ? l.fail(lease.range.key, token, { eventsDone: 3, message: 'repeat', retryDelayMs: 0, now })
                : l.release(lease.range.key, token, true, 'repeat'));
          const after = (await l.getRange(lease.range.key))!;
          const cell = `${report} after "${h.name}"`;
          expect(o.kind, cell).toBe(h.expect[i]);
          if (o.kind === 'unknown') continue;
          expect(o.range, `${cell}: the outcome carries the stored record`).toEqual(after);
          if (o.kind !== 'ok') expect(after, `${cell}: nothing changes`).toEqual(before);
        }
      }
    });

    test('a repeated fail answers duplicate (not fenced) after a failure that finished the range, and a finish with that token is fenced', async (l) => {
      const t = await l.createTask(spec({ attempts: 2 }), plans(2), 0);
      const [a, b] = await l.claim({ worker: 'w', task: t.id, max: 2, leaseMs: 1000, now: 0 });
      const failure = { eventsDone: 10, message: 'noticed late', retryDelayMs: 0, now: 1 };
      expect((await l.fail(a!.range.key, a!.token, failure)).kind).toBe('ok');
      const stored = await l.getRange(a!.range.key);
      expect(stored).toMatchObject({ state: 'finished', outcome: 'failed', eventsDone: 10 });
      expect(await l.fail(a!.range.key, a!.token, failure)).toEqual({ kind: 'duplicate', range: stored });
      expect(await l.finish(a!.range.key, a!.token, 2)).toEqual({ kind: 'fenced', range: stored });
      // A release that made the range fatal: a fail with that token is fenced (it was not failed).
      await l.release(b!.range.key, b!.token, true, 'gone');
      const b2 = await claimOne(l, t.id, 'w', 2);
      await l.release(b2.range.key, b2.token, true, 'gone again');
      expect(await l.getRange(b2.range.key)).toMatchObject({ state: 'fatal', outcome: 'released' });
      expect((await l.fail(b2.range.key, b2.token, { eventsDone: 0, message: 'x', retryDelayMs: 0, now: 3 })).kind).toBe('fenced');
      expect((await l.release(b2.range.key, b2.token, true, 'again')).kind).toBe('duplicate');
      expect((await l.progress(t.id))!.ranges).toMatchObject({ finished: 1, fatal: 1 });
    });

    // ---- cancel only changes an active task (review point 3) -----------------------------------

    test('cancelTask changes only an active task: a complete or cancelled task keeps its state, and is returned as it is', async (l) => {
      const done = await l.createTask(spec(), plans(1), 0);
      const a = await claimOne(l, done.id);
      await l.finish(a.range.key, a.token, 1);
      const rangesBefore = await l.ranges(done.id);
      expect(await l.cancelTask(done.id)).toEqual({ ...done, state: 'complete' });
      expect((await l.getTask(done.id))!.state).toBe('complete');
      expect(await l.ranges(done.id)).toEqual(rangesBefore);
      expect(await l.finish(a.range.key, a.token, 2)).toMatchObject({ kind: 'duplicate', range: { state: 'finished', outcome: 'finished' } });

      const empty = await l.createTask(spec(), [], 0);
      expect(await l.cancelTask(empty.id)).toEqual(empty);
      expect((await l.getTask(empty.id))!.state).toBe('complete');

      const open = await l.createTask(spec(), plans(2), 0);
      const b = await claimOne(l, open.id);
      const cancelled = await l.cancelTask(open.id);
      expect(cancelled).toEqual({ ...open, state: 'cancelled' });
      const after = await l.ranges(open.id);
      expect(after.map((r) => [r.state, r.outcome])).toEqual([
        ['cancelled', 'cancelled'],
        ['cancelled', 'cancelled'],
      ]);
      expect(await l.cancelTask(open.id)).toEqual(cancelled);
      expect(await l.ranges(open.id)).toEqual(after);
      expect((await l.finish(b.range.key, b.token, 3)).kind).toBe('fenced');
      expect((await l.release(b.range.key, b.token, true, 'x')).kind).toBe('fenced');
    });

    // ---- reap reports the tasks it completed (review point 4) ----------------------------------

    test('reap reports the ranges it moved and the tasks it completed', async (l) => {
      const t1 = await l.createTask(spec({ attempts: 1 }), plans(2), 0);
      const t2 = await l.createTask(spec({ attempts: 1 }), plans(1), 0);
      const t3 = await l.createTask(spec({ attempts: 2 }), plans(1), 0);
      const t4 = await l.createTask(spec({ attempts: 2 }), plans(2), 0);
      const [a1, a2] = await l.claim({ worker: 'w', task: t1.id, max: 2, leaseMs: 100, now: 0 });
      await l.finish(a1!.range.key, a1!.token, 1);
      const b = await claimOne(l, t2.id, 'w', 0, 100);
      const c = await claimOne(l, t3.id, 'w', 0, 100);
      const [d1, d2] = await l.claim({ worker: 'w', task: t4.id, max: 2, leaseMs: 1000, now: 0 });
      await l.fail(d1!.range.key, d1!.token, { eventsDone: 0, message: 'x', retryDelayMs: 100, now: 0 });
      expect(await l.reap(99)).toEqual(NOTHING_REAPED);

      const r = await l.reap(100);
      expect(reapedKeys(r)).toEqual([a2!.range.key, b.range.key, c.range.key, d1!.range.key].sort());
      for (const x of r.released) expect(x, x.key).toEqual(await l.getRange(x.key));
      const state = new Map(r.released.map((x) => [x.key, x]));
      expect(state.get(a2!.range.key)).toMatchObject({ state: 'fatal', outcome: 'released', message: 'lease expired' });
      expect(state.get(b.range.key)).toMatchObject({ state: 'fatal', outcome: 'released' });
      expect(state.get(c.range.key)).toMatchObject({ state: 'ready', outcome: 'released', attemptsLeft: 1 });
      expect(state.get(d1!.range.key)).toMatchObject({ state: 'ready', outcome: 'failed' });
      // t1 and t2 lost their last open range; t3 and t4 still have work.
      expect([...r.completed].sort((x, y) => x - y)).toEqual([t1.id, t2.id]);
      expect((await l.listTasks()).map((t) => [t.id, t.state])).toEqual(
        expect.arrayContaining([
          [t1.id, 'complete'],
          [t2.id, 'complete'],
          [t3.id, 'active'],
          [t4.id, 'active'],
        ]),
      );
      expect((await l.listTasks('active')).map((t) => t.id)).toEqual([t3.id, t4.id].sort((x, y) => x - y));
      expect((await l.listTasks('complete')).map((t) => t.id)).toEqual([t1.id, t2.id].sort((x, y) => x - y));
      expect(await l.listTasks('cancelled')).toEqual([]);
      expect(await l.reap(100)).toEqual(NOTHING_REAPED);
      // The last range of t4 lapsing completes nothing while d1 is still open.
      expect(await l.reap(1000)).toMatchObject({ released: [{ key: d2!.range.key, state: 'ready' }], completed: [] });
    });

    // ---- renew extends only live leases (review point 5) ---------------------------------------

    test('renew extends only leases that have not lapsed; a lapsed lease waits for reap', async (l) => {
      const t = await l.createTask(spec({ attempts: 3 }), plans(3), 0);
      const a = await claimOne(l, t.id, 'w', 0, 100); // lapses at 100
      const b = await claimOne(l, t.id, 'w', 50, 100); // lapses at 150
      await l.start(b.range.key, b.token);
      const c = await claimOne(l, t.id, 'w', 0, 100);
      await l.finish(c.range.key, c.token, 1);
      expect(await l.renew('w', 100, 100)).toBe(1);
      expect(await l.getRange(a.range.key)).toMatchObject({ state: 'assigned', leaseUntil: 100 });
      expect(await l.getRange(b.range.key)).toMatchObject({ state: 'running', leaseUntil: 200 });
      expect(await l.renew('w', 100, 150)).toBe(1);
      expect((await l.getRange(b.range.key))!.leaseUntil).toBe(250);
      // Long lapsed, still not renewed; reap takes it.
      expect(await l.renew('w', 1000, 249)).toBe(1);
      expect((await l.getRange(a.range.key))!.leaseUntil).toBe(100);
      expect(reapedKeys(await l.reap(249))).toEqual([a.range.key]);
      expect(await l.getRange(a.range.key)).toMatchObject({ state: 'ready', attemptsLeft: 2, outcome: 'released' });
      expect(leaseKeys(await l.heldBy('w'))).toEqual([b.range.key]);
    });

    // ---- input validation (review point 6) -----------------------------------------------------

    test('refuses invalid arguments with a LedgerError (code invalid) and changes nothing', async (l) => {
      const t = await l.createTask(spec(), plans(2), 0);
      const tasks = await l.listTasks();
      const at = (file: number, index: number, startEvent = 0, lastEvent = 9): RangePlan => ({ file, index, scope: 's', LFN: 'f', GUID: 'g', startEvent, lastEvent });
      await refused(l.createTask(spec(), [at(0, 0), at(1, 0), at(0, 1), at(1, 0)], 0));
      await refused(l.createTask(spec(), [...plans(3), ...plans(1)], 0));
      for (const attempts of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) await refused(l.createTask(spec({ attempts }), plans(1), 0));
      for (const rangeSize of [0, -10, 0.5, Number.NaN]) await refused(l.createTask(spec({ rangeSize }), plans(1), 0));
      await refused(l.createTask(spec(), [at(0, 0, 10, 9)], 0));
      await refused(l.createTask(spec({ attempts: 0 }), [], 0));
      expect(await l.listTasks()).toEqual(tasks);
      // A single-event range (lastEvent = startEvent) is fine; so are the same indexes in another file.
      const single = await l.createTask(spec({ attempts: 1, rangeSize: 1 }), [at(0, 0, 5, 5), at(1, 0, 5, 5)], 0);
      expect(single).toMatchObject({ rangesTotal: 2, eventsTotal: 2 });

      for (const max of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) await refused(l.claim({ worker: 'w', task: t.id, max, leaseMs: 100, now: 0 }));
      await refused(l.claim({ worker: 'w', task: null, max: -3, leaseMs: 100, now: 0 }));
      expect((await l.progress(t.id))!.ranges.ready).toBe(2);
      expect(await l.heldBy('w')).toEqual([]);

      const lease = await claimOne(l, t.id);
      const before = await l.getRange(lease.range.key);
      for (const eventsDone of [-1, 0.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
        await refused(l.fail(lease.range.key, lease.token, { eventsDone, message: 'bad', retryDelayMs: 0, now: 1 }));
        // The arguments are checked before the range is looked at.
        await refused(l.fail('no-such-key', 'x', { eventsDone, message: 'bad', retryDelayMs: 0, now: 1 }));
      }
      expect(await l.getRange(lease.range.key)).toEqual(before);
      expect((await l.fail(lease.range.key, lease.token, { eventsDone: 0, message: 'fine', retryDelayMs: 0, now: 1 })).kind).toBe('ok');
    });

    // ---- skim, slim and delivery counts -----------------------------------------------------------

    test("keeps a task's skim and slim, and leaves them out when not set", async (l) => {
      const t = await l.createTask(spec({ skim: 'nMuon >= 2 && MET_pt > 30.0', slim: ['Muon_*', 'MET_pt'] }), plans(1), 0);
      expect(t.spec).toEqual({ dataset: 's:n', rangeSize: 10, attempts: 2, priority: 0, label: '', skim: 'nMuon >= 2 && MET_pt > 30.0', slim: ['Muon_*', 'MET_pt'] });
      expect((await l.getTask(t.id))!.spec).toEqual(t.spec);
      const u = await l.createTask(spec({ skim: null, slim: null }), plans(1), 0);
      expect((await l.getTask(u.id))!.spec).toEqual(spec());
      expect(Object.keys((await l.getTask(u.id))!.spec)).not.toContain('skim');
    });

    test('records the events read and passed of a finish that counts them, once; none before or without counts', async (l) => {
      const t = await l.createTask(spec(), plans(3), 0);
      const [a, b, c] = await l.claim({ worker: 'w', task: t.id, max: 3, leaseMs: 1000, now: 0 });
      expect((await l.getRange(a!.range.key))!.eventsRead ?? null).toBeNull();
      const done = await l.finish(a!.range.key, a!.token, 1, { eventsRead: 10, eventsPassed: 4 });
      expect(done).toMatchObject({ kind: 'ok', range: { state: 'finished', eventsRead: 10, eventsPassed: 4, eventsDone: 10 } });
      expect(await l.getRange(a!.range.key)).toMatchObject({ eventsRead: 10, eventsPassed: 4 });
      // A repeat with other counts is a duplicate and changes nothing.
      expect(await l.finish(a!.range.key, a!.token, 2, { eventsRead: 10, eventsPassed: 9 })).toMatchObject({ kind: 'duplicate', range: { eventsPassed: 4 } });
      expect((await l.getRange(a!.range.key))!.eventsPassed).toBe(4);
      // Without counts: nothing recorded.
      await l.finish(b!.range.key, b!.token, 3);
      expect((await l.getRange(b!.range.key))!.eventsRead ?? null).toBeNull();
      // Counts that cannot be are refused before anything changes.
      for (const counts of [{ eventsRead: -1, eventsPassed: 0 }, { eventsRead: 3, eventsPassed: 4 }, { eventsRead: 1.5, eventsPassed: 1 }]) {
        await refused(l.finish(c!.range.key, c!.token, 4, counts));
      }
      expect((await l.getRange(c!.range.key))!.state).toBe('assigned');
      expect((await l.finish(c!.range.key, c!.token, 5, { eventsRead: 10, eventsPassed: 0 })).kind).toBe('ok');
      expect((await l.ranges(t.id)).map((r) => [r.eventsRead ?? null, r.eventsPassed ?? null])).toEqual([
        [10, 4],
        [null, null],
        [10, 0],
      ]);
    });

    // ---- model ----------------------------------------------------------------------------------

    it('behaves like MemoryLedger under random operation sequences (model test)', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(createArb, { minLength: 1, maxLength: 3 }), fc.array(opArb, { maxLength: 60, size: 'max' }), async (initial, ops) => {
          const h = await open();
          try {
            await runModel(h.ledger, initial, ops);
          } finally {
            await h.close();
          }
        }),
        { numRuns: 60 },
      );
    }, 60_000);
  });
}

// ---- the model test ---------------------------------------------------------------------------

interface CreateOp {
  readonly op: 'create';
  readonly priority: number;
  readonly perFile: readonly number[];
  readonly attempts: number;
  readonly rangeSize: number;
}
interface LeaseRef {
  /** Prefer a lease that is still current (most reports are), else any lease ever handed out. */
  readonly live: boolean;
  readonly pick: number;
}
type Report = 'start' | 'finish' | 'fail' | 'release';
/** An argument a ledger must refuse (LedgerError `invalid`) on both sides alike. */
type Invalid = 'planTwice' | 'attempts' | 'rangeSize' | 'backwards' | 'claimMax' | 'failEvents';
type ReportOp = Extract<Op, { readonly op: Report }>;
type Op =
  | CreateOp
  | { readonly op: 'claim'; readonly worker: number; readonly task: number | null; readonly max: number; readonly leaseMs: number }
  | { readonly op: 'peek'; readonly task: number | null; readonly max: number }
  | { readonly op: 'start' | 'finish'; readonly lease: LeaseRef }
  | { readonly op: 'fail'; readonly lease: LeaseRef; readonly eventsDone: number; readonly retryDelayMs: number }
  | { readonly op: 'release'; readonly lease: LeaseRef; readonly consume: boolean }
  | { readonly op: 'reap' | 'tick'; readonly advance: number }
  | { readonly op: 'renew'; readonly worker: number; readonly leaseMs: number }
  | { readonly op: 'heldBy'; readonly worker: number }
  | { readonly op: 'cancel'; readonly task: number }
  /** A report with a token that was never handed out, on any range. */
  | { readonly op: 'bogus'; readonly report: Report; readonly pick: number }
  | { readonly op: 'unknownKey'; readonly report: Report }
  /** The last report again, with the same token and arguments (a worker whose reply was lost). */
  | { readonly op: 'repeat' }
  | { readonly op: 'invalid'; readonly what: Invalid; readonly pick: number };

const createArb: fc.Arbitrary<CreateOp> = fc.record({
  op: fc.constant('create' as const),
  priority: fc.integer({ min: -1, max: 2 }),
  perFile: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 2 }),
  attempts: fc.integer({ min: 1, max: 3 }),
  rangeSize: fc.integer({ min: 1, max: 5 }),
});
const leaseRefArb: fc.Arbitrary<LeaseRef> = fc.record({
  live: fc.oneof({ arbitrary: fc.constant(true), weight: 4 }, { arbitrary: fc.constant(false), weight: 1 }),
  pick: fc.nat(),
});
const taskRefArb = fc.option(fc.nat({ max: 4 }), { nil: null });
const reportArb = fc.constantFrom<Report>('start', 'finish', 'fail', 'release');
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: createArb, weight: 1 },
  {
    arbitrary: fc.record({
      op: fc.constant('claim' as const),
      worker: fc.nat({ max: 2 }),
      task: taskRefArb,
      max: fc.integer({ min: 0, max: 3 }),
      leaseMs: fc.constantFrom(20, 100),
    }),
    weight: 8,
  },
  { arbitrary: fc.record({ op: fc.constant('peek' as const), task: taskRefArb, max: fc.integer({ min: 0, max: 4 }) }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constantFrom('start' as const, 'finish' as const), lease: leaseRefArb }), weight: 10 },
  {
    arbitrary: fc.record({
      op: fc.constant('fail' as const),
      lease: leaseRefArb,
      eventsDone: fc.integer({ min: 0, max: 7 }),
      retryDelayMs: fc.constantFrom(0, 10, 50),
    }),
    weight: 5,
  },
  { arbitrary: fc.record({ op: fc.constant('release' as const), lease: leaseRefArb, consume: fc.boolean() }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constantFrom('reap' as const, 'tick' as const), advance: fc.constantFrom(0, 1, 10, 20, 50, 100) }), weight: 5 },
  { arbitrary: fc.record({ op: fc.constant('renew' as const), worker: fc.nat({ max: 2 }), leaseMs: fc.constantFrom(20, 100) }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('heldBy' as const), worker: fc.nat({ max: 2 }) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('cancel' as const), task: fc.nat({ max: 4 }) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('bogus' as const), report: reportArb, pick: fc.nat() }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('unknownKey' as const), report: reportArb }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('repeat' as const) }), weight: 4 },
  {
    arbitrary: fc.record({
      op: fc.constant('invalid' as const),
      what: fc.constantFrom<Invalid>('planTwice', 'attempts', 'rangeSize', 'backwards', 'claimMax', 'failEvents'),
      pick: fc.nat(),
    }),
    weight: 1,
  },
);

/** The outcomes a range may carry in each state (null: never claimed, or held). */
const OUTCOMES_BY_STATE: Readonly<Record<RangeState, readonly (RangeOutcome | null)[]>> = {
  ready: [null, 'failed', 'released'],
  assigned: [null],
  running: [null],
  finished: ['finished', 'failed'],
  failed: ['failed'],
  fatal: ['failed', 'released'],
  cancelled: ['cancelled'],
};

/** One side of the model test: a ledger and its task ids by creation order. */
class Side {
  /** ledger task id → creation ordinal */
  readonly ordinal = new Map<number, number>();
  readonly ids: number[] = [];
  constructor(readonly ledger: Ledger) {}

  taskId(ord: number | null): number | null {
    if (ord === null) return null;
    return this.ids[ord] ?? 1_000_000 + ord;
  }

  /** A record with the task id replaced by its ordinal (so sides can differ in ids) and no token. */
  range(r: RangeRecord): Omit<RangeRecord, 'token'> {
    const { token: _token, ...rest } = r;
    const ord = this.ordinal.get(r.task);
    if (ord === undefined) throw new Error(`range of a task never created: ${r.key}`);
    return { ...rest, task: ord, key: `${ord}-${r.file}-${r.index}` };
  }

  lease(l: Lease): unknown {
    const r = this.range(l.range);
    return { range: r, token: l.token === l.range.token, eventRangeID: l.eventRangeID.replace(/^\d+/, String(r.task)), leaseUntil: l.leaseUntil };
  }

  outcome(o: LedgerOutcome): unknown {
    if (o.kind === 'unknown') return o;
    return { ...o, range: this.range(o.range) };
  }

  task(t: TaskRecord): unknown {
    return { ...t, id: this.ordinal.get(t.id) };
  }

  sortedRanges(rs: readonly RangeRecord[]): unknown[] {
    return rs.map((r) => this.range(r)).sort((a, b) => a.key.localeCompare(b.key));
  }

  reap(r: ReapResult): unknown {
    return { released: this.sortedRanges(r.released), completed: r.completed.map((id) => this.ordinal.get(id)).sort() };
  }
}

interface LeasePair {
  readonly model: Lease;
  readonly sut: Lease;
}

async function runModel(ledger: Ledger, initial: readonly CreateOp[], ops: readonly Op[]): Promise<void> {
  const model = new Side(new MemoryLedger());
  const sut = new Side(ledger);
  let now = 1_000;
  const leases: LeasePair[] = [];
  const sutTokenOf = new Map<string, string>(); // model token → sut token
  const sutTokens = new Set<string>();
  let modelRanges: RangeRecord[] = [];
  const lastState = new Map<string, RangeState>();
  const lastTaskState = new Map<number, TaskStateName>();
  const finishes = new Map<string, number>();
  let lastReport: { readonly op: ReportOp; readonly pair: LeasePair } | null = null;

  const same = (what: string, a: unknown, b: unknown): void => {
    expect(b, what).toEqual(a);
  };

  const pickLease = (ref: LeaseRef): LeasePair | undefined => {
    if (leases.length === 0) return undefined;
    if (ref.live) {
      const current = new Set(modelRanges.filter((r) => r.state === RangeState.assigned || r.state === RangeState.running).map((r) => r.token));
      const live = leases.filter((p) => current.has(p.model.token));
      if (live.length > 0) return live[ref.pick % live.length];
    }
    return leases[ref.pick % leases.length];
  };

  const report = async (side: Side, kind: Report, key: string, token: string): Promise<LedgerOutcome> => {
    const l = side.ledger;
    switch (kind) {
      case 'start':
        return l.start(key, token);
      case 'finish':
        return l.finish(key, token, now);
      case 'fail':
        return l.fail(key, token, { eventsDone: 1, message: 'bogus', retryDelayMs: 10, now });
      case 'release':
        return l.release(key, token, true, 'bogus');
    }
  };

  const create = async (c: CreateOp): Promise<void> => {
    const s = spec({ priority: c.priority, attempts: c.attempts, rangeSize: c.rangeSize, label: `t${model.ids.length}` });
    const ps = c.perFile.flatMap((n, file) =>
      Array.from({ length: n }, (_, i) => ({ file, index: i, scope: 's', LFN: `f${file}`, GUID: `g${file}`, startEvent: i * c.rangeSize, lastEvent: (i + 1) * c.rangeSize - 1 })),
    );
    const ord = model.ids.length;
    const [m, t] = [await model.ledger.createTask(s, ps, now), await sut.ledger.createTask(s, ps, now)];
    for (const [side, rec] of [[model, m], [sut, t]] as const) {
      side.ids.push(rec.id);
      side.ordinal.set(rec.id, ord);
    }
    same('createTask', model.task(m), sut.task(t));
  };

  const newLeases = (m: Lease[], t: Lease[]): void => {
    same('claim', m.map((x) => model.lease(x)), t.map((x) => sut.lease(x)));
    m.forEach((ml, i) => {
      const tl = t[i]!;
      expect(tl.token).toMatch(TOKEN);
      expect(sutTokens.has(tl.token), 'a token is never reused').toBe(false);
      sutTokens.add(tl.token);
      sutTokenOf.set(ml.token, tl.token);
      leases.push({ model: ml, sut: tl });
    });
  };

  const countFinish = (o: LedgerOutcome, key: string, kind: Report): void => {
    if (o.kind !== 'ok') return;
    if (kind === 'finish') finishes.set(key, (finishes.get(key) ?? 0) + 1);
  };

  const runReport = (op: ReportOp, side: Side, l: Lease): Promise<LedgerOutcome> => {
    const key = l.range.key;
    switch (op.op) {
      case 'start':
        return side.ledger.start(key, l.token);
      case 'finish':
        return side.ledger.finish(key, l.token, now);
      case 'fail':
        return side.ledger.fail(key, l.token, { eventsDone: op.eventsDone, message: `failed at ${now}`, retryDelayMs: op.retryDelayMs, now });
      case 'release':
        return side.ledger.release(key, l.token, op.consume, `released at ${now}`);
    }
  };

  const reportBoth = async (op: ReportOp, p: LeasePair): Promise<void> => {
    const m = await runReport(op, model, p.model);
    const t = await runReport(op, sut, p.sut);
    countFinish(t, p.sut.range.key, op.op);
    if (op.op === 'fail' && t.kind === 'ok' && t.range.state === RangeState.finished) {
      finishes.set(p.sut.range.key, (finishes.get(p.sut.range.key) ?? 0) + 1);
    }
    if (t.kind !== 'unknown') expect(t.range, `${op.op}: the outcome carries the stored record`).toEqual(await sut.ledger.getRange(t.range.key));
    same(op.op, model.outcome(m), sut.outcome(t));
  };

  /** Both sides refuse the same invalid call with a LedgerError (compare() then shows nothing changed alike). */
  const invalidBoth = async (what: Invalid, pick: number): Promise<void> => {
    const call = (side: Side): Promise<unknown> => {
      const l = side.ledger;
      const plan = (file: number, index: number, startEvent = 0, lastEvent = 0): RangePlan => ({ file, index, scope: 's', LFN: 'f', GUID: 'g', startEvent, lastEvent });
      switch (what) {
        case 'planTwice':
          return l.createTask(spec(), [plan(0, 0), plan(0, 1), plan(0, pick % 2)], now);
        case 'attempts':
          return l.createTask(spec({ attempts: [0, -1, 0.5, Number.NaN][pick % 4]! }), [plan(0, 0)], now);
        case 'rangeSize':
          return l.createTask(spec({ rangeSize: [0, -1, 0.5, Number.NaN][pick % 4]! }), [plan(0, 0)], now);
        case 'backwards':
          return l.createTask(spec(), [plan(0, 0, 5, 4)], now);
        case 'claimMax':
          return l.claim({ worker: 'w0', task: null, max: [-1, 0.5, Number.NaN, Number.POSITIVE_INFINITY][pick % 4]!, leaseMs: 100, now });
        case 'failEvents': {
          const r = modelRanges[pick % Math.max(1, modelRanges.length)];
          const key = r ? `${side.ids[model.ordinal.get(r.task)!]}-${r.file}-${r.index}` : 'no-such-key';
          const token = r?.token ? (side === model ? r.token : (sutTokenOf.get(r.token) ?? 'x')) : 'x';
          return l.fail(key, token, { eventsDone: [-1, 0.5, Number.NaN, 2 ** 53][pick % 4]!, message: 'bad', retryDelayMs: 0, now });
        }
      }
    };
    for (const side of [model, sut]) {
      const error: unknown = await call(side).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error, `${what} is refused with a LedgerError`).toBeInstanceOf(LedgerError);
      expect((error as LedgerError).code).toBe('invalid');
    }
  };

  const step = async (op: Op): Promise<void> => {
    switch (op.op) {
      case 'create':
        return create(op);
      case 'claim': {
        const req = { worker: `w${op.worker}`, max: op.max, leaseMs: op.leaseMs, now };
        const m = await model.ledger.claim({ ...req, task: model.taskId(op.task) });
        const t = await sut.ledger.claim({ ...req, task: sut.taskId(op.task) });
        return newLeases(m, t);
      }
      case 'peek': {
        const m = await model.ledger.peek(model.taskId(op.task), op.max);
        const t = await sut.ledger.peek(sut.taskId(op.task), op.max);
        return same('peek', m.map((r) => model.range(r)), t.map((r) => sut.range(r)));
      }
      case 'start':
      case 'finish':
      case 'fail':
      case 'release': {
        const p = pickLease(op.lease);
        if (!p) return;
        lastReport = { op, pair: p };
        return reportBoth(op, p);
      }
      case 'repeat':
        if (lastReport) return reportBoth(lastReport.op, lastReport.pair);
        return;
      case 'invalid':
        return invalidBoth(op.what, op.pick);
      case 'tick':
        now += op.advance;
        return;
      case 'reap': {
        now += op.advance;
        const m = await model.ledger.reap(now);
        const t = await sut.ledger.reap(now);
        same('reap', model.reap(m), sut.reap(t));
        for (const id of t.completed) expect((await sut.ledger.getTask(id))!.state, `reap completed task ${id}`).toBe(TaskStateName.complete);
        return;
      }
      case 'renew': {
        const m = await model.ledger.renew(`w${op.worker}`, op.leaseMs, now);
        const t = await sut.ledger.renew(`w${op.worker}`, op.leaseMs, now);
        return same('renew', m, t);
      }
      case 'heldBy': {
        const m = await model.ledger.heldBy(`w${op.worker}`);
        const t = await sut.ledger.heldBy(`w${op.worker}`);
        const sort = (side: Side, xs: Lease[]): unknown[] =>
          [...xs].sort((a, b) => a.range.key.localeCompare(b.range.key)).map((x) => side.lease(x));
        same('heldBy', sort(model, m), sort(sut, t));
        for (const ml of m) {
          const tl = t.find((x) => x.range.key === ml.range.key.replace(/^\d+/, String(sut.ids[model.ordinal.get(ml.range.task)!])));
          expect(tl?.token, 'heldBy hands back the token of the claim').toBe(sutTokenOf.get(ml.token));
        }
        return;
      }
      case 'cancel': {
        const m = await model.ledger.cancelTask(model.taskId(op.task)!);
        const t = await sut.ledger.cancelTask(sut.taskId(op.task)!);
        return same('cancelTask', m && model.task(m), t && sut.task(t));
      }
      case 'bogus': {
        const all = modelRanges;
        if (all.length === 0) return;
        const target = all[op.pick % all.length]!;
        const ord = model.ordinal.get(target.task)!;
        const sutKey = `${sut.ids[ord]}-${target.file}-${target.index}`;
        const m = await report(model, op.report, target.key, 'never-handed-out');
        const t = await report(sut, op.report, sutKey, 'never-handed-out');
        return same(`bogus ${op.report}`, model.outcome(m), sut.outcome(t));
      }
      case 'unknownKey': {
        const m = await report(model, op.report, 'no-such-key', 'x');
        const t = await report(sut, op.report, 'no-such-key', 'x');
        return same(`unknown ${op.report}`, m, t);
      }
    }
  };

  /** Whole state of both sides, compared after every step, plus the invariants. */
  const compare = async (): Promise<void> => {
    const mt = await model.ledger.listTasks();
    const tt = await sut.ledger.listTasks();
    const byId = (a: TaskRecord, b: TaskRecord): number => a.id - b.id;
    same('listTasks', mt.sort(byId).map((x) => model.task(x)), tt.sort(byId).map((x) => sut.task(x)));
    modelRanges = [];
    for (let ord = 0; ord < model.ids.length; ord++) {
      const mid = model.ids[ord]!;
      const tid = sut.ids[ord]!;
      const mr = await model.ledger.ranges(mid);
      const tr = await sut.ledger.ranges(tid);
      same(`ranges of task #${ord}`, mr.map((r) => model.range(r)), tr.map((r) => sut.range(r)));
      same(`progress of task #${ord}`, await model.ledger.progress(mid), await sut.ledger.progress(tid));
      same(`getTask #${ord}`, model.task((await model.ledger.getTask(mid))!), sut.task((await sut.ledger.getTask(tid))!));
      mr.forEach((m, i) => {
        const t = tr[i]!;
        // The current lease's token is the one handed out with it.
        if (m.state === RangeState.assigned || m.state === RangeState.running) {
          expect(t.token, `token of ${t.key}`).toBe(sutTokenOf.get(m.token!));
        }
        // Terminal states never change.
        const before = lastState.get(t.key);
        if (before !== undefined && TERMINAL_STATES.has(before)) expect(t.state, `terminal ${t.key} stays ${before}`).toBe(before);
        lastState.set(t.key, t.state);
        // Nothing is ever finished twice.
        expect(finishes.get(t.key) ?? 0, `ok finishes of ${t.key}`).toBeLessThanOrEqual(1);
        // The outcome fits the state: null exactly before the first claim and while held.
        expect(OUTCOMES_BY_STATE[t.state], `outcome ${t.outcome} of ${t.key} (${t.state})`).toContain(t.outcome);
        if (t.state === RangeState.ready) expect(t.outcome === null, `outcome of ready ${t.key} at attempt ${t.attempt}`).toBe(t.attempt === 0);
      });
      modelRanges.push(...mr);
      const task = (await sut.ledger.getTask(tid))!;
      // A complete or cancelled task never changes state (cancelTask leaves it as it is).
      const taskBefore = lastTaskState.get(ord);
      if (taskBefore !== undefined && taskBefore !== TaskStateName.active) expect(task.state, `task #${ord} stays ${taskBefore}`).toBe(taskBefore);
      lastTaskState.set(ord, task.state);
      if (task.state === TaskStateName.complete) {
        expect(tr.every((r) => TERMINAL_STATES.has(r.state)), `complete task #${ord} has only terminal ranges`).toBe(true);
      }
    }
  };

  for (const c of initial) await create(c);
  await compare();
  for (const op of ops) {
    await step(op);
    await compare();
  }
}
