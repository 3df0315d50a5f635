/**
 * The dispatcher: hands event ranges to subscribed workers up to their prefetch depth, records
 * their reports in the ledger (each range ends exactly once), and takes ranges back from
 * workers that vanish or whose leases lapse.
 */
import {
  ErrorCode,
  TaskStateName,
  parseRangeId,
  rangeKey,
  type EventRange,
  type ProtocolError,
  type Report,
} from '@ess/protocol';
import type { Catalogue } from '../catalogue/index.js';
import type { Marshaller } from '../marshal/index.js';
import type { Logger } from '../log.js';
import type { DeliveryTotals, HeldRange, WorkerSession } from '../stream/WorkerSession.js';
import type { Lease, Ledger, LedgerOutcome, TaskRecord, TaskSpec } from './Ledger.js';
import { planRanges } from './TaskPlanner.js';

export interface DispatcherOptions {
  readonly leaseMs: number;
  /** Delay before a range whose payload failed is offered again. */
  readonly retryDelayMs: number;
  /** How often lapsed leases are looked for. */
  readonly reapIntervalMs: number;
  readonly log: Logger;
}

export interface NewTask {
  readonly dataset: string;
  readonly rangeSize: number;
  readonly attempts?: number | undefined;
  readonly priority?: number | undefined;
  readonly label?: string | undefined;
}

export class DispatchError extends Error {
  constructor(
    readonly code: ProtocolError['code'],
    message: string,
  ) {
    super(message);
  }
}

export const DEFAULT_ATTEMPTS = 3;

export class Dispatcher {
  private readonly sessions = new Map<string, WorkerSession>();
  private reaper: NodeJS.Timeout | null = null;
  private waking: Promise<void> | null = null;
  private wakeAgain = false;
  private readonly log: Logger;
  /** Set on shutdown: no more ranges are handed out. */
  private draining = false;

  constructor(
    readonly ledger: Ledger,
    private readonly catalogue: Catalogue,
    private readonly marshaller: Marshaller,
    private readonly totals: DeliveryTotals,
    private readonly options: DispatcherOptions,
  ) {
    this.log = options.log;
  }

  start(): void {
    this.reaper ??= setInterval(() => void this.reap(), this.options.reapIntervalMs);
    this.reaper.unref();
  }

  /** Stops handing out ranges (shutdown); reports are still recorded. */
  stopAssigning(): void {
    this.draining = true;
  }

  async stop(): Promise<void> {
    this.draining = true;
    if (this.reaper) clearInterval(this.reaper);
    this.reaper = null;
    await this.waking;
  }

  // ---- tasks -------------------------------------------------------------------------------------

  async createTask(req: NewTask): Promise<TaskRecord> {
    const dataset = this.catalogue.get(req.dataset);
    if (!dataset) throw new DispatchError(ErrorCode.notFound, `no dataset "${req.dataset}"`);
    const spec: TaskSpec = {
      dataset: dataset.id,
      rangeSize: req.rangeSize,
      attempts: req.attempts ?? DEFAULT_ATTEMPTS,
      priority: req.priority ?? 0,
      label: req.label ?? '',
    };
    const task = await this.ledger.createTask(spec, planRanges(dataset, req.rangeSize), Date.now());
    this.log.info({ task: task.id, dataset: spec.dataset, ranges: task.rangesTotal, events: task.eventsTotal }, 'task created');
    this.wake();
    return task;
  }

  async cancelTask(id: number): Promise<TaskRecord | null> {
    const task = await this.ledger.cancelTask(id);
    if (!task) return null;
    for (const s of this.sessions.values()) {
      for (const held of [...s.held.values()]) {
        if (held.range.taskID === id) {
          s.drop(held.range.eventRangeID);
          s.send({ type: 'revoke', range: held.range.eventRangeID, reason: 'task cancelled' });
        }
      }
      if (s.task === id) s.sendDone(id, 'cancelled');
    }
    this.log.info({ task: id }, 'task cancelled');
    return task;
  }

  // ---- sessions ----------------------------------------------------------------------------------

  /** Registers a session; returns the live session it replaces (same worker identity), if any. */
  register(session: WorkerSession): WorkerSession | undefined {
    const previous = this.sessions.get(session.workerId);
    this.sessions.set(session.workerId, session);
    return previous;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  listSessions(): IterableIterator<WorkerSession> {
    return this.sessions.values();
  }

  async subscribe(session: WorkerSession, task: number | null): Promise<void> {
    if (task !== null) {
      const record = await this.ledger.getTask(task);
      if (!record) {
        session.send({ type: 'error', code: ErrorCode.unknownTask, message: `no task ${task}`, fatal: false, ref: String(task) });
        return;
      }
      session.task = task;
      if (record.state !== TaskStateName.active) {
        session.sendDone(task, record.state === TaskStateName.cancelled ? 'cancelled' : 'complete');
        return;
      }
    } else {
      session.task = null;
    }
    await this.fill(session);
  }

  heartbeat(session: WorkerSession): void {
    session.lastSeen = Date.now();
    if (session.held.size === 0) return;
    this.ledger.renew(session.workerId, this.options.leaseMs, Date.now()).catch((e: unknown) => {
      this.log.error({ err: e, worker: session.workerId }, 'lease renewal failed');
    });
  }

  /** The session's socket closed: whatever it held goes back to ready, one attempt fewer. */
  async sessionClosed(session: WorkerSession): Promise<void> {
    session.markClosed();
    if (this.sessions.get(session.workerId) === session) this.sessions.delete(session.workerId);
    const held = [...session.held.values()];
    session.held.clear();
    for (const h of held) await this.settle(this.ledger.release(h.key, h.token, true, 'worker disconnected'));
    if (held.length > 0) {
      this.log.info({ worker: session.workerId, ranges: held.length }, 'worker gone; its ranges are ready again');
      this.wake();
    }
  }

  // ---- reports -----------------------------------------------------------------------------------

  async report(session: WorkerSession, msg: Report): Promise<void> {
    const parts = parseRangeId(msg.range);
    if (!parts) {
      session.send({ type: 'error', code: ErrorCode.unknownRange, message: `"${msg.range}" is not an eventRangeID`, fatal: false, ref: msg.range });
      return;
    }
    const key = rangeKey(parts);
    const now = Date.now();
    let outcome: LedgerOutcome;
    if (msg.status === 'running') outcome = await this.ledger.start(key, msg.token);
    else if (msg.status === 'finished') outcome = await this.ledger.finish(key, msg.token, now);
    else {
      outcome = await this.ledger.fail(key, msg.token, {
        eventsDone: msg.eventsDone ?? 0,
        message: msg.message ?? 'payload failed',
        retryDelayMs: this.options.retryDelayMs,
        now,
      });
    }

    if (outcome.kind === 'unknown') {
      session.send({ type: 'error', code: ErrorCode.unknownRange, message: `no range ${msg.range}`, fatal: false, ref: msg.range });
      return;
    }
    if (outcome.kind === 'fenced') {
      const r = outcome.range;
      const expired = r.attempt !== parts.attempt || r.worker !== session.workerId;
      session.drop(msg.range);
      session.send({
        type: 'error',
        code: expired ? ErrorCode.leaseExpired : ErrorCode.notYourRange,
        message: expired
          ? `range ${msg.range} is no longer held by this worker (its lease lapsed; it is now ${r.state}, attempt ${r.attempt})`
          : `range ${msg.range} is not held with that token`,
        fatal: false,
        ref: msg.range,
      });
      return;
    }

    session.lastSeen = now;
    session.send({ type: 'ack', range: msg.range, status: msg.status, duplicate: outcome.kind === 'duplicate' });
    if (msg.status === 'running') {
      const held = session.held.get(msg.range);
      if (held) held.running = true;
      return;
    }
    if (session.drop(msg.range) && outcome.kind === 'ok') {
      if (msg.status === 'finished') session.rangesFinished++;
      else session.rangesFailed++;
    }
    if (outcome.kind === 'ok') {
      if (msg.status === 'finished') this.totals.rangesFinished++;
      else this.totals.rangesFailed++;
    }
    if (outcome.kind === 'ok' && outcome.taskComplete) this.taskCompleted(parts.task);
    if (msg.status === 'failed') this.wake();
    await this.fill(session);
  }

  // ---- handing out ranges ------------------------------------------------------------------------

  /** Tops the session up to its prefetch depth. */
  async fill(session: WorkerSession): Promise<number> {
    if (this.draining || session.closed || session.task === undefined) return 0;
    const want = session.freeSlots;
    if (want === 0) return 0;
    session.claiming += want;
    let leases: Lease[];
    try {
      leases = await this.ledger.claim({
        worker: session.workerId,
        task: session.task,
        max: want,
        leaseMs: this.options.leaseMs,
        now: Date.now(),
      });
    } catch (e) {
      session.claiming -= want;
      throw e;
    }
    session.claiming -= want - leases.length;
    await Promise.all(leases.map((lease) => this.deliver(session, lease)));
    if (leases.length === 0 && session.held.size === 0 && session.task !== null) {
      const task = await this.ledger.getTask(session.task);
      if (task && task.state !== TaskStateName.active) {
        session.sendDone(task.id, task.state === TaskStateName.cancelled ? 'cancelled' : 'complete');
      }
    }
    return leases.length;
  }

  private async deliver(session: WorkerSession, lease: Lease): Promise<void> {
    const r = lease.range;
    try {
      const task = await this.ledger.getTask(r.task);
      if (!task) throw new Error(`task ${r.task} vanished`);
      const stream = await this.marshaller.open(
        { eventRangeID: lease.eventRangeID, dataset: task.spec.dataset, file: r.file, startEvent: r.startEvent, lastEvent: r.lastEvent },
        session.limits.maxChunk,
      );
      session.claiming--;
      if (session.closed) {
        await this.settle(this.ledger.release(r.key, lease.token, false, 'worker left before delivery'));
        this.wake();
        return;
      }
      const range: EventRange = {
        eventRangeID: lease.eventRangeID,
        taskID: r.task,
        scope: r.scope,
        LFN: r.LFN,
        GUID: r.GUID,
        startEvent: r.startEvent,
        lastEvent: r.lastEvent,
        attempt: r.attempt,
        dataset: task.spec.dataset,
        bytes: stream.totalBytes,
      };
      session.assign(range, lease.token, r.key, stream);
    } catch (e) {
      session.claiming--;
      this.log.error({ err: e, range: lease.eventRangeID }, 'cannot open range data; giving the range up');
      await this.settle(this.ledger.release(r.key, lease.token, true, `data unreadable: ${(e as Error).message}`));
      this.wake();
    }
  }

  /** Reading a held range's data failed mid-stream: the worker drops it and it goes back to ready. */
  async readFailed(session: WorkerSession, held: HeldRange, error: Error): Promise<void> {
    session.drop(held.range.eventRangeID);
    session.send({ type: 'revoke', range: held.range.eventRangeID, reason: `source unavailable: ${error.message}` });
    await this.settle(this.ledger.release(held.key, held.token, true, `data unreadable: ${error.message}`));
    this.wake();
  }

  /**
   * Offers ready ranges to every session with free slots, one session at a time, skipping the
   * rest of a task's subscribers once a claim for it came back empty. Calls made while a pass
   * runs fold into one more pass.
   */
  wake(): void {
    if (this.draining) return;
    if (this.waking) {
      this.wakeAgain = true;
      return;
    }
    this.waking = (async () => {
      do {
        this.wakeAgain = false;
        const exhausted = new Set<number | null>();
        for (const s of [...this.sessions.values()]) {
          if (s.closed || s.task === undefined || s.freeSlots === 0) continue;
          if (exhausted.has(s.task) || exhausted.has(null)) continue;
          const got = await this.fill(s).catch((e: unknown) => {
            this.log.error({ err: e, worker: s.workerId }, 'fill failed');
            return 0;
          });
          if (got === 0) exhausted.add(s.task);
        }
      } while (this.wakeAgain && !this.draining);
    })().finally(() => {
      this.waking = null;
    });
  }

  private async reap(): Promise<void> {
    try {
      const changed = await this.ledger.reap(Date.now());
      if (changed.length === 0) return;
      for (const r of changed) {
        for (const s of this.sessions.values()) {
          for (const held of [...s.held.values()]) {
            if (held.key === r.key) {
              s.drop(held.range.eventRangeID);
              s.send({ type: 'revoke', range: held.range.eventRangeID, reason: 'lease expired' });
            }
          }
        }
      }
      this.wake();
    } catch (e) {
      this.log.error({ err: e }, 'reaping leases failed');
    }
  }

  private taskCompleted(task: number): void {
    this.log.info({ task }, 'task complete');
    for (const s of this.sessions.values()) {
      if (s.task === task && s.held.size === 0) s.sendDone(task, 'complete');
    }
  }

  private async settle(p: Promise<LedgerOutcome>): Promise<void> {
    const outcome = await p;
    if (outcome.kind === 'ok' && outcome.taskComplete) this.taskCompleted(outcome.range.task);
  }
}
