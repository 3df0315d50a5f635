import { describe, expect, it } from 'vitest';
import { MemoryLedger } from '../src/dispatch/MemoryLedger.js';
import type { RangePlan, TaskSpec } from '../src/dispatch/Ledger.js';

const spec = (o: Partial<TaskSpec> = {}): TaskSpec => ({ dataset: 's:n', rangeSize: 10, attempts: 2, priority: 0, label: '', ...o });
const plans = (n: number, file = 0): RangePlan[] =>
  Array.from({ length: n }, (_, i) => ({ file, index: i, scope: 's', LFN: `f${file}`, GUID: 'g', startEvent: i * 10, lastEvent: i * 10 + 9 }));

describe('MemoryLedger', () => {
  it('claims in order under fresh random tokens and encodes the attempt in the eventRangeID', async () => {
    const l = new MemoryLedger();
    const t = await l.createTask(spec(), plans(3), 0);
    const a = await l.claim({ worker: 'w', task: t.id, max: 2, leaseMs: 1000, now: 0 });
    expect(a.map((x) => x.eventRangeID)).toEqual(['1-0-0-1', '1-0-1-1']);
    expect(new Set(a.map((x) => x.token)).size).toBe(2);
    expect(a[0]!.token).toMatch(/^[\w-]{16}$/);
    expect((await l.progress(t.id))!.ranges).toMatchObject({ ready: 1, assigned: 2 });
  });

  it('finish is retry-safe: the same token again is a duplicate, another token is fenced', async () => {
    const l = new MemoryLedger();
    await l.createTask(spec(), plans(1), 0);
    const [lease] = await l.claim({ worker: 'w', task: 1, max: 1, leaseMs: 1000, now: 0 });
    const first = await l.finish(lease!.range.key, lease!.token, 1);
    expect(first).toMatchObject({ kind: 'ok', taskComplete: true });
    expect((await l.finish(lease!.range.key, lease!.token, 2)).kind).toBe('duplicate');
    expect((await l.finish(lease!.range.key, 'stale', 2)).kind).toBe('fenced');
    expect((await l.finish('9-9-9', 'x', 2)).kind).toBe('unknown');
    expect((await l.getTask(1))!.state).toBe('complete');
  });

  it('a released range comes back with one attempt fewer, a new attempt number and token; at zero it is fatal', async () => {
    const l = new MemoryLedger();
    await l.createTask(spec({ attempts: 2 }), plans(1), 0);
    const [a] = await l.claim({ worker: 'w1', task: 1, max: 1, leaseMs: 1000, now: 0 });
    expect((await l.release(a!.range.key, a!.token, true, 'gone')).kind).toBe('ok');
    const [b] = await l.claim({ worker: 'w2', task: 1, max: 1, leaseMs: 1000, now: 0 });
    expect(b!.eventRangeID).toBe('1-0-0-2');
    expect(b!.token).not.toBe(a!.token);
    // The first holder's late report is fenced.
    expect((await l.finish(a!.range.key, a!.token, 0)).kind).toBe('fenced');
    const last = await l.release(b!.range.key, b!.token, true, 'gone again');
    expect(last).toMatchObject({ kind: 'ok', taskComplete: true });
    expect((await l.getRange(b!.range.key))!.state).toBe('fatal');
  });

  it('releasing without consuming an attempt keeps the count', async () => {
    const l = new MemoryLedger();
    await l.createTask(spec({ attempts: 1 }), plans(1), 0);
    const [a] = await l.claim({ worker: 'w', task: 1, max: 1, leaseMs: 1000, now: 0 });
    await l.release(a!.range.key, a!.token, false, 'shutdown');
    expect((await l.getRange(a!.range.key))!).toMatchObject({ state: 'ready', attemptsLeft: 1 });
  });

  it('keeps partial progress of a failure and retries only the rest, after the retry delay', async () => {
    const l = new MemoryLedger();
    await l.createTask(spec({ attempts: 3 }), plans(1), 0);
    const [a] = await l.claim({ worker: 'w', task: 1, max: 1, leaseMs: 1000, now: 0 });
    const o = await l.fail(a!.range.key, a!.token, { eventsDone: 4, message: 'segfault', retryDelayMs: 500, now: 100 });
    expect(o.kind).toBe('ok');
    const r = (await l.getRange(a!.range.key))!;
    expect(r).toMatchObject({ state: 'failed', startEvent: 4, lastEvent: 9, eventsDone: 4, attemptsLeft: 2, message: 'segfault' });
    expect(await l.claim({ worker: 'w', task: 1, max: 1, leaseMs: 1000, now: 200 })).toEqual([]);
    await l.reap(599);
    expect((await l.getRange(a!.range.key))!.state).toBe('failed');
    await l.reap(600);
    const [b] = await l.claim({ worker: 'w', task: 1, max: 1, leaseMs: 1000, now: 700 });
    expect(b!.range).toMatchObject({ startEvent: 4, attempt: 2 });
    await l.finish(b!.range.key, b!.token, 800);
    expect((await l.progress(1))!.eventsDone).toBe(10);
  });

  it('reaps lapsed leases, and renew keeps them alive', async () => {
    const l = new MemoryLedger();
    await l.createTask(spec(), plans(2), 0);
    const [a, b] = await l.claim({ worker: 'w', task: 1, max: 2, leaseMs: 100, now: 0 });
    expect(await l.renew('w', 100, 50)).toBe(2);
    expect(await l.reap(120)).toEqual({ released: [], completed: [] });
    const reaped = await l.reap(151);
    expect(reaped.released.map((r) => r.key).sort()).toEqual([a!.range.key, b!.range.key].sort());
    expect(reaped.completed).toEqual([]);
    expect((await l.progress(1))!.ranges.ready).toBe(2);
  });

  it('hands out copies: changing a returned record or outcome changes nothing stored', async () => {
    const l = new MemoryLedger();
    await l.createTask(spec({ attempts: 1 }), plans(2), 0);
    const [a, b] = await l.claim({ worker: 'w', task: 1, max: 2, leaseMs: 1000, now: 0 });
    const stored = await l.getRange(a!.range.key);
    (a!.range as { state: string }).state = 'finished';
    const o = await l.fail(b!.range.key, b!.token, { eventsDone: 0, message: 'x', retryDelayMs: 0, now: 1 });
    expect(o).toMatchObject({ kind: 'ok', range: { state: 'fatal', outcome: 'failed', worker: null } });
    if (o.kind === 'ok') (o.range as { outcome: string | null }).outcome = 'released';
    const r = (await l.reap(0)).released;
    expect(r).toEqual([]);
    expect(await l.getRange(a!.range.key)).toEqual(stored);
    expect(await l.getRange(b!.range.key)).toMatchObject({ state: 'fatal', outcome: 'failed' });
    expect(await l.fail(b!.range.key, b!.token, { eventsDone: 0, message: 'again', retryDelayMs: 0, now: 2 })).toMatchObject({ kind: 'duplicate' });
  });

  it('claims across tasks by priority, then age; cancel ends what is open', async () => {
    const l = new MemoryLedger();
    await l.createTask(spec({ priority: 0 }), plans(1), 0);
    await l.createTask(spec({ priority: 5 }), plans(1), 0);
    const [first] = await l.claim({ worker: 'w', task: null, max: 1, leaseMs: 100, now: 0 });
    expect(first!.range.task).toBe(2);
    expect((await l.peek(null, 5)).map((r) => r.task)).toEqual([1]);
    await l.cancelTask(1);
    expect((await l.getTask(1))!.state).toBe('cancelled');
    expect(await l.claim({ worker: 'w', task: null, max: 1, leaseMs: 100, now: 0 })).toEqual([]);
  });
});
