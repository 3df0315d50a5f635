/**
 * The ledger: durable truth of tasks and event ranges, behind one interface so an embedded
 * store (one node) and Redis (several nodes) are interchangeable. Every write is fenced by a token.
 *
 * Reports and fencing — the contract every implementation keeps (MemoryLedger is the reference):
 *
 * Each claim gives a range a new random token; the token stays the range's current token until the
 * next claim (also after the range was finished, failed, released or cancelled). `RangeRecord.outcome`
 * says which outcome was recorded under that token. A report (`start`, `finish`, `fail`, `release`)
 * with the range's current token is answered by this table:
 *
 * | report    | ok (the write happens)     | duplicate (nothing changes)  | fenced (nothing changes) |
 * |-----------|----------------------------|------------------------------|--------------------------|
 * | `start`   | state `assigned`           | state `running`              | any other state          |
 * | `finish`  | state `assigned`/`running` | `outcome === 'finished'`     | anything else            |
 * | `fail`    | state `assigned`/`running` | `outcome === 'failed'` ¹     | anything else            |
 * | `release` | state `assigned`/`running` | `outcome === 'released'` ²   | anything else            |
 *
 * ¹ whatever state the failure led to: `failed`, `ready` (no retry delay, or readied by `reap`
 *   since), `fatal`, or `finished` when the failure reported every event done.
 * ² also when `reap` released the lapsed lease (it records `released` under the lapsed token).
 *
 * A token that is not the range's current one is `fenced`; an unknown key is `unknown`. So a
 * worker (or a server node) whose reply was lost can repeat a report safely: the repeat answers
 * `duplicate` and changes nothing, while a report that contradicts what was recorded (a `finish`
 * after a `fail` under the same lease, a report after `cancelTask`) is `fenced`. Every `range` an
 * outcome carries is the stored record after the operation (for `duplicate` and `fenced`: as it is).
 *
 * Invalid arguments (see each method) throw a LedgerError with code `invalid` and change nothing.
 */
import { RangeState, type RangeCounts, type TaskStateName } from '@ess/protocol';

export interface TaskSpec {
  /** `scope:name` of the dataset. */
  readonly dataset: string;
  /** Events per range. */
  readonly rangeSize: number;
  /** Attempts each range gets before it is fatal. */
  readonly attempts: number;
  /** Higher first. */
  readonly priority: number;
  /** Free text shown to operators. */
  readonly label: string;
  /** Skim: a CEL predicate over each event's fields; only events passing it are delivered. Null or absent: none. */
  readonly skim?: string | null | undefined;
  /** Slim: the fields (ROOT branches) to deliver, `*` and `?` as wildcards. Null or absent: all. */
  readonly slim?: readonly string[] | null | undefined;
}

/** A range as the planner cuts it, before it has a state. */
export interface RangePlan {
  readonly file: number;
  readonly index: number;
  readonly scope: string;
  readonly LFN: string;
  readonly GUID: string;
  readonly startEvent: number;
  readonly lastEvent: number;
}

export interface TaskRecord {
  readonly id: number;
  readonly spec: TaskSpec;
  readonly createdAt: number;
  readonly state: TaskStateName;
  readonly rangesTotal: number;
  readonly eventsTotal: number;
}

/**
 * The outcome recorded under a range's current token: set by `finish`, `fail`, `release` (also the
 * release of a lapsed lease by `reap`) and `cancelTask`; cleared (null) by `claim`.
 */
export type RangeOutcome = 'finished' | 'failed' | 'released' | 'cancelled';

export interface RangeRecord {
  readonly task: number;
  readonly file: number;
  readonly index: number;
  /** `task-file-range`: stable across attempts. */
  readonly key: string;
  readonly scope: string;
  readonly LFN: string;
  readonly GUID: string;
  /** First event still to do (moves forward when a failure reports partial progress). */
  readonly startEvent: number;
  readonly lastEvent: number;
  readonly state: RangeState;
  /** Number of the current (or last) attempt; 0 before the first claim. */
  readonly attempt: number;
  readonly attemptsLeft: number;
  readonly worker: string | null;
  /** Fencing token of the current lease. Random, never reused. */
  readonly token: string | null;
  readonly leaseUntil: number | null;
  /** When a `failed` range becomes `ready` again. */
  readonly retryAt: number | null;
  /** Events of this range recorded as done (partial progress plus the final part). */
  readonly eventsDone: number;
  readonly message: string | null;
  /**
   * Which outcome was recorded under the current token (see the table at the top): null before
   * the first claim and while held. It decides whether a repeated report is a `duplicate`.
   */
  readonly outcome: RangeOutcome | null;
  /**
   * Events read from the source for the range and events that passed its skim (all of them
   * without one), recorded by the `finish` that finished it with counts: absent (or null) until
   * then, and for ranges finished otherwise (a failure report covering every event, a finish
   * without counts).
   */
  readonly eventsRead?: number | null;
  readonly eventsPassed?: number | null;
}

/** The lifecycle fields of a range as planned: ready, never claimed, nothing recorded. The same in every ledger. */
export function plannedRange(attempts: number): Pick<RangeRecord, 'state' | 'attempt' | 'attemptsLeft' | 'worker' | 'token' | 'leaseUntil' | 'retryAt' | 'eventsDone' | 'message' | 'outcome'> {
  return { state: RangeState.ready, attempt: 0, attemptsLeft: attempts, worker: null, token: null, leaseUntil: null, retryAt: null, eventsDone: 0, message: null, outcome: null };
}

/** What a finished range's delivery counted (see RangeRecord.eventsRead). */
export interface DeliveryCounts {
  readonly eventsRead: number;
  readonly eventsPassed: number;
}

export interface Lease {
  readonly range: RangeRecord;
  readonly token: string;
  readonly eventRangeID: string;
  readonly leaseUntil: number;
}

/**
 * What a fenced write answers (see the table at the top). `ok`: the write happened; `range` is the
 * stored record after it, and `taskComplete` is true when it ended the task's last open range.
 * `duplicate`: this very outcome was already recorded with this token (a retry after a lost
 * reply); `fenced`: the token is not the range's current one (the lease lapsed and the range moved
 * on), or the range no longer accepts this report; `unknown`: no such range.
 */
export type LedgerOutcome =
  | { readonly kind: 'ok'; readonly range: RangeRecord; readonly taskComplete: boolean }
  | { readonly kind: 'duplicate'; readonly range: RangeRecord }
  | { readonly kind: 'fenced'; readonly range: RangeRecord }
  | { readonly kind: 'unknown' };

export interface ClaimRequest {
  readonly worker: string;
  /** A task id, or null for any active task by priority. */
  readonly task: number | null;
  /** How many ranges at most: a non-negative safe integer (0 claims nothing). */
  readonly max: number;
  readonly leaseMs: number;
  readonly now: number;
}

export interface FailOutcome {
  /**
   * Events done from the range's current startEvent before the failure: a non-negative safe
   * integer; more than the range has left counts as all of them.
   */
  readonly eventsDone: number;
  readonly message: string;
  readonly retryDelayMs: number;
  readonly now: number;
}

export interface TaskProgress {
  readonly ranges: RangeCounts;
  readonly eventsDone: number;
}

/** What `reap` did. */
export interface ReapResult {
  /**
   * The ranges it moved, as stored after the move (in no promised order): lapsed leases released
   * with one attempt fewer (to `ready`, or `fatal` at zero), and `failed` ranges readied.
   */
  readonly released: RangeRecord[];
  /** Ids of the tasks it completed (their last open range went `fatal`), in no promised order. */
  readonly completed: number[];
}

/** Thrown for arguments outside the contract; the call changed nothing. */
export class LedgerError extends Error {
  override readonly name = 'LedgerError';
  constructor(
    readonly code: 'invalid',
    message: string,
  ) {
    super(message);
  }
}

export interface Ledger {
  /**
   * A new `active` task with every range `ready` (`complete` at once when there are none).
   * Throws LedgerError (`invalid`) when `spec.attempts` or `spec.rangeSize` is not a positive
   * safe integer, a (file, index) is planned twice, or a plan's lastEvent is before its startEvent.
   */
  createTask(spec: TaskSpec, ranges: readonly RangePlan[], now: number): Promise<TaskRecord>;
  getTask(id: number): Promise<TaskRecord | null>;
  /** Every task, or only those in `state` (the dispatcher's prefetch asks for the active ones on every claim). */
  listTasks(state?: TaskStateName): Promise<TaskRecord[]>;
  /**
   * Cancels an `active` task: every range not yet terminal becomes `cancelled` (outcome
   * `cancelled`), and the task `cancelled`. A `complete` or `cancelled` task is left as it is.
   * Returns the task as stored after the call, or null when unknown.
   */
  cancelTask(id: number): Promise<TaskRecord | null>;
  progress(id: number): Promise<TaskProgress | null>;
  /** Every range of a task in planning order (for status and tests). */
  ranges(id: number): Promise<RangeRecord[]>;
  getRange(key: string): Promise<RangeRecord | null>;

  /**
   * Moves up to `max` ready ranges to `assigned` under a new lease (and token) each; clears their
   * `outcome`. Throws LedgerError (`invalid`) when `max` is not a non-negative safe integer.
   */
  claim(request: ClaimRequest): Promise<Lease[]>;
  /** The ranges `claim` would hand out next, without claiming them (for prefetch). */
  peek(task: number | null, max: number): Promise<RangeRecord[]>;
  /**
   * Extends to `now + leaseMs` every lease the worker holds that has not lapsed yet
   * (`leaseUntil > now`); a lapsed lease stays lapsed until `reap` releases it. Returns how many
   * leases were renewed.
   */
  renew(worker: string, leaseMs: number, now: number): Promise<number>;
  /** The leases a worker holds now (assigned or running), e.g. to hand them back after a reconnect. */
  heldBy(worker: string): Promise<Lease[]>;
  /** assigned → running; a repeat while running is a duplicate. */
  start(key: string, token: string): Promise<LedgerOutcome>;
  /**
   * assigned|running → finished (outcome `finished`), recording `counts` when given (else the
   * counts stay null); a repeat is a duplicate. Throws LedgerError (`invalid`) when a count is not
   * a non-negative safe integer or more passed than were read.
   */
  finish(key: string, token: string, now: number, counts?: DeliveryCounts): Promise<LedgerOutcome>;
  /**
   * assigned|running → failed (retried after `retryDelayMs`; `ready` at once when it is ≤ 0) or
   * fatal (no attempts left), keeping partial progress; → finished when `eventsDone` covers every
   * event left (no attempt is consumed). Records outcome `failed` in every case; a repeat is a
   * duplicate. Throws LedgerError (`invalid`) when `outcome.eventsDone` is not a non-negative
   * safe integer.
   */
  fail(key: string, token: string, outcome: FailOutcome): Promise<LedgerOutcome>;
  /**
   * The holder is gone: back to ready. `consumeAttempt` is false when the server gives the range
   * up for reasons of its own (shutdown, a worker leaving before any data went out); true when
   * the worker vanished or its lease lapsed, and when the range's data could not be read from
   * any replica (so that unreadable data ends as fatal instead of circling for ever). Fatal when
   * no attempt is left. Records outcome `released`; a repeat is a duplicate.
   */
  release(key: string, token: string, consumeAttempt: boolean, reason: string): Promise<LedgerOutcome>;
  /**
   * Releases lapsed leases (`leaseUntil <= now`: one attempt fewer, outcome `released`, message
   * `lease expired`; fatal at zero) and readies failed ranges whose retry time came
   * (`retryAt <= now`; their outcome stays `failed`). Only ranges of active tasks.
   */
  reap(now: number): Promise<ReapResult>;
  close(): Promise<void>;
}

// ---- shared rules (every implementation applies exactly these) ---------------------------------

export type ReportKind = 'start' | 'finish' | 'fail' | 'release';

const RECORDED: Readonly<Record<Exclude<ReportKind, 'start'>, RangeOutcome>> = {
  finish: 'finished',
  fail: 'failed',
  release: 'released',
};

/**
 * The table at the top of this file: what a report with `token` does to a range as stored.
 * `apply`: the write happens (answer `ok`); otherwise the answer, and nothing changes.
 */
export function reportVerdict(
  range: Pick<RangeRecord, 'state' | 'token' | 'outcome'>,
  token: string,
  report: ReportKind,
): 'apply' | 'duplicate' | 'fenced' {
  if (range.token !== token) return 'fenced';
  if (report === 'start') {
    if (range.state === RangeState.assigned) return 'apply';
    return range.state === RangeState.running ? 'duplicate' : 'fenced';
  }
  if (range.state === RangeState.assigned || range.state === RangeState.running) return 'apply';
  return range.outcome === RECORDED[report] ? 'duplicate' : 'fenced';
}

const invalid = (message: string): LedgerError => new LedgerError('invalid', message);
const isCount = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;

/** The checks of `createTask`; throws LedgerError (`invalid`). */
export function checkTask(spec: TaskSpec, plans: readonly RangePlan[]): void {
  if (!isCount(spec.attempts) || spec.attempts < 1) throw invalid(`createTask: attempts must be a positive integer, got ${spec.attempts}`);
  if (!isCount(spec.rangeSize) || spec.rangeSize < 1) throw invalid(`createTask: rangeSize must be a positive integer, got ${spec.rangeSize}`);
  const seen = new Set<string>();
  for (const p of plans) {
    const at = `${p.file}/${p.index}`;
    if (seen.has(at)) throw invalid(`createTask: range (file ${p.file}, index ${p.index}) is planned twice`);
    seen.add(at);
    if (!(p.lastEvent >= p.startEvent)) {
      throw invalid(`createTask: range (file ${p.file}, index ${p.index}) ends (${p.lastEvent}) before it starts (${p.startEvent})`);
    }
  }
}

/** The check of `claim`; throws LedgerError (`invalid`). */
export function checkClaim(request: ClaimRequest): void {
  if (!isCount(request.max)) throw invalid(`claim: max must be a non-negative integer, got ${request.max}`);
}

/** A task spec as ledgers store and return it: skim and slim only when set. */
export function storedSpec(spec: TaskSpec): TaskSpec {
  const { skim, slim, ...rest } = spec;
  return { ...rest, ...(skim != null && { skim }), ...(slim != null && { slim: [...slim] }) };
}

/** The check of `finish`'s counts; throws LedgerError (`invalid`). */
export function checkCounts(counts: DeliveryCounts | undefined): void {
  if (!counts) return;
  if (!isCount(counts.eventsRead) || !isCount(counts.eventsPassed) || counts.eventsPassed > counts.eventsRead) {
    throw invalid(`finish: counts must be non-negative integers with eventsPassed <= eventsRead, got ${counts.eventsRead} read, ${counts.eventsPassed} passed`);
  }
}

/** The check of `fail`; throws LedgerError (`invalid`). */
export function checkFailure(outcome: FailOutcome): void {
  if (!isCount(outcome.eventsDone)) throw invalid(`fail: eventsDone must be a non-negative integer, got ${outcome.eventsDone}`);
}
