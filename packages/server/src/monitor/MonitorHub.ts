/**
 * The monitor channel (/v1/monitor): a snapshot on connect, then one delta per interval holding
 * only changed rows. Each message is encoded once for every dashboard, so the cost stays flat
 * in the number of dashboards; a dashboard that cannot keep up is skipped, then resynced.
 */
import {
  CloseCode,
  ErrorCode,
  PROTOCOL_VERSION,
  TaskStateName,
  decodeClientMessage,
  encode,
  incompatibility,
  type Alarm,
  type CacheStats,
  type MonitorDelta,
  type MonitorSnapshot,
  type NodeRow,
  type ProtocolError,
  type SourceRow,
  type TaskRow,
  type Totals,
  type WorkerRow,
} from '@ess/protocol';
import { Permission, type Authenticator } from '../auth/index.js';
import type { NodeView } from '../cluster/index.js';
import type { Dispatcher } from '../dispatch/Dispatcher.js';
import type { Ledger } from '../dispatch/Ledger.js';
import type { Logger } from '../log.js';
import { RateMeter } from '../metrics/RateMeter.js';
import type { WsChannelHandlers, WsSocket } from '../transport/index.js';
import type { DeliveryTotals, WorkerSession } from '../stream/WorkerSession.js';
import { AlarmBoard } from './Alarms.js';

export interface MonitorHubOptions {
  readonly dispatcher: Dispatcher;
  readonly ledger: Ledger;
  readonly totals: DeliveryTotals;
  readonly node: { readonly id: string; readonly version: string; readonly startedAt: number };
  readonly intervalMs: number;
  /** A connected worker silent for this long is shown stale. */
  readonly staleAfterMs: number;
  /** A disconnected worker stays listed (as gone) for this long. */
  readonly goneRetentionMs: number;
  /** A dashboard with more than this buffered is skipped until it drains, then sent a fresh snapshot. */
  readonly maxBuffered: number;
  readonly helloTimeoutMs: number;
  readonly sources: () => SourceRow[];
  readonly cache: () => CacheStats | null;
  readonly auth: Authenticator;
  /** The other nodes of a cluster (absent on a single node): their rows join this node's view. */
  readonly cluster?: MonitorCluster | undefined;
  readonly log: Logger;
}

/** What the monitor needs from a cluster: publish this node's rows, read the others'. */
export interface MonitorCluster {
  publishView(view: Omit<NodeView, 'node' | 't'>, ttlMs: number): void;
  otherViews(): Promise<NodeView[]>;
  nodeRows(views: readonly NodeView[], selfView: Omit<NodeView, 'node' | 't'>): NodeRow[];
}

type MonitorConn =
  | { phase: 'hello'; timer: NodeJS.Timeout }
  | { phase: 'checking' }
  | { phase: 'open'; resync: boolean; expiry: NodeJS.Timeout | null }
  | { phase: 'closed' };

interface TaskMeter {
  readonly rate: RateMeter;
  last: TaskRow | null;
}

/** Largest frame a dashboard may send (its hello, with a token). */
export const MONITOR_MAX_FRAME = 16 * 1024;

/** One minute of cumulative totals, for "over the last minute" alarm figures. */
const HISTORY_MS = 60_000;

export class MonitorHub implements WsChannelHandlers<MonitorConn> {
  private readonly monitors = new Set<WsSocket<MonitorConn>>();
  private timer: NodeJS.Timeout | null = null;
  private ticking = false;
  private seq = 0;
  /** The last row sent per worker id (gone rows included until they expire). */
  private readonly workerRows = new Map<string, WorkerRow>();
  private readonly goneAt = new Map<string, number>();
  private readonly taskMeters = new Map<number, TaskMeter>();
  private readonly totalRate = new RateMeter();
  private readonly totalEventRate = new RateMeter();
  private readonly alarms = new AlarmBoard();
  private readonly history: { t: number; finished: number; failed: number; hit: number; miss: number }[] = [];
  private current: Omit<MonitorSnapshot, 'type' | 'seq' | 't'> | null = null;
  /** Smoothed time one tick takes (collect, encode, send to every dashboard), in ms. */
  tickMs = 0;
  /** Bytes of the last delta, sent to every dashboard. */
  deltaBytes = 0;
  private readonly log: Logger;

  constructor(private readonly o: MonitorHubOptions) {
    this.log = o.log;
  }

  /** The other nodes' views, refreshed every second (not every tick: they change at their own pace). */
  private others: NodeView[] = [];
  private othersTimer: NodeJS.Timeout | null = null;

  start(): void {
    this.timer ??= setInterval(() => void this.tick(), this.o.intervalMs);
    this.timer.unref();
    const cluster = this.o.cluster;
    if (cluster && !this.othersTimer) {
      this.othersTimer = setInterval(() => {
        cluster.otherViews().then(
          (v) => (this.others = v),
          (e: unknown) => this.log.warn({ err: e }, 'reading the other nodes\' views failed'),
        );
      }, 1_000);
      this.othersTimer.unref();
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.othersTimer) clearInterval(this.othersTimer);
    this.timer = null;
    this.othersTimer = null;
  }

  get dashboards(): number {
    return this.monitors.size;
  }

  /** Task rows as of the last tick. */
  get tasks(): readonly TaskRow[] {
    return this.current?.tasks ?? [];
  }

  // ---- channel -----------------------------------------------------------------------------------

  open(socket: WsSocket<MonitorConn | undefined>): MonitorConn {
    const timer = setTimeout(() => {
      if (socket.state?.phase === 'hello') this.fatal(socket as WsSocket<MonitorConn>, { code: ErrorCode.timeout, message: 'no hello within the handshake timeout', close: CloseCode.timeout });
    }, this.o.helloTimeoutMs);
    return { phase: 'hello', timer };
  }

  text(socket: WsSocket<MonitorConn>): void {
    this.fatal(socket, { code: ErrorCode.badFrame, message: 'text frames are not part of the protocol', close: CloseCode.unsupportedData });
  }

  message(socket: WsSocket<MonitorConn>, data: Uint8Array): void {
    const conn = socket.state;
    if (conn.phase !== 'hello') return; // a monitor has nothing more to say after hello (heartbeats are ignored)
    if (data.length > MONITOR_MAX_FRAME) {
      this.fatal(socket, { code: ErrorCode.frameTooBig, message: `a ${data.length}-byte frame exceeds the limit of ${MONITOR_MAX_FRAME}`, close: CloseCode.messageTooBig });
      return;
    }
    const decoded = decodeClientMessage(data);
    if (!decoded.ok) {
      this.fatal(socket, { ...decoded.error, close: decoded.error.close ?? CloseCode.badHello });
      return;
    }
    const msg = decoded.value;
    if (msg.type !== 'hello') {
      this.fatal(socket, { code: ErrorCode.outOfOrder, message: `expected hello, got ${msg.type}`, close: CloseCode.badHello });
      return;
    }
    const mismatch = incompatibility(msg.protocol);
    if (mismatch) {
      this.fatal(socket, { code: ErrorCode.versionMismatch, message: `${mismatch}: this server speaks protocol ${PROTOCOL_VERSION}`, close: CloseCode.versionMismatch });
      return;
    }
    if (msg.role !== 'monitor') {
      this.fatal(socket, { code: ErrorCode.badMessage, message: `role "${msg.role}" belongs on the stream channel`, close: CloseCode.badHello });
      return;
    }
    clearTimeout(conn.timer);
    socket.state = { phase: 'checking' };
    this.o.auth.authorize(msg.token, Permission.watch).then(
      (access) => {
        if (socket.closed) return;
        if (!access.ok) return this.fatal(socket, access.error);
        const expiresAt = access.principal.expiresAt;
        const expiry =
          expiresAt === null
            ? null
            : setTimeout(() => this.fatal(socket, { code: ErrorCode.unauthorized, message: 'the token has expired', close: CloseCode.unauthorized }), Math.max(0, expiresAt - Date.now()));
        this.welcome(socket, expiry);
      },
      (e: unknown) => {
        this.log.error({ err: e }, 'checking a monitor token failed');
        this.fatal(socket, { code: ErrorCode.internal, message: 'internal error', close: CloseCode.internalError });
      },
    );
  }

  private welcome(socket: WsSocket<MonitorConn>, expiry: NodeJS.Timeout | null): void {
    socket.state = { phase: 'open', resync: false, expiry };
    this.monitors.add(socket);
    socket.send(
      encode({
        type: 'welcome',
        protocol: PROTOCOL_VERSION,
        role: 'monitor',
        server: { id: this.o.node.id, version: this.o.node.version },
        session: `m-${socket.id}`,
        worker: null,
        limits: null,
      }),
    );
    if (this.current) socket.send(this.snapshotFrame());
    else socket.state = { phase: 'open', resync: true, expiry };
  }

  writable(): void {}

  close(socket: WsSocket<MonitorConn>): void {
    const conn = socket.state;
    if (conn.phase === 'hello') clearTimeout(conn.timer);
    if (conn.phase === 'open' && conn.expiry) clearTimeout(conn.expiry);
    socket.state = { phase: 'closed' };
    this.monitors.delete(socket);
  }

  private fatal(socket: WsSocket<MonitorConn>, error: ProtocolError): void {
    if (socket.closed) return;
    socket.send(encode({ type: 'error', code: error.code, message: error.message, fatal: true }));
    socket.end(error.close ?? CloseCode.policyViolation, error.message);
  }

  // ---- ticks -------------------------------------------------------------------------------------

  /** Builds the current state and sends every dashboard its delta (or a snapshot when it needs one). */
  async tick(now = Date.now()): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    const t0 = performance.now();
    try {
      const changedWorkers: WorkerRow[] = [];
      const gone: string[] = [];
      const local = this.localWorkers(now);
      const { rows: tasks, changed: changedTasks } = await this.collectTasks(now);
      const localTotals = this.collectTotals(now);
      let totals = localTotals;
      let nodes: NodeRow[] = [];
      let incoming = local;
      const cluster = this.o.cluster;
      if (cluster) {
        const selfView = { workers: local, totals: localTotals };
        cluster.publishView(selfView, 3 * this.o.intervalMs + 2_000);
        incoming = mergeRows(local, this.others.flatMap((v) => v.workers));
        totals = sumTotals(localTotals, this.others.map((v) => v.totals));
        nodes = cluster.nodeRows(this.others, selfView);
      }
      this.collectWorkers(now, incoming, changedWorkers, gone);
      const sources = this.o.sources();
      const cache = this.o.cache();
      const workers = [...this.workerRows.values()];
      const alarms = this.evaluateAlarms(now, workers, sources, cache);
      this.current = { intervalMs: this.o.intervalMs, node: this.o.node, workers, tasks, totals, cache, sources, alarms, nodes };
      if (this.monitors.size === 0) return;

      const delta: MonitorDelta = { type: 'delta', seq: ++this.seq, t: now, workers: changedWorkers, gone, tasks: changedTasks, totals, cache, sources, alarms, nodes };
      const deltaFrame = encode(delta);
      this.deltaBytes = deltaFrame.length;
      let snapshot: Buffer | null = null;
      for (const m of this.monitors) {
        const conn = m.state;
        if (conn.phase !== 'open') continue;
        if (m.bufferedAmount() > this.o.maxBuffered) {
          conn.resync = true; // it missed deltas: it needs a whole snapshot once it catches up
          continue;
        }
        if (conn.resync) {
          snapshot ??= this.snapshotFrame();
          m.send(snapshot);
          conn.resync = false;
        } else {
          m.send(deltaFrame);
        }
      }
    } catch (e) {
      this.log.error({ err: e }, 'monitor tick failed');
    } finally {
      this.ticking = false;
      this.tickMs += 0.2 * (performance.now() - t0 - this.tickMs);
    }
  }

  private snapshotFrame(): Buffer {
    const c = this.current!;
    return encode({ type: 'snapshot', seq: this.seq, t: Date.now(), ...c });
  }

  /** Rows of the workers connected to this node. */
  private localWorkers(now: number): WorkerRow[] {
    const rows: WorkerRow[] = [];
    for (const s of this.o.dispatcher.listSessions()) if (!s.closed) rows.push(this.workerRow(s, now));
    return rows;
  }

  /** Updates the rows sent to dashboards from the rows present now; a row that left turns `gone`, then expires. */
  private collectWorkers(now: number, incoming: readonly WorkerRow[], changed: WorkerRow[], gone: string[]): void {
    const live = new Set<string>();
    for (const row of incoming) {
      live.add(row.id);
      if (row.health !== 'gone') this.goneAt.delete(row.id);
      const prev = this.workerRows.get(row.id);
      if (!prev || !sameRow(prev, row)) changed.push(row);
      this.workerRows.set(row.id, row);
    }
    for (const [id, row] of this.workerRows) {
      if (live.has(id)) continue;
      const since = this.goneAt.get(id);
      if (since === undefined) {
        this.goneAt.set(id, now);
        const goneRow: WorkerRow = { ...row, health: 'gone', rate: 0, eventRate: 0, inFlight: 0, rangesInFlight: 0 };
        this.workerRows.set(id, goneRow);
        changed.push(goneRow);
      } else if (now - since > this.o.goneRetentionMs) {
        this.workerRows.delete(id);
        this.goneAt.delete(id);
        gone.push(id);
      }
    }
  }

  private workerRow(s: WorkerSession, now: number): WorkerRow {
    const w = s.window;
    return {
      id: s.workerId,
      label: s.label,
      site: s.site,
      node: this.o.node.id,
      health: s.health(this.o.staleAfterMs, now),
      task: s.task ?? null,
      connectedAt: s.connectedAt,
      lastSeen: s.lastSeen,
      bytes: s.bytes,
      events: s.events,
      rate: Math.round(s.byteRate.sample(s.bytes, now)),
      eventRate: Math.round(s.eventRate.sample(s.events, now) * 10) / 10,
      window: w.window,
      inFlight: Math.max(0, w.sent - (w.limit - w.window)),
      rangesInFlight: s.inFlight,
      rangesFinished: s.rangesFinished,
      rangesFailed: s.rangesFailed,
      hitBytes: s.hitBytes,
      missBytes: s.missBytes,
    };
  }

  private async collectTasks(now: number): Promise<{ rows: TaskRow[]; changed: TaskRow[] }> {
    const rows: TaskRow[] = [];
    const changed: TaskRow[] = [];
    for (const task of await this.o.ledger.listTasks()) {
      let meter = this.taskMeters.get(task.id);
      // A finished task's row no longer changes: reuse it instead of asking the ledger again.
      if (meter?.last && meter.last.state !== TaskStateName.active && meter.last.state === task.state) {
        rows.push(meter.last);
        continue;
      }
      const progress = await this.o.ledger.progress(task.id);
      if (!progress) continue;
      if (!meter) {
        meter = { rate: new RateMeter(5_000), last: null };
        this.taskMeters.set(task.id, meter);
      }
      const eventRate = task.state === TaskStateName.active ? meter.rate.sample(progress.eventsDone, now) : 0;
      const left = task.eventsTotal - progress.eventsDone;
      const row: TaskRow = {
        id: task.id,
        dataset: task.spec.dataset,
        state: task.state,
        createdAt: task.createdAt,
        priority: task.spec.priority,
        rangeSize: task.spec.rangeSize,
        ranges: progress.ranges,
        rangesTotal: task.rangesTotal,
        events: task.eventsTotal,
        eventsDone: progress.eventsDone,
        eventRate: Math.round(eventRate * 10) / 10,
        etaSeconds: task.state === TaskStateName.active && eventRate > 0 ? Math.round(left / eventRate) : task.state === TaskStateName.active ? null : 0,
      };
      if (!meter.last || !sameRow(meter.last, row)) changed.push(row);
      meter.last = row;
      rows.push(row);
    }
    return { rows, changed };
  }

  private collectTotals(now: number): Totals {
    const t = this.o.totals;
    let workers = 0;
    let active = 0;
    for (const s of this.o.dispatcher.listSessions()) {
      if (s.closed) continue;
      workers++;
      if (s.held.size > 0) active++;
    }
    let tasksActive = 0;
    for (const m of this.taskMeters.values()) if (m.last?.state === TaskStateName.active) tasksActive++;
    return {
      bytes: t.bytes,
      events: t.events,
      rate: Math.round(this.totalRate.sample(t.bytes, now)),
      eventRate: Math.round(this.totalEventRate.sample(t.events, now) * 10) / 10,
      workers,
      activeWorkers: active,
      tasksActive,
    };
  }

  private evaluateAlarms(now: number, workers: WorkerRow[], sources: SourceRow[], cache: CacheStats | null): Alarm[] {
    const t = this.o.totals;
    this.history.push({ t: now, finished: t.rangesFinished, failed: t.rangesFailed, hit: t.hitBytes, miss: t.missBytes });
    while (this.history.length > 2 && this.history[1]!.t <= now - HISTORY_MS) this.history.shift();
    const old = this.history[0]!;
    return this.alarms.evaluate(
      {
        workers,
        sources,
        cache,
        recentFinished: t.rangesFinished - old.finished,
        recentFailed: t.rangesFailed - old.failed,
        recentHitBytes: t.hitBytes - old.hit,
        recentMissBytes: t.missBytes - old.miss,
      },
      now,
    );
  }
}

function sameRow<T extends object>(a: T, b: T): boolean {
  for (const k of Object.keys(b) as (keyof T)[]) {
    const x = a[k];
    const y = b[k];
    if (x !== y && !(typeof x === 'object' && typeof y === 'object' && JSON.stringify(x) === JSON.stringify(y))) return false;
  }
  return true;
}

/** Local rows first; a worker another node lists wins only where this node has no live row for it. */
function mergeRows(local: readonly WorkerRow[], others: readonly WorkerRow[]): WorkerRow[] {
  const byId = new Map(local.map((r) => [r.id, r] as const));
  for (const r of others) {
    const mine = byId.get(r.id);
    if (!mine || (mine.health === 'gone' && r.health !== 'gone')) byId.set(r.id, r);
  }
  return [...byId.values()];
}

/** Cluster-wide totals: sums over the nodes (tasks come from the shared ledger already). */
function sumTotals(local: Totals, others: readonly Totals[]): Totals {
  const t = { ...local };
  for (const o of others) {
    t.bytes += o.bytes;
    t.events += o.events;
    t.rate += o.rate;
    t.eventRate += o.eventRate;
    t.workers += o.workers;
    t.activeWorkers += o.activeWorkers;
  }
  return t;
}
