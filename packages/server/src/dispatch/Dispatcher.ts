/**
 * The dispatcher: hands event ranges to subscribed workers up to their prefetch depth, records
 * their reports in the ledger (each range ends exactly once), and takes ranges back from
 * workers that vanish or whose leases lapse.
 */
import {
  ErrorCode,
  RangeState,
  TaskStateName,
  parseRangeId,
  rangeKey,
  type EventRange,
  type ProtocolError,
  type Report,
  type ResumeEntry,
  type Resumed,
} from '@ess/protocol';
import type { Catalogue } from '../catalogue/index.js';
import type { Marshaller, RangeRequest, RecordSchema } from '../marshal/index.js';
import type { Logger } from '../log.js';
import type { DeliveryTotals, HeldRange, WorkerSession } from '../stream/WorkerSession.js';
import type { DeliveryCounts, Lease, Ledger, LedgerOutcome, RangePlan, RangeRecord, TaskRecord, TaskSpec } from './Ledger.js';
import type { RangePrefetcher } from './RangePrefetcher.js';
import { planPickedRanges, planRanges } from './TaskPlanner.js';

export interface DispatcherOptions {
  readonly leaseMs: number;
  /**
   * How long a vanished worker's ranges wait for it to reconnect before they are released (one
   * attempt fewer). 0 releases at once. Within it, a worker that says hello with `resume` takes
   * its ranges back and its data continues where it stopped.
   */
  readonly graceMs: number;
  /** Delay before a range whose payload failed is offered again. */
  readonly retryDelayMs: number;
  /** How often lapsed leases are looked for. */
  readonly reapIntervalMs: number;
  /** Warms the cache for the ranges handed out next (absent without a cache). */
  readonly prefetcher?: RangePrefetcher | undefined;
  /** The other nodes sharing the ledger (absent on a single node). */
  readonly cluster?: DispatcherCluster | undefined;
  readonly log: Logger;
}

export interface NewTask {
  readonly dataset: string;
  /** Events per range (for picked events: the most adjacent ones merged into one range). */
  readonly rangeSize: number;
  /** Event picking: only these events, by (run, event number), instead of the whole dataset. */
  readonly events?: readonly { readonly run: number; readonly event: number }[] | undefined;
  readonly attempts?: number | undefined;
  readonly priority?: number | undefined;
  readonly label?: string | undefined;
  /** Skim: a CEL predicate over each event's fields (checked against the dataset here). */
  readonly skim?: string | undefined;
  /** Slim: the fields or branches to deliver, with `*` and `?` wildcards. */
  readonly slim?: readonly string[] | undefined;
}

/** What the dispatcher needs from a cluster of nodes sharing its ledger. */
export interface DispatcherCluster {
  /** This worker has a session on this node (renewed with its heartbeats). */
  present(worker: string): void;
  /** True when the worker has a session on another node now (its ranges must not be released here). */
  connectedElsewhere(worker: string): Promise<boolean>;
  /** Ranges became ready: idle workers on other nodes should look. */
  rangesReady(): void;
  /** A task completed: its subscribers on other nodes get `done`. */
  taskCompleted(task: number): void;
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
  /** Grace timers of workers whose session ended, by worker id. */
  private readonly orphans = new Map<string, NodeJS.Timeout>();
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
    this.reaper ??= setInterval(() => {
      void this.reap();
      // A backstop for cluster events lost in transit: idle workers look again now and then.
      if (this.options.cluster) this.wake();
    }, this.options.reapIntervalMs);
    this.reaper.unref();
  }

  /**
   * Stops handing out ranges (shutdown). Reports are still recorded; sessions that close from now
   * on keep their leases in the ledger, so their workers take them back from the next server.
   */
  stopAssigning(): void {
    this.draining = true;
    for (const t of this.orphans.values()) clearTimeout(t);
    this.orphans.clear();
  }

  async stop(): Promise<void> {
    this.stopAssigning();
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
      ...(req.skim !== undefined && { skim: req.skim }),
      ...(req.slim !== undefined && { slim: req.slim }),
    };
    // Refuses a predicate or field list that does not fit the dataset (SelectionError, with the position).
    await this.marshaller.compile(dataset, spec);
    let plans: RangePlan[];
    if (req.events) {
      const { found, missing } = await this.catalogue.locateEvents(dataset.id, req.events);
      if (missing.length > 0) {
        const some = missing.slice(0, 5).map((m) => `(${m.run}, ${m.event})`).join(', ');
        throw new DispatchError(ErrorCode.notFound, `${missing.length} picked events are not in ${dataset.id}: ${some}${missing.length > 5 ? ', ...' : ''}`);
      }
      plans = planPickedRanges(dataset, found, req.rangeSize);
    } else {
      plans = planRanges(dataset, req.rangeSize);
    }
    const task = await this.ledger.createTask(spec, plans, Date.now());
    this.log.info({ task: task.id, dataset: spec.dataset, ranges: task.rangesTotal, events: task.eventsTotal }, 'task created');
    this.options.prefetcher?.kick();
    this.rangesReady();
    return task;
  }

  /** What a dataset's records hold (the fields a skim may use and a slim may name). */
  recordSchema(dataset: string): Promise<RecordSchema> {
    return this.marshaller.schema(this.catalogue.require(dataset));
  }

  /** Cancels an active task; a complete or cancelled one is returned as it is. */
  async cancelTask(id: number): Promise<TaskRecord | null> {
    const task = await this.ledger.cancelTask(id);
    if (!task || task.state !== TaskStateName.cancelled) return task;
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
    const orphan = this.orphans.get(session.workerId);
    if (orphan) clearTimeout(orphan);
    this.orphans.delete(session.workerId);
    this.options.cluster?.present(session.workerId);
    return previous;
  }

  /**
   * A session's hello listed the ranges its worker held: takes back those the ledger still has
   * under this worker and token (their data continues from where it stopped) and releases the
   * worker's other leases, which it no longer knows about.
   */
  async resume(session: WorkerSession, entries: readonly ResumeEntry[]): Promise<void> {
    const accepted: string[] = [];
    const refused: Resumed['refused'] = [];
    const kept = new Set<string>();
    for (const e of entries) {
      const parts = parseRangeId(e.range);
      const r = parts && (await this.ledger.getRange(rangeKey(parts)));
      if (!parts || !r) {
        refused.push({ range: e.range, code: ErrorCode.unknownRange, reason: 'no such range' });
        continue;
      }
      const held = (r.state === RangeState.assigned || r.state === RangeState.running) && r.worker === session.workerId;
      if (!held || r.token !== e.token || r.attempt !== parts.attempt) {
        refused.push({ range: e.range, code: ErrorCode.leaseExpired, reason: `the range is ${r.state}, attempt ${r.attempt}${r.worker ? `, held by ${r.worker}` : ''}` });
        continue;
      }
      try {
        const task = await this.ledger.getTask(r.task);
        if (!task) throw new Error(`task ${r.task} vanished`);
        const stream = e.complete
          ? null
          : await this.marshaller.open(await this.rangeRequest(e.range, task, r), session.limits.maxChunk, { bytes: e.bytes, chunks: e.chunks, crc32: e.crc32 });
        session.resume(this.eventRange(e.range, task.spec.dataset, r, stream?.totalBytes ?? null), e.token, r.key, stream);
        if (r.state === RangeState.running) session.held.get(e.range)!.running = true;
        kept.add(r.key);
        accepted.push(e.range);
        this.totals.rangesResumed++;
      } catch (err) {
        refused.push({ range: e.range, code: ErrorCode.sourceUnavailable, reason: (err as Error).message });
      }
    }
    // Leases the worker did not mention (a restarted worker that lost its state) go back to ready.
    for (const lease of await this.ledger.heldBy(session.workerId)) {
      if (!kept.has(lease.range.key)) await this.settle(this.ledger.release(lease.range.key, lease.token, true, 'worker reconnected without it'));
    }
    if (kept.size > 0) await this.ledger.renew(session.workerId, this.options.leaseMs, Date.now());
    session.send({ type: 'resumed', ranges: accepted, refused });
    this.log.info({ worker: session.workerId, resumed: accepted.length, refused: refused.length }, 'worker resumed');
    if (refused.length > 0) this.rangesReady();
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
    this.options.cluster?.present(session.workerId);
    this.ledger
      .renew(session.workerId, this.options.leaseMs, Date.now())
      .then((renewed) => (renewed > session.held.size ? this.reconcile(session) : undefined))
      .catch((e: unknown) => this.log.error({ err: e, worker: session.workerId }, 'lease renewal failed'));
  }

  /**
   * The ledger says this worker holds more than its session knows: a claim the ledger recorded
   * whose reply never came back (the ledger's connection dropped), so the range was never sent.
   * Without this, the worker's heartbeats would keep such a lease alive for ever.
   */
  private async reconcile(session: WorkerSession): Promise<void> {
    if (session.claiming > 0 || session.closed || (await this.options.cluster?.connectedElsewhere(session.workerId))) return;
    let released = 0;
    for (const lease of await this.ledger.heldBy(session.workerId)) {
      if (session.claiming > 0 || session.closed) return;
      if (session.held.has(lease.eventRangeID)) continue;
      await this.settle(this.ledger.release(lease.range.key, lease.token, false, 'claimed but never delivered'));
      released++;
    }
    if (released > 0) {
      this.log.warn({ worker: session.workerId, ranges: released }, 'released leases recorded for a worker that never received them');
      this.rangesReady();
    }
  }

  /**
   * The session's socket closed. Unless a newer session of the same worker took over, or the
   * server is shutting down, what the worker holds goes back to ready (one attempt fewer) when
   * the grace period passes without it coming back.
   */
  async sessionClosed(session: WorkerSession): Promise<void> {
    session.markClosed();
    if (this.sessions.get(session.workerId) !== session) return;
    this.sessions.delete(session.workerId);
    if (this.draining || session.held.size === 0) return;
    const release = () => void this.releaseWorker(session.workerId, 'worker disconnected');
    if (this.options.graceMs <= 0) return release();
    this.orphans.set(session.workerId, setTimeout(release, this.options.graceMs).unref());
  }

  private async releaseWorker(worker: string, reason: string): Promise<void> {
    this.orphans.delete(worker);
    if (this.sessions.has(worker) || this.draining) return;
    // It came back on another node and took its ranges with it there.
    if (await this.options.cluster?.connectedElsewhere(worker)) return;
    const leases = await this.ledger.heldBy(worker);
    for (const lease of leases) await this.settle(this.ledger.release(lease.range.key, lease.token, true, reason));
    if (leases.length > 0) {
      this.log.info({ worker, ranges: leases.length }, 'worker gone; its ranges are ready again');
      this.rangesReady();
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
    try {
      if (msg.status === 'running') outcome = await this.ledger.start(key, msg.token);
      else if (msg.status === 'finished') outcome = await this.ledger.finish(key, msg.token, now, this.deliveryCounts(session, msg));
      else {
        outcome = await this.ledger.fail(key, msg.token, {
          eventsDone: msg.eventsDone ?? 0,
          message: msg.message ?? 'payload failed',
          retryDelayMs: this.options.retryDelayMs,
          now,
        });
      }
    } catch (e) {
      // The ledger is unreachable (Redis restarting, say): nothing was recorded, the worker sends the report again.
      this.log.warn({ err: e, range: msg.range }, 'cannot record a report now');
      session.send({ type: 'error', code: ErrorCode.unavailable, message: `the ledger cannot record this report now: ${(e as Error).message}`, fatal: false, ref: msg.range });
      return;
    }

    if (outcome.kind === 'unknown') {
      session.send({ type: 'error', code: ErrorCode.unknownRange, message: `no range ${msg.range}`, fatal: false, ref: msg.range });
      return;
    }
    if (outcome.kind === 'fenced') {
      this.totals.reportsFenced++;
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
    if (msg.status === 'failed') this.rangesReady();
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
    if (leases.length > 0) this.options.prefetcher?.kick();
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
      const stream = await this.marshaller.open(await this.rangeRequest(lease.eventRangeID, task, r), session.limits.maxChunk);
      this.options.prefetcher?.claimed(r.key);
      session.claiming--;
      if (session.closed) {
        await this.settle(this.ledger.release(r.key, lease.token, false, 'worker left before delivery'));
        this.rangesReady();
        return;
      }
      session.assign(this.eventRange(lease.eventRangeID, task.spec.dataset, r, stream.totalBytes), lease.token, r.key, stream);
    } catch (e) {
      session.claiming--;
      this.log.error({ err: e, range: lease.eventRangeID }, 'cannot open range data; giving the range up');
      await this.settle(this.ledger.release(r.key, lease.token, true, `data unreadable: ${(e as Error).message}`));
      this.rangesReady();
    }
  }

  private async rangeRequest(eventRangeID: string, task: TaskRecord, r: RangeRecord): Promise<RangeRequest> {
    const selection = await this.marshaller.selectionFor(task.id, task.spec);
    return { eventRangeID, dataset: task.spec.dataset, file: r.file, startEvent: r.startEvent, lastEvent: r.lastEvent, selection };
  }

  /** Events read and passed of a finished range: counted by its stream when this session sent it all, else as the worker's report says. */
  private deliveryCounts(session: WorkerSession, msg: Report): DeliveryCounts | undefined {
    const stream = session.held.get(msg.range)?.stream;
    if (stream?.allSent) {
      const end = stream.end();
      return { eventsRead: end.eventsRead, eventsPassed: end.events };
    }
    if (msg.eventsRead !== undefined && msg.eventsPassed !== undefined && msg.eventsPassed <= msg.eventsRead) return { eventsRead: msg.eventsRead, eventsPassed: msg.eventsPassed };
    return undefined;
  }

  private eventRange(eventRangeID: string, dataset: string, r: RangeRecord, bytes: number | null): EventRange {
    return { eventRangeID, taskID: r.task, scope: r.scope, LFN: r.LFN, GUID: r.GUID, startEvent: r.startEvent, lastEvent: r.lastEvent, attempt: r.attempt, dataset, bytes };
  }

  /** Reading a held range's data failed mid-stream: the worker drops it and it goes back to ready. */
  async readFailed(session: WorkerSession, held: HeldRange, error: Error): Promise<void> {
    session.drop(held.range.eventRangeID);
    session.send({ type: 'revoke', range: held.range.eventRangeID, reason: `source unavailable: ${error.message}` });
    await this.settle(this.ledger.release(held.key, held.token, true, `data unreadable: ${error.message}`));
    this.rangesReady();
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
      const { released, completed } = await this.ledger.reap(Date.now());
      if (released.length === 0 && completed.length === 0) return;
      for (const r of released) {
        for (const s of this.sessions.values()) {
          for (const held of [...s.held.values()]) {
            if (held.key === r.key) {
              s.drop(held.range.eventRangeID);
              s.send({ type: 'revoke', range: held.range.eventRangeID, reason: 'lease expired' });
            }
          }
        }
      }
      // After the revokes, so that subscribers left with nothing held get their `done`.
      for (const id of completed) this.taskCompleted(id);
      this.rangesReady();
    } catch (e) {
      this.log.error({ err: e }, 'reaping leases failed');
    }
  }

  /** Ranges are ready again here: wake the idle workers of this node, and tell the others. */
  private rangesReady(): void {
    this.wake();
    this.options.cluster?.rangesReady();
  }

  private taskCompleted(task: number): void {
    this.log.info({ task }, 'task complete');
    this.notifyComplete(task);
    this.options.cluster?.taskCompleted(task);
  }

  /** A task completed (here or on another node): its subscribers on this node with nothing held get `done`. */
  notifyComplete(task: number): void {
    for (const s of this.sessions.values()) {
      if (s.task === task && s.held.size === 0) s.sendDone(task, 'complete');
    }
  }

  private async settle(p: Promise<LedgerOutcome>): Promise<void> {
    const outcome = await p;
    if (outcome.kind === 'ok' && outcome.taskComplete) this.taskCompleted(outcome.range.task);
  }
}
