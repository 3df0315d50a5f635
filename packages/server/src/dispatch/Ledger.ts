/**
 * The ledger: durable truth of tasks and event ranges, behind one interface so an embedded
 * store (one node) and Redis (several nodes) are interchangeable. Every write is fenced by a token.
 */
import type { RangeCounts, RangeState, TaskStateName } from '@ess/protocol';

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
}

export interface Lease {
  readonly range: RangeRecord;
  readonly token: string;
  readonly eventRangeID: string;
  readonly leaseUntil: number;
}

/**
 * What a fenced write answers. `duplicate`: this very outcome was already recorded with this
 * token (a retry after a lost reply); `fenced`: the token is not the range's current one
 * (the lease lapsed and the range moved on); `unknown`: no such range.
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
  readonly max: number;
  readonly leaseMs: number;
  readonly now: number;
}

export interface FailOutcome {
  /** Events done from the range's current startEvent before the failure. */
  readonly eventsDone: number;
  readonly message: string;
  readonly retryDelayMs: number;
  readonly now: number;
}

export interface TaskProgress {
  readonly ranges: RangeCounts;
  readonly eventsDone: number;
}

export interface Ledger {
  createTask(spec: TaskSpec, ranges: readonly RangePlan[], now: number): Promise<TaskRecord>;
  getTask(id: number): Promise<TaskRecord | null>;
  listTasks(): Promise<TaskRecord[]>;
  /** Cancels every range not yet terminal; returns the task, or null when unknown. */
  cancelTask(id: number): Promise<TaskRecord | null>;
  progress(id: number): Promise<TaskProgress | null>;
  /** Every range of a task in planning order (for status and tests). */
  ranges(id: number): Promise<RangeRecord[]>;
  getRange(key: string): Promise<RangeRecord | null>;

  /** Moves up to `max` ready ranges to `assigned` under a new lease each. */
  claim(request: ClaimRequest): Promise<Lease[]>;
  /** The ranges `claim` would hand out next, without claiming them (for prefetch). */
  peek(task: number | null, max: number): Promise<RangeRecord[]>;
  /** Extends every lease the worker holds. */
  renew(worker: string, leaseMs: number, now: number): Promise<number>;
  /** The leases a worker holds now (assigned or running), e.g. to hand them back after a reconnect. */
  heldBy(worker: string): Promise<Lease[]>;
  /** assigned → running. */
  start(key: string, token: string): Promise<LedgerOutcome>;
  /** assigned|running → finished. Idempotent for the same token. */
  finish(key: string, token: string, now: number): Promise<LedgerOutcome>;
  /** → failed (retried after a delay) or fatal (no attempts left); keeps partial progress. */
  fail(key: string, token: string, outcome: FailOutcome): Promise<LedgerOutcome>;
  /**
   * The holder is gone: back to ready. `consumeAttempt` is false when the server gives the range
   * up for reasons of its own (shutdown, a worker leaving before any data went out); true when
   * the worker vanished or its lease lapsed, and when the range's data could not be read from
   * any replica (so that unreadable data ends as fatal instead of circling for ever).
   */
  release(key: string, token: string, consumeAttempt: boolean, reason: string): Promise<LedgerOutcome>;
  /** Releases lapsed leases (one attempt fewer) and readies failed ranges whose retry time came. */
  reap(now: number): Promise<RangeRecord[]>;
  close(): Promise<void>;
}
