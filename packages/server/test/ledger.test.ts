/**
 * The ledger contract (ledger-contract.ts) for every implementation, and what only the SQLite
 * ledger has to show: durability across a real `kill -9`, task ids across reopen, the schema
 * version check, and the speed of a large createTask.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { MemoryLedger } from '../src/dispatch/MemoryLedger.js';
import { LEDGER_APPLICATION_ID, LEDGER_SCHEMA_VERSION, SqliteLedger } from '../src/dispatch/SqliteLedger.js';
import type { RangePlan, TaskSpec } from '../src/dispatch/Ledger.js';
import { describeLedgerContract } from './ledger-contract.js';

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
      expect(await ledger.reap(Date.now())).toEqual([]);
      expect(await ledger.finish(key, c.token, Date.now())).toMatchObject({ kind: 'ok', range: { state: 'finished' } });
      // The others lapse when their lease does: back to ready with one attempt fewer.
      const lapsed = await ledger.reap(Math.max(...assigned.map((r) => r.leaseUntil!)));
      expect(lapsed.map((r) => r.key).sort()).toEqual(assigned.filter((r) => r.key !== key).map((r) => r.key).sort());
      for (const r of lapsed) expect(r).toMatchObject({ state: 'ready', attemptsLeft: 2, message: 'lease expired' });
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
      expect((await l.listTasks()).map((x) => x.id)).toEqual([t.id]);
    } finally {
      await l.close();
    }
  });
});
