/**
 * A ledger in process memory: the reference implementation of the Ledger contract, used by
 * property tests and by `ess serve --ledger memory` for throwaway runs (nothing survives a restart).
 */
import { randomBytes } from 'node:crypto';
import { RangeState, TERMINAL_STATES, TaskStateName, formatRangeId, rangeKey, type RangeCounts } from '@ess/protocol';
import {
  checkClaim,
  checkCounts,
  checkFailure,
  checkTask,
  plannedRange,
  reportVerdict,
  storedSpec,
  type ClaimRequest,
  type DeliveryCounts,
  type FailOutcome,
  type Lease,
  type Ledger,
  type LedgerOutcome,
  type RangePlan,
  type RangeRecord,
  type ReapResult,
  type ReportKind,
  type TaskProgress,
  type TaskRecord,
  type TaskSpec,
} from './Ledger.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

interface TaskEntry {
  record: Mutable<TaskRecord>;
  ranges: Mutable<RangeRecord>[];
  /** Positions (into `ranges`) of ready ranges, ascending: claim order within the task. */
  ready: number[];
  open: number;
}

export function newFencingToken(): string {
  return randomBytes(12).toString('base64url');
}

export function emptyCounts(): Mutable<RangeCounts> {
  return { ready: 0, assigned: 0, running: 0, finished: 0, failed: 0, fatal: 0, cancelled: 0 };
}

/** An `ok` outcome carrying the record as stored now (call it after every change). */
const ok = (r: RangeRecord, taskComplete: boolean): LedgerOutcome => ({ kind: 'ok', range: { ...r }, taskComplete });

export class MemoryLedger implements Ledger {
  private readonly tasks = new Map<number, TaskEntry>();
  private readonly byKey = new Map<string, { task: TaskEntry; pos: number }>();
  private nextTaskId = 1;

  async createTask(spec: TaskSpec, plans: readonly RangePlan[], now: number): Promise<TaskRecord> {
    checkTask(spec, plans);
    const id = this.nextTaskId++;
    const ranges = plans.map(
      (p): Mutable<RangeRecord> => ({
        task: id,
        file: p.file,
        index: p.index,
        key: rangeKey({ task: id, file: p.file, range: p.index }),
        scope: p.scope,
        LFN: p.LFN,
        GUID: p.GUID,
        startEvent: p.startEvent,
        lastEvent: p.lastEvent,
        ...plannedRange(spec.attempts),
      }),
    );
    const eventsTotal = plans.reduce((n, p) => n + p.lastEvent - p.startEvent + 1, 0);
    const entry: TaskEntry = {
      record: {
        id,
        spec: storedSpec(spec),
        createdAt: now,
        state: ranges.length > 0 ? TaskStateName.active : TaskStateName.complete,
        rangesTotal: ranges.length,
        eventsTotal,
      },
      ranges,
      ready: ranges.map((_, i) => i),
      open: ranges.length,
    };
    this.tasks.set(id, entry);
    ranges.forEach((r, pos) => this.byKey.set(r.key, { task: entry, pos }));
    return { ...entry.record };
  }

  async getTask(id: number): Promise<TaskRecord | null> {
    const t = this.tasks.get(id);
    return t ? { ...t.record } : null;
  }

  async listTasks(state?: TaskStateName): Promise<TaskRecord[]> {
    return [...this.tasks.values()].filter((t) => state === undefined || t.record.state === state).map((t) => ({ ...t.record }));
  }

  async cancelTask(id: number): Promise<TaskRecord | null> {
    const t = this.tasks.get(id);
    if (!t) return null;
    // Only an active task changes; a complete or cancelled one keeps its state.
    if (t.record.state !== TaskStateName.active) return { ...t.record };
    for (const r of t.ranges) {
      if (TERMINAL_STATES.has(r.state)) continue;
      r.outcome = 'cancelled';
      this.settle(t, r, RangeState.cancelled);
    }
    t.ready = [];
    t.record.state = TaskStateName.cancelled;
    return { ...t.record };
  }

  async progress(id: number): Promise<TaskProgress | null> {
    const t = this.tasks.get(id);
    if (!t) return null;
    const counts = emptyCounts();
    let eventsDone = 0;
    for (const r of t.ranges) {
      counts[r.state]++;
      eventsDone += r.eventsDone;
    }
    return { ranges: counts, eventsDone };
  }

  async ranges(id: number): Promise<RangeRecord[]> {
    return (this.tasks.get(id)?.ranges ?? []).map((r) => ({ ...r }));
  }

  async getRange(key: string): Promise<RangeRecord | null> {
    const at = this.byKey.get(key);
    return at ? { ...at.task.ranges[at.pos]! } : null;
  }

  async claim(req: ClaimRequest): Promise<Lease[]> {
    checkClaim(req);
    const leases: Lease[] = [];
    for (const t of this.claimOrder(req.task)) {
      while (leases.length < req.max && t.ready.length > 0) {
        const r = t.ranges[t.ready.shift()!]!;
        r.state = RangeState.assigned;
        r.attempt += 1;
        r.worker = req.worker;
        r.token = newFencingToken();
        r.leaseUntil = req.now + req.leaseMs;
        r.retryAt = null;
        r.outcome = null;
        leases.push(this.lease(r));
      }
      if (leases.length >= req.max) break;
    }
    return leases;
  }

  async peek(task: number | null, max: number): Promise<RangeRecord[]> {
    const out: RangeRecord[] = [];
    for (const t of this.claimOrder(task)) {
      for (const pos of t.ready) {
        if (out.length >= max) return out;
        out.push({ ...t.ranges[pos]! });
      }
    }
    return out;
  }

  async renew(worker: string, leaseMs: number, now: number): Promise<number> {
    let n = 0;
    for (const t of this.tasks.values()) {
      for (const r of t.ranges) {
        const held = r.worker === worker && (r.state === RangeState.assigned || r.state === RangeState.running);
        // A lapsed lease is not renewed: it waits for reap.
        if (held && r.leaseUntil !== null && r.leaseUntil > now) {
          r.leaseUntil = now + leaseMs;
          n++;
        }
      }
    }
    return n;
  }

  async heldBy(worker: string): Promise<Lease[]> {
    const out: Lease[] = [];
    for (const t of this.tasks.values()) {
      for (const r of t.ranges) {
        if (r.worker === worker && (r.state === RangeState.assigned || r.state === RangeState.running)) out.push(this.lease(r));
      }
    }
    return out;
  }

  async start(key: string, token: string): Promise<LedgerOutcome> {
    return this.report(key, token, 'start', (_t, r) => {
      r.state = RangeState.running;
      return ok(r, false);
    });
  }

  async finish(key: string, token: string, _now?: number, counts?: DeliveryCounts): Promise<LedgerOutcome> {
    checkCounts(counts);
    return this.report(key, token, 'finish', (t, r) => {
      r.eventsDone += r.lastEvent - r.startEvent + 1;
      r.outcome = 'finished';
      if (counts) {
        r.eventsRead = counts.eventsRead;
        r.eventsPassed = counts.eventsPassed;
      }
      return ok(r, this.settle(t, r, RangeState.finished));
    });
  }

  async fail(key: string, token: string, o: FailOutcome): Promise<LedgerOutcome> {
    checkFailure(o);
    return this.report(key, token, 'fail', (t, r) => {
      const span = r.lastEvent - r.startEvent + 1;
      const done = Math.min(o.eventsDone, span);
      r.message = o.message;
      r.outcome = 'failed';
      r.eventsDone += done;
      // Every event was done before the failure was noticed: nothing is left to retry.
      if (done === span) return ok(r, this.settle(t, r, RangeState.finished));
      r.startEvent += done;
      r.attemptsLeft -= 1;
      if (r.attemptsLeft <= 0) return ok(r, this.settle(t, r, RangeState.fatal));
      r.state = RangeState.failed;
      r.retryAt = o.now + o.retryDelayMs;
      r.worker = null;
      r.leaseUntil = null;
      if (o.retryDelayMs <= 0) this.makeReady(t, r);
      return ok(r, false);
    });
  }

  async release(key: string, token: string, consumeAttempt: boolean, reason: string): Promise<LedgerOutcome> {
    return this.report(key, token, 'release', (t, r) => ok(r, this.releaseHeld(t, r, consumeAttempt, reason)));
  }

  async reap(now: number): Promise<ReapResult> {
    const released: RangeRecord[] = [];
    const completed: number[] = [];
    for (const t of this.tasks.values()) {
      if (t.record.state !== TaskStateName.active) continue;
      for (const r of t.ranges) {
        const held = r.state === RangeState.assigned || r.state === RangeState.running;
        if (held && r.leaseUntil !== null && r.leaseUntil <= now) {
          if (this.releaseHeld(t, r, true, 'lease expired')) completed.push(t.record.id);
          released.push({ ...r });
        } else if (r.state === RangeState.failed && r.retryAt !== null && r.retryAt <= now) {
          this.makeReady(t, r);
          released.push({ ...r });
        }
      }
    }
    return { released, completed };
  }

  async close(): Promise<void> {}

  private lease(r: RangeRecord): Lease {
    return {
      range: { ...r },
      token: r.token!,
      eventRangeID: formatRangeId({ task: r.task, file: r.file, range: r.index, attempt: r.attempt }),
      leaseUntil: r.leaseUntil!,
    };
  }

  /** Active tasks in claim order: priority first, then age. */
  private claimOrder(task: number | null): TaskEntry[] {
    if (task !== null) {
      const t = this.tasks.get(task);
      return t && t.record.state === TaskStateName.active ? [t] : [];
    }
    return [...this.tasks.values()]
      .filter((t) => t.record.state === TaskStateName.active)
      .sort((a, b) => b.record.spec.priority - a.record.spec.priority || a.record.id - b.record.id);
  }

  /**
   * A report under `token`: runs `apply` when reportVerdict (Ledger.ts) says the write happens,
   * answers `duplicate` or `fenced` otherwise.
   */
  private report(
    key: string,
    token: string,
    kind: ReportKind,
    apply: (t: TaskEntry, r: Mutable<RangeRecord>) => LedgerOutcome,
  ): LedgerOutcome {
    const at = this.byKey.get(key);
    if (!at) return { kind: 'unknown' };
    const r = at.task.ranges[at.pos]!;
    const verdict = reportVerdict(r, token, kind);
    if (verdict === 'apply') return apply(at.task, r);
    return { kind: verdict, range: { ...r } };
  }

  /** A held range given up (outcome `released`): back to ready, or fatal with no attempt left. Returns true when that completed the task. */
  private releaseHeld(t: TaskEntry, r: Mutable<RangeRecord>, consumeAttempt: boolean, reason: string): boolean {
    r.message = reason;
    r.outcome = 'released';
    if (consumeAttempt) r.attemptsLeft -= 1;
    if (r.attemptsLeft <= 0) return this.settle(t, r, RangeState.fatal);
    this.makeReady(t, r);
    return false;
  }

  private makeReady(t: TaskEntry, r: Mutable<RangeRecord>): void {
    r.state = RangeState.ready;
    r.worker = null;
    r.leaseUntil = null;
    r.retryAt = null;
    const pos = t.ranges.indexOf(r);
    let lo = 0;
    let hi = t.ready.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (t.ready[mid]! < pos) lo = mid + 1;
      else hi = mid;
    }
    t.ready.splice(lo, 0, pos);
  }

  /** Moves a range to a terminal state; returns true when that completed the task. */
  private settle(t: TaskEntry, r: Mutable<RangeRecord>, state: RangeState): boolean {
    r.state = state;
    r.worker = null;
    r.leaseUntil = null;
    r.retryAt = null;
    t.open -= 1;
    if (t.open === 0 && t.record.state === TaskStateName.active) {
      t.record.state = TaskStateName.complete;
      return true;
    }
    return false;
  }
}
