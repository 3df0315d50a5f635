/**
 * The ledger contract (ledger-contract.ts) for every implementation, and what only the SQLite
 * ledger has to show: durability across a real `kill -9`, task ids across reopen, the schema
 * version check, the migration of a version-1 file, and the speed of a large createTask.
 * The Redis ledger runs the contract against a real redis-server (started on first use, one key
 * prefix per test); what only it has to show is in redis-ledger.test.ts.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { MemoryLedger } from '../src/dispatch/MemoryLedger.js';
import { RedisLedger } from '../src/dispatch/RedisLedger.js';
import { LEDGER_APPLICATION_ID, LEDGER_SCHEMA_VERSION, SqliteLedger, migrateLedgerSchema } from '../src/dispatch/SqliteLedger.js';
import { LedgerError, type RangeOutcome, type RangePlan, type RangeRecord, type TaskSpec } from '../src/dispatch/Ledger.js';
import { describeLedgerContract } from './ledger-contract.js';
import { writeV1Ledger, type V1Range } from './fixtures/ledger-v1.js';
import { startRedis, type RedisServer } from '../../testkit/src/redis.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const writer = fileURLToPath(new URL('./fixtures/sqlite-ledger-writer.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'ess-ledger-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const newPath = (): string => join(dir, `ledger-${++files}.db`);
const removeDb = (path: string): void => {
  for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
};

const spec = (o: Partial<TaskSpec> = {}): TaskSpec => ({ dataset: 's:n', rangeSize: 10, attempts: 2, priority: 0, label: '', ...o });
const plans = (n: number): RangePlan[] =>
  Array.from({ length: n }, (_, i) => ({ file: Math.floor(i / 1000), index: i % 1000, scope: 's', LFN: 'f', GUID: 'g', startEvent: (i % 1000) * 10, lastEvent: (i % 1000) * 10 + 9 }));

describeLedgerContract('MemoryLedger', async () => {
  const ledger = new MemoryLedger();
  return { ledger, close: () => ledger.close() };
});

describeLedgerContract('SqliteLedger (:memory:)', async () => {
  const ledger = SqliteLedger.open(':memory:');
  return { ledger, close: () => ledger.close() };
});

describeLedgerContract('SqliteLedger (file)', async () => {
  const path = newPath();
  const ledger = SqliteLedger.open(path);
  return {
    ledger,
    close: async () => {
      await ledger.close();
      removeDb(path);
    },
  };
});

// The contract drives a fake clock through the `now` arguments: clock 'caller' (servers use Redis's
// clock). AOF fsync once a second here: durability is shown with `always` in redis-ledger.test.ts.
let redisServer: Promise<RedisServer> | null = null;
let redisPrefixes = 0;
afterAll(async () => (redisServer ? (await redisServer).stop() : undefined));
describeLedgerContract('RedisLedger', async () => {
  redisServer ??= startRedis({ appendfsync: 'everysec' });
  const server = await redisServer;
  const ledger = await RedisLedger.open(server.url, { keyPrefix: `contract${++redisPrefixes}`, clock: 'caller' });
  return { ledger, close: () => ledger.close() };
});

describe('SqliteLedger — durability and schema', () => {
  it('survives kill -9: every range reported finished is finished, nothing else is, held ranges keep their leases', async () => {
    const path = newPath();
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', writer, path], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let killedAt = -1;
    const complete = (): string[] => out.slice(0, out.lastIndexOf('\n') + 1).split('\n').filter(Boolean);
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (killedAt < 0) {
        const n = complete().filter((l) => l.startsWith('finished ')).length;
        if (n >= 300) {
          killedAt = n;
          child.kill('SIGKILL');
        }
      }
    });
    const guard = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('close', (code, signal) => resolve({ code, signal })),
    );
    clearTimeout(guard);
    expect(killedAt, `the writer never reached 300 finishes: ${err}`).toBeGreaterThanOrEqual(300);
    expect(exit.signal).toBe('SIGKILL');

    const lines = complete();
    const taskId = Number(lines[0]!.split(' ')[1]);
    const claimed = new Map<string, { token: string; leaseUntil: number }>();
    const finished = new Set<string>();
    for (const l of lines.slice(1)) {
      const [what, key, token, leaseUntil] = l.split(' ');
      if (what === 'claimed') claimed.set(key!, { token: token!, leaseUntil: Number(leaseUntil) });
      else if (what === 'finished') finished.add(key!);
      else throw new Error(`unexpected line ${l}`);
    }
    expect(finished.size).toBeLessThan(2_000); // killed mid-run, not after

    const ledger = SqliteLedger.open(path);
    try {
      const rs = await ledger.ranges(taskId);
      expect(rs).toHaveLength(2_000);
      const state = new Map(rs.map((r) => [r.key, r]));
      for (const key of finished) expect(state.get(key)!.state, key).toBe('finished');
      // At most the one finish in flight when the signal came is recorded without having been printed.
      const unprinted = rs.filter((r) => r.state === 'finished' && !finished.has(r.key));
      expect(unprinted.length).toBeLessThanOrEqual(1);
      for (const r of unprinted) expect(claimed.has(r.key)).toBe(true);
      // Claimed and not finished: still assigned to the worker, under the lease it was given.
      const held = [...claimed].filter(([key]) => !finished.has(key) && !unprinted.some((r) => r.key === key));
      expect(held.length).toBeGreaterThan(0);
      for (const [key, c] of held) {
        expect(state.get(key), key).toMatchObject({ state: 'assigned', worker: 'w', token: c.token, leaseUntil: c.leaseUntil, attempt: 1, attemptsLeft: 3 });
      }
      // A claim in flight may have been recorded without being printed: at most one batch.
      const assigned = rs.filter((r) => r.state === 'assigned');
      expect(assigned.filter((r) => !claimed.has(r.key)).length).toBeLessThanOrEqual(3);
      expect(rs.filter((r) => r.state !== 'finished' && r.state !== 'assigned').every((r) => r.state === 'ready' && r.attempt === 0)).toBe(true);
      const progress = (await ledger.progress(taskId))!;
      expect(progress.ranges.finished).toBe(finished.size + unprinted.length);
      expect(progress.eventsDone).toBe(10 * (finished.size + unprinted.length));

      // The worker reconnects within its lease: its ranges are still its own.
      expect((await ledger.heldBy('w')).map((l) => l.range.key).sort()).toEqual(assigned.map((r) => r.key).sort());
      const [key, c] = held[0]!;
      expect(await ledger.reap(Date.now())).toEqual({ released: [], completed: [] });
      expect(await ledger.finish(key, c.token, Date.now())).toMatchObject({ kind: 'ok', range: { state: 'finished' } });
      // The others lapse when their lease does: back to ready with one attempt fewer.
      const { released: lapsed, completed } = await ledger.reap(Math.max(...assigned.map((r) => r.leaseUntil!)));
      expect(completed).toEqual([]);
      expect(lapsed.map((r) => r.key).sort()).toEqual(assigned.filter((r) => r.key !== key).map((r) => r.key).sort());
      for (const r of lapsed) expect(r).toMatchObject({ state: 'ready', attemptsLeft: 2, message: 'lease expired', outcome: 'released' });
    } finally {
      await ledger.close();
    }
  }, 20_000);

  it('keeps state and task ids across reopen; ids are never reused, also after a delete', async () => {
    const path = newPath();
    let l = SqliteLedger.open(path);
    const t1 = await l.createTask(spec(), plans(2), 10);
    const t2 = await l.createTask(spec({ priority: 2 }), plans(1), 11);
    const [lease] = await l.claim({ worker: 'w', task: t1.id, max: 1, leaseMs: 1000, now: 20 });
    await l.close();

    l = SqliteLedger.open(path);
    expect(await l.listTasks()).toEqual([t1, t2]);
    expect(await l.getRange(lease!.range.key)).toEqual(lease!.range);
    expect(await l.heldBy('w')).toEqual([lease]);
    const t3 = await l.createTask(spec(), plans(1), 30);
    expect(t3.id).toBeGreaterThan(t2.id);
    expect((await l.finish(lease!.range.key, lease!.token, 40)).kind).toBe('ok');
    await l.close();

    // Deleting the newest task (as a future `ess task rm` would) does not free its id.
    const db = new Database(path);
    db.pragma('foreign_keys = ON');
    db.prepare('DELETE FROM tasks WHERE id = ?').run(t3.id);
    expect((db.prepare('SELECT count(*) AS n FROM ranges WHERE task = ?').get(t3.id) as { n: number }).n).toBe(0);
    db.close();

    l = SqliteLedger.open(path);
    expect((await l.listTasks()).map((t) => t.id)).toEqual([t1.id, t2.id]);
    const t4 = await l.createTask(spec(), plans(1), 50);
    expect(t4.id).toBeGreaterThan(t3.id);
    expect((await l.getRange(lease!.range.key))!.state).toBe('finished');
    await l.close();
  });

  it('stamps the schema version and refuses a newer schema or a foreign database, with a clear error', async () => {
    const path = newPath();
    await SqliteLedger.open(path, { synchronous: 'full' }).close();
    const db = new Database(path);
    expect(db.pragma('user_version', { simple: true })).toBe(LEDGER_SCHEMA_VERSION);
    expect(db.pragma('application_id', { simple: true })).toBe(LEDGER_APPLICATION_ID);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.pragma(`user_version = ${LEDGER_SCHEMA_VERSION + 98}`);
    db.close();
    expect(() => SqliteLedger.open(path)).toThrow(new RegExp(`schema version ${LEDGER_SCHEMA_VERSION + 98}, newer than this ESS understands \\(${LEDGER_SCHEMA_VERSION}\\)`));

    const foreign = newPath();
    const other = new Database(foreign);
    other.exec('CREATE TABLE notes (x TEXT)');
    other.close();
    expect(() => SqliteLedger.open(foreign)).toThrow(/is not an ESS ledger/);
  });

  it('migrates a version-1 file: the data is kept, outcomes are filled in where the state tells them, and the new rules apply', async () => {
    const T = (n: number): string => `v1-token-${String(n).padStart(7, '0')}`; // 16 characters, like real tokens
    const range = (idx: number, o: Partial<V1Range>): V1Range => ({
      file: 0,
      idx,
      scope: 's',
      lfn: 'f',
      guid: 'g',
      start_event: idx * 10,
      last_event: idx * 10 + 9,
      state: 'ready',
      attempt: 0,
      attempts_left: 3,
      worker: null,
      token: null,
      lease_until: null,
      retry_at: null,
      events_done: 0,
      message: null,
      ...o,
    });
    const held = { worker: 'w', lease_until: 10_000 };
    const active = [
      range(0, {}),
      range(1, { state: 'assigned', attempt: 1, token: T(1), ...held }),
      range(2, { state: 'running', attempt: 2, attempts_left: 2, token: T(2), message: 'lease expired', ...held }),
      range(3, { state: 'finished', attempt: 1, token: T(3), events_done: 10 }),
      range(4, { state: 'failed', attempt: 1, attempts_left: 2, token: T(4), retry_at: 500, start_event: 43, events_done: 3, message: 'segfault' }),
      range(5, { state: 'fatal', attempt: 3, attempts_left: 0, token: T(5), message: 'lease expired' }),
      range(6, { state: 'ready', attempt: 1, attempts_left: 2, token: T(6), message: 'worker disconnected' }),
    ];
    const cancelled = [range(0, { state: 'cancelled', attempt: 1, attempts_left: 2, token: T(7) })];
    const task = { dataset: 's:v1', range_size: 10, attempts: 3, priority: 2, label: 'written by v1', created_at: 100 };
    const path = newPath();
    const [a, b] = writeV1Ledger(path, [
      { task: { ...task, state: 'active', ranges_total: 7, events_total: 70, open: 5 }, ranges: active },
      { task: { ...task, attempts: 2, state: 'cancelled', ranges_total: 1, events_total: 10, open: 0 }, ranges: cancelled },
    ]) as [number, number];
    const record = (id: number, r: V1Range, outcome: RangeOutcome | null): RangeRecord => ({
      task: id,
      file: r.file,
      index: r.idx,
      key: `${id}-${r.file}-${r.idx}`,
      scope: r.scope,
      LFN: r.lfn,
      GUID: r.guid,
      startEvent: r.start_event,
      lastEvent: r.last_event,
      state: r.state,
      attempt: r.attempt,
      attemptsLeft: r.attempts_left,
      worker: r.worker,
      token: r.token,
      leaseUntil: r.lease_until,
      retryAt: r.retry_at,
      eventsDone: r.events_done,
      message: r.message,
      outcome,
    });
    const outcomes: (RangeOutcome | null)[] = [null, null, null, 'finished', 'failed', null, null];
    const key = (i: number): string => `${a}-0-${i}`;

    let l = SqliteLedger.open(path);
    try {
      // The data, as version 1 left it, plus the outcome.
      const spec = { dataset: 's:v1', rangeSize: 10, attempts: 3, priority: 2, label: 'written by v1' };
      expect(await l.listTasks()).toEqual([
        { id: a, spec, createdAt: 100, state: 'active', rangesTotal: 7, eventsTotal: 70 },
        { id: b, spec: { ...spec, attempts: 2 }, createdAt: 100, state: 'cancelled', rangesTotal: 1, eventsTotal: 10 },
      ]);
      expect(await l.ranges(a)).toEqual(active.map((r, i) => record(a, r, outcomes[i]!)));
      expect(await l.ranges(b)).toEqual([record(b, cancelled[0]!, 'cancelled')]);
      expect((await l.heldBy('w')).map((x) => [x.range.key, x.token, x.eventRangeID])).toEqual([
        [key(1), T(1), `${a}-0-1-1`],
        [key(2), T(2), `${a}-0-2-2`],
      ]);
      expect(await l.progress(a)).toEqual({ ranges: { ready: 2, assigned: 1, running: 1, finished: 1, failed: 1, fatal: 1, cancelled: 0 }, eventsDone: 13 });

      // Held ranges carry on under their tokens, with the new rules.
      expect(await l.finish(key(1), T(1), 1)).toMatchObject({ kind: 'ok', range: { state: 'finished', outcome: 'finished', worker: null } });
      expect((await l.finish(key(1), T(1), 2)).kind).toBe('duplicate');
      expect(await l.renew('w', 1000, 9_999)).toBe(1);
      const failure = { eventsDone: 4, message: 'oops', retryDelayMs: 0, now: 3 };
      expect(await l.fail(key(2), T(2), failure)).toMatchObject({ kind: 'ok', range: { state: 'ready', outcome: 'failed', startEvent: 24, attemptsLeft: 1 } });
      expect((await l.fail(key(2), T(2), failure)).kind).toBe('duplicate');
      // Ranges whose outcome the state told answer repeats as version 1 did.
      expect((await l.finish(key(3), T(3), 4)).kind).toBe('duplicate');
      expect((await l.fail(key(3), T(3), failure)).kind).toBe('fenced');
      expect((await l.fail(key(4), T(4), failure)).kind).toBe('duplicate');
      expect((await l.finish(key(4), T(4), 4)).kind).toBe('fenced');
      // Those it did not tell (fatal, ready after an attempt) fence every late report.
      for (const i of [5, 6]) {
        expect((await l.fail(key(i), T(i), failure)).kind).toBe('fenced');
        expect((await l.release(key(i), T(i), true, 'late')).kind).toBe('fenced');
        expect((await l.finish(key(i), T(i), 4)).kind).toBe('fenced');
      }
      expect((await l.finish(`${b}-0-0`, T(7), 4)).kind).toBe('fenced');
      expect(await l.cancelTask(b)).toMatchObject({ id: b, state: 'cancelled' });

      // Reap readies the failed range (its outcome stays), claims clear outcomes.
      const reaped = await l.reap(500);
      expect(reaped).toEqual({ released: [{ ...record(a, active[4]!, 'failed'), state: 'ready', retryAt: null }], completed: [] });
      expect((await l.fail(key(4), T(4), failure)).kind).toBe('duplicate');
      const claimed = await l.claim({ worker: 'v', task: a, max: 10, leaseMs: 100, now: 600 });
      expect(claimed.map((x) => [x.range.key, x.range.attempt, x.range.outcome])).toEqual([
        [key(0), 1, null],
        [key(2), 3, null],
        [key(4), 2, null],
        [key(6), 2, null],
      ]);
      expect(new Set(claimed.map((x) => x.token)).size).toBe(4);
      const t = await l.createTask({ ...spec, label: 'new' }, plans(1), 700);
      expect(t.id).toBeGreaterThan(b);
      const snapshot = [await l.listTasks(), await l.ranges(a), await l.ranges(b), await l.ranges(t.id)];
      await l.close();

      // Opened again: the current version, nothing migrated twice, nothing changed.
      l = SqliteLedger.open(path);
      expect([await l.listTasks(), await l.ranges(a), await l.ranges(b), await l.ranges(t.id)]).toEqual(snapshot);
    } finally {
      await l.close();
    }
    const db = new Database(path);
    try {
      expect(db.pragma('user_version', { simple: true })).toBe(LEDGER_SCHEMA_VERSION);
      expect(db.pragma('application_id', { simple: true })).toBe(LEDGER_APPLICATION_ID);
      expect(migrateLedgerSchema(db)).toEqual({ from: LEDGER_SCHEMA_VERSION, to: LEDGER_SCHEMA_VERSION });
      expect(() => db.prepare(`UPDATE ranges SET outcome = 'bogus' WHERE key = ?`).run(key(0))).toThrow(/CHECK constraint/);
    } finally {
      db.close();
    }

    // migrateLedgerSchema itself, on a fresh version-1 file: one step per version, 1 → 2 → 3.
    const other = newPath();
    writeV1Ledger(other, [{ task: { ...task, state: 'active', ranges_total: 1, events_total: 10, open: 1 }, ranges: [range(0, {})] }]);
    const raw = new Database(other);
    try {
      expect(migrateLedgerSchema(raw)).toEqual({ from: 1, to: LEDGER_SCHEMA_VERSION });
      expect(LEDGER_SCHEMA_VERSION).toBe(3);
      expect(raw.prepare('SELECT outcome FROM ranges').all()).toEqual([{ outcome: null }]);
    } finally {
      raw.close();
    }
  });

  it('creates a task of 10,000 ranges in one quick transaction', async () => {
    const path = newPath();
    const l = SqliteLedger.open(path);
    try {
      const ps = plans(10_000);
      const t0 = performance.now();
      const t = await l.createTask(spec(), ps, 0);
      const ms = performance.now() - t0;
      expect(ms).toBeLessThan(2_000);
      expect(t).toMatchObject({ rangesTotal: 10_000, eventsTotal: 100_000 });
      expect((await l.progress(t.id))!.ranges.ready).toBe(10_000);
      const leases = await l.claim({ worker: 'w', task: null, max: 5, leaseMs: 100, now: 0 });
      expect(leases.map((x) => x.range.key)).toEqual([0, 1, 2, 3, 4].map((i) => `${t.id}-0-${i}`));
      // A duplicate (file, index) is refused and nothing of the task is written.
      await expect(l.createTask(spec(), [...plans(3), ...plans(1)], 0)).rejects.toThrow(/planned twice/);
      await expect(l.createTask(spec(), [...plans(3), ...plans(1)], 0)).rejects.toBeInstanceOf(LedgerError);
      expect((await l.listTasks()).map((x) => x.id)).toEqual([t.id]);
    } finally {
      await l.close();
    }
  });
});
