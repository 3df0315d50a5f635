/**
 * The ledger in an embedded SQLite database (better-sqlite3): the durable ledger of a single ESS
 * node. Behaviour is that of MemoryLedger (the reference implementation) method for method: same
 * outcomes, states, counts and claim order; only the fencing tokens differ (random).
 *
 * Storage: one database file in WAL mode. Every method is one SQLite transaction (writes take the
 * write lock up front, `BEGIN IMMEDIATE`), built from statements prepared once at open. A method
 * either happened entirely or not at all, whatever stops the process.
 *
 * Durability: with `synchronous = NORMAL` (the default here) a commit appends to the WAL file and
 * returns without fsync; the WAL is fsynced at each checkpoint. The appended pages are in the
 * operating system's page cache the moment `commit` returns, so a process that is killed (`kill -9`,
 * a crash, an OOM kill) loses nothing it was told was recorded. An OS crash or a power cut can lose
 * the last transactions before the most recent checkpoint (the database stays consistent, it just
 * rolls back to an earlier state: a finished range could come back as assigned and be redone —
 * never finished twice). `synchronous: 'full'` fsyncs the WAL on every commit and survives that
 * too, at the price of one fsync per report.
 *
 * Restart: the file is the truth. On open, ranges that were `assigned` or `running` keep their
 * worker, token and lease exactly as they were: a worker that reconnects within its lease finds its
 * ranges in `heldBy` and its reports (with the tokens it holds) are accepted; a worker that does not
 * come back loses them when `reap` sees the lease lapse (back to `ready`, one attempt fewer, or
 * `fatal` at zero). Nothing is reset at open — a server that restarts faster than the lease gives
 * its workers the chance to carry on. `failed` ranges keep their retry time.
 *
 * Schema: versioned with `PRAGMA user_version` (see LEDGER_SCHEMA_VERSION and MIGRATIONS); a file
 * of an older version is migrated at open, one version per transaction; opening a file written by
 * a newer ESS fails with a clear error rather than guessing.
 */
import Database from 'better-sqlite3';
import { RangeState, TaskStateName, formatRangeId, rangeKey } from '@ess/protocol';
import type { Logger } from '../log.js';
import {
  checkClaim,
  checkCounts,
  checkFailure,
  checkTask,
  reportVerdict,
  storedSpec,
  type ClaimRequest,
  type DeliveryCounts,
  type FailOutcome,
  type Lease,
  type Ledger,
  type LedgerOutcome,
  type RangeOutcome,
  type RangePlan,
  type RangeRecord,
  type ReapResult,
  type ReportKind,
  type TaskProgress,
  type TaskRecord,
  type TaskSpec,
} from './Ledger.js';
import { emptyCounts, newFencingToken } from './MemoryLedger.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export interface SqliteLedgerOptions {
  readonly log?: Logger;
  /**
   * `normal` (default): durable against a killed process, not against an OS crash or power cut.
   * `full`: fsync on every commit, durable against both.
   */
  readonly synchronous?: 'normal' | 'full';
  /** How long a write waits for another connection's lock before failing (ms). */
  readonly busyTimeoutMs?: number;
}

/** The schema version this code reads and writes. */
export const LEDGER_SCHEMA_VERSION = 3;
/** `PRAGMA application_id` of an ESS ledger file ('ESSL'), so that a foreign SQLite file is refused. */
export const LEDGER_APPLICATION_ID = 0x4553534c;

const SCHEMA_V1 = `
CREATE TABLE tasks (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, also after deletes
  dataset      TEXT    NOT NULL,
  range_size   INTEGER NOT NULL,
  attempts     INTEGER NOT NULL,
  priority     INTEGER NOT NULL,                   -- higher first
  label        TEXT    NOT NULL,
  state        TEXT    NOT NULL CHECK (state IN ('active', 'complete', 'cancelled')),
  created_at   INTEGER NOT NULL,
  ranges_total INTEGER NOT NULL,
  events_total INTEGER NOT NULL,
  open         INTEGER NOT NULL CHECK (open >= 0)  -- ranges not yet terminal; 0 completes the task
);
-- Claim order across tasks: active tasks by priority, then age.
CREATE INDEX tasks_claim_order ON tasks (priority DESC, id) WHERE state = 'active';

CREATE TABLE ranges (
  task          INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  file          INTEGER NOT NULL,
  idx           INTEGER NOT NULL,
  key           TEXT    NOT NULL UNIQUE,           -- task-file-idx
  scope         TEXT    NOT NULL,
  lfn           TEXT    NOT NULL,
  guid          TEXT    NOT NULL,
  start_event   INTEGER NOT NULL,                  -- moves forward with partial progress
  last_event    INTEGER NOT NULL,
  state         TEXT    NOT NULL CHECK (state IN ('ready', 'assigned', 'running', 'finished', 'failed', 'fatal', 'cancelled')),
  attempt       INTEGER NOT NULL,
  attempts_left INTEGER NOT NULL,
  worker        TEXT,                              -- set exactly while assigned/running
  token         TEXT,
  lease_until   INTEGER,                           -- set exactly while assigned/running
  retry_at      INTEGER,                           -- set exactly while failed
  events_done   INTEGER NOT NULL,
  message       TEXT,
  PRIMARY KEY (task, file, idx)
) WITHOUT ROWID;
-- Claim order within a task, over ready ranges only (small: it shrinks as the task progresses).
CREATE INDEX ranges_ready ON ranges (task, file, idx) WHERE state = 'ready';
-- heldBy / renew.
CREATE INDEX ranges_worker ON ranges (worker) WHERE worker IS NOT NULL;
-- reap: lapsed leases, and failed ranges whose retry time came.
CREATE INDEX ranges_lease ON ranges (lease_until) WHERE lease_until IS NOT NULL;
CREATE INDEX ranges_retry ON ranges (retry_at) WHERE retry_at IS NOT NULL;
`;

/**
 * Version 2: `ranges.outcome`, the outcome recorded under the range's current token (see Ledger.ts),
 * which decides whether a repeated report is a duplicate. Ranges of a version-1 file get the
 * outcome their state tells without doubt, so that they answer repeated reports as version 1 did:
 * `finished` → 'finished' (version 1 did not tell a finish from a failure that reported every event
 * done, and answered a repeated finish as a duplicate), `failed` → 'failed', `cancelled` →
 * 'cancelled'. `fatal` ranges and `ready` ranges after an attempt could have got there through a
 * failure or a release: they stay NULL, so a late report with their last token is fenced. Held
 * ranges and ranges never claimed are NULL anyway.
 */
const SCHEMA_V2 = `
ALTER TABLE ranges ADD COLUMN outcome TEXT CHECK (outcome IN ('finished', 'failed', 'released', 'cancelled'));
UPDATE ranges SET outcome = state WHERE state IN ('finished', 'failed', 'cancelled');
`;

/**
 * Version 3: a task's skim and slim (`tasks.skim`, `tasks.slim` as a JSON array; NULL when not
 * set), and what a finished range's delivery counted (`ranges.events_read`, `ranges.events_passed`;
 * NULL until a finish records them). Existing rows get NULL everywhere: no skim, no slim, no counts.
 */
const SCHEMA_V3 = `
ALTER TABLE tasks ADD COLUMN skim TEXT;
ALTER TABLE tasks ADD COLUMN slim TEXT;
ALTER TABLE ranges ADD COLUMN events_read INTEGER CHECK (events_read >= 0);
ALTER TABLE ranges ADD COLUMN events_passed INTEGER CHECK (events_passed >= 0 AND events_passed <= events_read);
`;

interface Migration {
  readonly to: number;
  readonly up: (db: Database.Database) => void;
}

/** Step i takes the schema from version `to - 1` to `to`. Append, never edit. */
const MIGRATIONS: readonly Migration[] = [
  {
    to: 1,
    up: (db) => {
      db.exec(SCHEMA_V1);
      db.pragma(`application_id = ${LEDGER_APPLICATION_ID}`);
    },
  },
  {
    to: 2,
    up: (db) => db.exec(SCHEMA_V2),
  },
  {
    to: 3,
    up: (db) => db.exec(SCHEMA_V3),
  },
];

/**
 * Brings the schema of an open database up to LEDGER_SCHEMA_VERSION, one version per transaction.
 * Refuses a file of another application or of a newer schema. Returns the versions before and after.
 */
export function migrateLedgerSchema(db: Database.Database, log?: Logger): { from: number; to: number } {
  const appId = db.pragma('application_id', { simple: true }) as number;
  const from = db.pragma('user_version', { simple: true }) as number;
  if (appId !== 0 && appId !== LEDGER_APPLICATION_ID) {
    throw new Error(`${db.name} is not an ESS ledger (application_id ${appId})`);
  }
  if (appId === 0) {
    const tables = db.prepare(`SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'`).get() as { n: number };
    if (from !== 0 || tables.n > 0) throw new Error(`${db.name} is not an ESS ledger (a database of something else)`);
  }
  if (from > LEDGER_SCHEMA_VERSION) {
    throw new Error(
      `ledger ${db.name} has schema version ${from}, newer than this ESS understands (${LEDGER_SCHEMA_VERSION}); ` +
        'upgrade ESS or open another ledger file',
    );
  }
  for (const m of MIGRATIONS) {
    if (m.to <= from) continue;
    db.transaction(() => {
      m.up(db);
      db.pragma(`user_version = ${m.to}`);
    }).immediate();
    log?.info({ ledger: db.name, schema: m.to }, from === 0 ? 'ledger schema created' : 'ledger schema migrated');
  }
  return { from, to: LEDGER_SCHEMA_VERSION };
}

interface TaskRow {
  id: number;
  dataset: string;
  range_size: number;
  attempts: number;
  priority: number;
  label: string;
  state: TaskStateName;
  created_at: number;
  ranges_total: number;
  events_total: number;
  open: number;
  skim: string | null;
  slim: string | null;
}

interface RangeRow {
  task: number;
  file: number;
  idx: number;
  key: string;
  scope: string;
  lfn: string;
  guid: string;
  start_event: number;
  last_event: number;
  state: RangeState;
  attempt: number;
  attempts_left: number;
  worker: string | null;
  token: string | null;
  lease_until: number | null;
  retry_at: number | null;
  events_done: number;
  message: string | null;
  outcome: RangeOutcome | null;
  events_read: number | null;
  events_passed: number | null;
}

type Range = Mutable<RangeRecord>;

const HELD = `('assigned', 'running')`;
const TERMINAL = `('finished', 'fatal', 'cancelled')`;

function prepareStatements(db: Database.Database) {
  return {
    insertTask: db.prepare<[string, number, number, number, string, TaskStateName, number, number, number, number, string | null, string | null]>(
      `INSERT INTO tasks (dataset, range_size, attempts, priority, label, state, created_at, ranges_total, events_total, open, skim, slim)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    setCounts: db.prepare<[number, number, number, number, number]>(
      `UPDATE ranges SET events_read = ?, events_passed = ? WHERE task = ? AND file = ? AND idx = ?`,
    ),
    insertRange: db.prepare<[number, number, number, string, string, string, string, number, number, number]>(
      `INSERT INTO ranges (task, file, idx, key, scope, lfn, guid, start_event, last_event, state, attempt, attempts_left, events_done)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'ready', 0, ?, 0)`,
    ),
    task: db.prepare<[number], TaskRow>(`SELECT * FROM tasks WHERE id = ?`),
    tasks: db.prepare<[], TaskRow>(`SELECT * FROM tasks ORDER BY id`),
    tasksIn: db.prepare<[TaskStateName], TaskRow>(`SELECT * FROM tasks WHERE state = ? ORDER BY id`),
    activeTasks: db.prepare<[], { id: number }>(
      `SELECT id FROM tasks INDEXED BY tasks_claim_order WHERE state = 'active' ORDER BY priority DESC, id`,
    ),
    activeTask: db.prepare<[number], { id: number }>(`SELECT id FROM tasks WHERE id = ? AND state = 'active'`),
    updateTask: db.prepare<[TaskStateName, number, number]>(`UPDATE tasks SET state = ?, open = ? WHERE id = ?`),
    counts: db.prepare<[number], { state: RangeState; n: number; events: number }>(
      `SELECT state, count(*) AS n, sum(events_done) AS events FROM ranges WHERE task = ? GROUP BY state`,
    ),
    rangesOf: db.prepare<[number], RangeRow>(`SELECT * FROM ranges WHERE task = ? ORDER BY file, idx`),
    range: db.prepare<[string], RangeRow>(`SELECT * FROM ranges WHERE key = ?`),
    ready: db.prepare<[number, number], RangeRow>(
      `SELECT * FROM ranges INDEXED BY ranges_ready WHERE task = ? AND state = 'ready' ORDER BY file, idx LIMIT ?`,
    ),
    assign: db.prepare<[string, string, number, number, number, number]>(
      `UPDATE ranges SET state = 'assigned', attempt = attempt + 1, worker = ?, token = ?, lease_until = ?, retry_at = NULL,
         outcome = NULL
       WHERE task = ? AND file = ? AND idx = ?`,
    ),
    saveRange: db.prepare<
      [
        number,
        RangeState,
        number,
        number,
        string | null,
        string | null,
        number | null,
        number | null,
        number,
        string | null,
        RangeOutcome | null,
        number,
        number,
        number,
      ]
    >(
      `UPDATE ranges SET start_event = ?, state = ?, attempt = ?, attempts_left = ?, worker = ?, token = ?, lease_until = ?,
         retry_at = ?, events_done = ?, message = ?, outcome = ?
       WHERE task = ? AND file = ? AND idx = ?`,
    ),
    // Only leases that have not lapsed: a lapsed one waits for reap.
    renew: db.prepare<[number, string, number]>(
      `UPDATE ranges SET lease_until = ? WHERE worker = ? AND state IN ${HELD} AND lease_until > ?`,
    ),
    heldBy: db.prepare<[string], RangeRow>(
      `SELECT * FROM ranges INDEXED BY ranges_worker WHERE worker = ? AND state IN ${HELD} ORDER BY task, file, idx`,
    ),
    cancelRanges: db.prepare<[number]>(
      `UPDATE ranges SET state = 'cancelled', outcome = 'cancelled', worker = NULL, lease_until = NULL, retry_at = NULL
       WHERE task = ? AND state NOT IN ${TERMINAL}`,
    ),
    due: db.prepare<[number, number], RangeRow>(
      `SELECT r.* FROM ranges AS r INDEXED BY ranges_lease JOIN tasks AS t ON t.id = r.task
         WHERE r.lease_until <= ? AND r.state IN ${HELD} AND t.state = 'active'
       UNION ALL
       SELECT r.* FROM ranges AS r INDEXED BY ranges_retry JOIN tasks AS t ON t.id = r.task
         WHERE r.retry_at <= ? AND r.state = 'failed' AND t.state = 'active'
       ORDER BY 1, 2, 3`,
    ),
    heldSummary: db.prepare<[], { n: number; first: number | null; last: number | null }>(
      `SELECT count(*) AS n, min(lease_until) AS first, max(lease_until) AS last FROM ranges INDEXED BY ranges_worker
       WHERE worker IS NOT NULL`,
    ),
  };
}

function toRange(row: RangeRow): Range {
  return {
    task: row.task,
    file: row.file,
    index: row.idx,
    key: row.key,
    scope: row.scope,
    LFN: row.lfn,
    GUID: row.guid,
    startEvent: row.start_event,
    lastEvent: row.last_event,
    state: row.state,
    attempt: row.attempt,
    attemptsLeft: row.attempts_left,
    worker: row.worker,
    token: row.token,
    leaseUntil: row.lease_until,
    retryAt: row.retry_at,
    eventsDone: row.events_done,
    message: row.message,
    outcome: row.outcome,
    ...(row.events_read !== null && row.events_read !== undefined && { eventsRead: row.events_read, eventsPassed: row.events_passed }),
  };
}

function toTask(row: TaskRow): TaskRecord {
  return {
    id: row.id,
    spec: storedSpec({
      dataset: row.dataset,
      rangeSize: row.range_size,
      attempts: row.attempts,
      priority: row.priority,
      label: row.label,
      skim: row.skim,
      slim: row.slim === null ? null : (JSON.parse(row.slim) as string[]),
    }),
    createdAt: row.created_at,
    state: row.state,
    rangesTotal: row.ranges_total,
    eventsTotal: row.events_total,
  };
}

function toLease(r: RangeRecord): Lease {
  return {
    range: { ...r },
    token: r.token!,
    eventRangeID: formatRangeId({ task: r.task, file: r.file, range: r.index, attempt: r.attempt }),
    leaseUntil: r.leaseUntil!,
  };
}

const isHeld = (s: RangeState): boolean => s === RangeState.assigned || s === RangeState.running;

/** An `ok` outcome carrying the record as stored now (call it after every change). */
const ok = (r: RangeRecord, taskComplete: boolean): LedgerOutcome => ({ kind: 'ok', range: { ...r }, taskComplete });

/**
 * peek's `max` as MemoryLedger's loop reads it (`if (n >= max) stop` before each push), as an SQL
 * LIMIT (-1: none): NaN means no limit. (claim's `max` is checked by checkClaim instead.)
 */
function peekLimit(max: number): number {
  if (Number.isNaN(max)) return -1;
  if (max <= 0) return 0;
  return Number.isFinite(max) ? Math.ceil(max) : -1;
}

type Tx<A extends unknown[], R> = (...args: A) => R;

export class SqliteLedger implements Ledger {
  private readonly s: ReturnType<typeof prepareStatements>;
  private readonly txCreateTask: Tx<[TaskSpec, readonly RangePlan[], number], TaskRecord>;
  private readonly txCancelTask: Tx<[number], TaskRecord | null>;
  private readonly txProgress: Tx<[number], TaskProgress | null>;
  private readonly txClaim: Tx<[ClaimRequest], Lease[]>;
  private readonly txPeek: Tx<[number | null, number], RangeRecord[]>;
  private readonly txRenew: Tx<[string, number, number], number>;
  private readonly txStart: Tx<[string, string], LedgerOutcome>;
  private readonly txFinish: Tx<[string, string, DeliveryCounts | undefined], LedgerOutcome>;
  private readonly txFail: Tx<[string, string, FailOutcome], LedgerOutcome>;
  private readonly txRelease: Tx<[string, string, boolean, string], LedgerOutcome>;
  private readonly txReap: Tx<[number], ReapResult>;

  /** Opens (creating or migrating) the ledger at `path`; ':memory:' gives a throwaway one for tests. */
  static open(path: string, options: SqliteLedgerOptions = {}): SqliteLedger {
    const busyTimeoutMs = options.busyTimeoutMs ?? 5_000;
    const synchronous = options.synchronous ?? 'normal';
    const db = new Database(path, { timeout: busyTimeoutMs });
    try {
      db.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
      db.pragma('foreign_keys = ON');
      // Checks the file (application, schema version) before anything below writes to it.
      const { from, to } = migrateLedgerSchema(db, options.log);
      const journal = db.pragma('journal_mode = WAL', { simple: true }) as string;
      db.pragma(`synchronous = ${synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
      const ledger = new SqliteLedger(db);
      const held = ledger.s.heldSummary.get()!;
      options.log?.info(
        { ledger: path, schema: to, schemaBefore: from, journal, synchronous, heldRanges: held.n, leasesFrom: held.first, leasesUntil: held.last },
        'ledger open',
      );
      if (path !== ':memory:' && journal !== 'wal') options.log?.warn({ ledger: path, journal }, 'ledger is not in WAL mode');
      return ledger;
    } catch (e) {
      db.close();
      throw e;
    }
  }

  private constructor(private readonly db: Database.Database) {
    this.s = prepareStatements(db);
    const write = <A extends unknown[], R>(fn: (...args: A) => R): Tx<A, R> => {
      const tx = db.transaction(fn);
      return (...args: A) => tx.immediate(...args);
    };
    const read = <A extends unknown[], R>(fn: (...args: A) => R): Tx<A, R> => {
      const tx = db.transaction(fn);
      return (...args: A) => tx.deferred(...args);
    };
    this.txCreateTask = write((spec, plans, now) => this.doCreateTask(spec, plans, now));
    this.txCancelTask = write((id) => this.doCancelTask(id));
    this.txProgress = read((id) => this.doProgress(id));
    this.txClaim = write((req) => this.doClaim(req));
    this.txPeek = read((task, max) => this.doPeek(task, max));
    this.txRenew = write((worker, leaseMs, now) => this.s.renew.run(now + leaseMs, worker, now).changes);
    this.txStart = write((key, token) =>
      this.report(key, token, 'start', (r) => {
        r.state = RangeState.running;
        this.save(r);
        return ok(r, false);
      }),
    );
    this.txFinish = write((key, token, counts) =>
      this.report(key, token, 'finish', (r) => {
        r.eventsDone += r.lastEvent - r.startEvent + 1;
        r.outcome = 'finished';
        const complete = this.settle(r, RangeState.finished);
        if (counts) {
          r.eventsRead = counts.eventsRead;
          r.eventsPassed = counts.eventsPassed;
          this.s.setCounts.run(counts.eventsRead, counts.eventsPassed, r.task, r.file, r.index);
        }
        return ok(r, complete);
      }),
    );
    this.txFail = write((key, token, o) => this.report(key, token, 'fail', (r) => this.doFail(r, o)));
    this.txRelease = write((key, token, consume, reason) =>
      this.report(key, token, 'release', (r) => ok(r, this.releaseHeld(r, consume, reason))),
    );
    this.txReap = write((now) => this.doReap(now));
  }

  // ---- tasks ----------------------------------------------------------------------------------

  async createTask(spec: TaskSpec, ranges: readonly RangePlan[], now: number): Promise<TaskRecord> {
    checkTask(spec, ranges);
    return this.txCreateTask(spec, ranges, now);
  }

  async getTask(id: number): Promise<TaskRecord | null> {
    const row = this.s.task.get(id);
    return row ? toTask(row) : null;
  }

  async listTasks(state?: TaskStateName): Promise<TaskRecord[]> {
    return (state === undefined ? this.s.tasks.all() : this.s.tasksIn.all(state)).map(toTask);
  }

  async cancelTask(id: number): Promise<TaskRecord | null> {
    return this.txCancelTask(id);
  }

  async progress(id: number): Promise<TaskProgress | null> {
    return this.txProgress(id);
  }

  async ranges(id: number): Promise<RangeRecord[]> {
    return this.s.rangesOf.all(id).map(toRange);
  }

  async getRange(key: string): Promise<RangeRecord | null> {
    const row = this.s.range.get(key);
    return row ? toRange(row) : null;
  }

  // ---- leases ---------------------------------------------------------------------------------

  async claim(request: ClaimRequest): Promise<Lease[]> {
    checkClaim(request);
    return this.txClaim(request);
  }

  async peek(task: number | null, max: number): Promise<RangeRecord[]> {
    return this.txPeek(task, max);
  }

  async renew(worker: string, leaseMs: number, now: number): Promise<number> {
    return this.txRenew(worker, leaseMs, now);
  }

  async heldBy(worker: string): Promise<Lease[]> {
    return this.s.heldBy.all(worker).map((row) => toLease(toRange(row)));
  }

  async start(key: string, token: string): Promise<LedgerOutcome> {
    return this.txStart(key, token);
  }

  async finish(key: string, token: string, _now: number, counts?: DeliveryCounts): Promise<LedgerOutcome> {
    checkCounts(counts);
    return this.txFinish(key, token, counts);
  }

  async fail(key: string, token: string, outcome: FailOutcome): Promise<LedgerOutcome> {
    checkFailure(outcome);
    return this.txFail(key, token, outcome);
  }

  async release(key: string, token: string, consumeAttempt: boolean, reason: string): Promise<LedgerOutcome> {
    return this.txRelease(key, token, consumeAttempt, reason);
  }

  async reap(now: number): Promise<ReapResult> {
    return this.txReap(now);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  // ---- transaction bodies (synchronous, run inside one transaction each) ----------------------

  private doCreateTask(spec: TaskSpec, plans: readonly RangePlan[], now: number): TaskRecord {
    const eventsTotal = plans.reduce((n, p) => n + p.lastEvent - p.startEvent + 1, 0);
    const state = plans.length > 0 ? TaskStateName.active : TaskStateName.complete;
    const { lastInsertRowid } = this.s.insertTask.run(
      spec.dataset,
      spec.rangeSize,
      spec.attempts,
      spec.priority,
      spec.label,
      state,
      now,
      plans.length,
      eventsTotal,
      plans.length,
      spec.skim ?? null,
      spec.slim == null ? null : JSON.stringify(spec.slim),
    );
    const id = Number(lastInsertRowid);
    const insert = this.s.insertRange;
    // checkTask refused a (file, index) planned twice; the primary key would refuse it too (and roll all back).
    for (const p of plans) {
      insert.run(id, p.file, p.index, rangeKey({ task: id, file: p.file, range: p.index }), p.scope, p.LFN, p.GUID, p.startEvent, p.lastEvent, spec.attempts);
    }
    return { id, spec: storedSpec(spec), createdAt: now, state, rangesTotal: plans.length, eventsTotal };
  }

  private doCancelTask(id: number): TaskRecord | null {
    const row = this.s.task.get(id);
    if (!row) return null;
    // Only an active task changes; a complete or cancelled one keeps its state.
    if (row.state !== TaskStateName.active) return toTask(row);
    const n = this.s.cancelRanges.run(id).changes;
    this.s.updateTask.run(TaskStateName.cancelled, row.open - n, id);
    return toTask({ ...row, state: TaskStateName.cancelled, open: row.open - n });
  }

  private doProgress(id: number): TaskProgress | null {
    if (!this.s.task.get(id)) return null;
    const ranges = emptyCounts();
    let eventsDone = 0;
    for (const c of this.s.counts.all(id)) {
      ranges[c.state] += c.n;
      eventsDone += c.events;
    }
    return { ranges, eventsDone };
  }

  /** Active tasks in claim order: the one asked for, or all by priority, then age. */
  private claimOrder(task: number | null): number[] {
    if (task !== null) return this.s.activeTask.get(task) ? [task] : [];
    return this.s.activeTasks.all().map((t) => t.id);
  }

  private doClaim(req: ClaimRequest): Lease[] {
    const leases: Lease[] = [];
    const limit = req.max; // a non-negative safe integer (checkClaim)
    if (limit === 0) return leases;
    const leaseUntil = req.now + req.leaseMs;
    for (const task of this.claimOrder(req.task)) {
      for (const row of this.s.ready.all(task, limit - leases.length)) {
        const token = newFencingToken();
        this.s.assign.run(req.worker, token, leaseUntil, row.task, row.file, row.idx);
        const r = toRange(row);
        r.state = RangeState.assigned;
        r.attempt += 1;
        r.worker = req.worker;
        r.token = token;
        r.leaseUntil = leaseUntil;
        r.retryAt = null;
        r.outcome = null;
        leases.push(toLease(r));
      }
      if (leases.length >= limit) break;
    }
    return leases;
  }

  private doPeek(task: number | null, max: number): RangeRecord[] {
    const limit = peekLimit(max);
    if (limit === 0) return [];
    const out: RangeRecord[] = [];
    for (const t of this.claimOrder(task)) {
      for (const row of this.s.ready.all(t, limit < 0 ? -1 : limit - out.length)) out.push(toRange(row));
      if (limit > 0 && out.length >= limit) break;
    }
    return out;
  }

  /**
   * A report under `token`: runs `apply` when reportVerdict (Ledger.ts) says the write happens,
   * answers `duplicate` or `fenced` otherwise.
   */
  private report(key: string, token: string, kind: ReportKind, apply: (r: Range) => LedgerOutcome): LedgerOutcome {
    const row = this.s.range.get(key);
    if (!row) return { kind: 'unknown' };
    const r = toRange(row);
    const verdict = reportVerdict(r, token, kind);
    if (verdict === 'apply') return apply(r);
    return { kind: verdict, range: r };
  }

  private doFail(r: Range, o: FailOutcome): LedgerOutcome {
    const span = r.lastEvent - r.startEvent + 1;
    const done = Math.min(o.eventsDone, span);
    r.message = o.message;
    r.outcome = 'failed';
    r.eventsDone += done;
    // Every event was done before the failure was noticed: nothing is left to retry.
    if (done === span) return ok(r, this.settle(r, RangeState.finished));
    r.startEvent += done;
    r.attemptsLeft -= 1;
    if (r.attemptsLeft <= 0) return ok(r, this.settle(r, RangeState.fatal));
    r.state = RangeState.failed;
    r.retryAt = o.now + o.retryDelayMs;
    r.worker = null;
    r.leaseUntil = null;
    if (o.retryDelayMs <= 0) this.makeReady(r);
    else this.save(r);
    return ok(r, false);
  }

  /** A held range given up (outcome `released`): back to ready, or fatal with no attempt left. Returns true when that completed the task. */
  private releaseHeld(r: Range, consumeAttempt: boolean, reason: string): boolean {
    r.message = reason;
    r.outcome = 'released';
    if (consumeAttempt) r.attemptsLeft -= 1;
    if (r.attemptsLeft <= 0) return this.settle(r, RangeState.fatal);
    this.makeReady(r);
    return false;
  }

  private doReap(now: number): ReapResult {
    const released: RangeRecord[] = [];
    const completed: number[] = [];
    for (const row of this.s.due.all(now, now)) {
      const r = toRange(row);
      if (!isHeld(r.state)) this.makeReady(r);
      else if (this.releaseHeld(r, true, 'lease expired')) completed.push(r.task);
      released.push({ ...r });
    }
    return { released, completed };
  }

  private save(r: Range): void {
    this.s.saveRange.run(
      r.startEvent,
      r.state,
      r.attempt,
      r.attemptsLeft,
      r.worker,
      r.token,
      r.leaseUntil,
      r.retryAt,
      r.eventsDone,
      r.message,
      r.outcome,
      r.task,
      r.file,
      r.index,
    );
  }

  private makeReady(r: Range): void {
    r.state = RangeState.ready;
    r.worker = null;
    r.leaseUntil = null;
    r.retryAt = null;
    this.save(r);
  }

  /** Moves a range to a terminal state; returns true when that completed the task. */
  private settle(r: Range, state: RangeState): boolean {
    r.state = state;
    r.worker = null;
    r.leaseUntil = null;
    r.retryAt = null;
    this.save(r);
    const t = this.s.task.get(r.task)!;
    const open = t.open - 1;
    const complete = open === 0 && t.state === TaskStateName.active;
    this.s.updateTask.run(complete ? TaskStateName.complete : t.state, open, t.id);
    return complete;
  }
}
