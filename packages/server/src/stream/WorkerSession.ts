/**
 * One worker connection's data plane: its negotiated limits, the ranges it holds, and the pump
 * that sends their chunks in order while credit and the socket's buffer allow.
 */
import {
  SendWindow,
  encode,
  type EventRange,
  type Limits,
  type ServerMessage,
  type WorkerHealth,
} from '@ess/protocol';
import type { WsSocket } from '../transport/index.js';
import type { PreparedChunk, RangeStream } from '../marshal/index.js';
import { RateMeter } from '../metrics/RateMeter.js';
import type { Logger } from '../log.js';

/** Chunks read ahead of the one being sent (bounded further by available credit). */
const READ_AHEAD = 2;
/** When the socket stays above its high-water mark, look again this often even without a drain. */
const SOCKET_RETRY_MS = 5;

export interface HeldRange {
  readonly range: EventRange;
  readonly token: string;
  readonly key: string;
  /** The data still to send; null for a range whose data the worker already has (taken back after a reconnect). */
  readonly stream: RangeStream | null;
  /** Prepared chunks by position in the stream's plan, and reads in progress. */
  readonly ready: Map<number, PreparedChunk>;
  readonly reading: Set<number>;
  /** All chunks and the end marker are sent. */
  delivered: boolean;
  /** The worker reported it running. */
  running: boolean;
}

export interface SessionEvents {
  /** Reading a range's data failed: the dispatcher gives the range up and tells the worker. */
  readFailed(session: WorkerSession, held: HeldRange, error: Error): void;
}

/** Server-wide counters that outlive sessions; every session adds to them. */
export class DeliveryTotals {
  bytes = 0;
  events = 0;
  chunks = 0;
  hitBytes = 0;
  missBytes = 0;
  rangesDelivered = 0;
  rangesFinished = 0;
  rangesFailed = 0;
  /** Ranges taken back by a reconnecting worker (their data continued where it stopped). */
  rangesResumed = 0;
  /** Reports refused because their token was no longer the range's (a late report from a lapsed lease). */
  reportsFenced = 0;
}

export class WorkerSession {
  readonly connectedAt = Date.now();
  lastSeen = Date.now();
  /** The task subscribed to (null: any task); undefined before `subscribe`. */
  task: number | null | undefined = undefined;
  /** Ranges held, in assignment order. */
  readonly held = new Map<string, HeldRange>();
  /** Held ranges whose data is not fully sent yet, in order. */
  private readonly sendQueue: HeldRange[] = [];
  readonly window: SendWindow;
  private pumping = false;
  private socketRetry: NodeJS.Timeout | null = null;
  closed = false;
  /** Ranges being claimed for this session right now (not yet in `held`). */
  claiming = 0;
  private doneSent: number | null = null;

  // Figures for the monitor and metrics.
  bytes = 0;
  events = 0;
  hitBytes = 0;
  missBytes = 0;
  rangesFinished = 0;
  rangesFailed = 0;
  readonly byteRate = new RateMeter();
  readonly eventRate = new RateMeter();
  badMessages = 0;

  constructor(
    readonly socket: WsSocket<unknown>,
    readonly sessionId: string,
    readonly workerId: string,
    readonly label: string,
    readonly site: string,
    readonly limits: Limits,
    /** Stop writing to the socket above this many buffered bytes. */
    private readonly highWater: number,
    private readonly events_: SessionEvents,
    private readonly totals: DeliveryTotals,
    private readonly log: Logger,
  ) {
    this.window = new SendWindow(limits.window);
  }

  /** Ranges held and not yet reported, plus those being claimed: what prefetch depth counts. */
  get inFlight(): number {
    return this.held.size + this.claiming;
  }

  get freeSlots(): number {
    return Math.max(0, this.limits.prefetch - this.inFlight);
  }

  send(message: ServerMessage): void {
    this.socket.send(encode(message));
  }

  /** Tells the worker its task has no more ranges for it; once per task. */
  sendDone(task: number, reason: 'complete' | 'cancelled'): void {
    if (this.doneSent === task) return;
    this.doneSent = task;
    this.send({ type: 'done', task, reason });
  }

  /** Hands a range to the worker and starts streaming it after those before it. */
  assign(range: EventRange, token: string, key: string, stream: RangeStream): void {
    this.hold(range, token, key, stream);
    this.send({ type: 'assign', range, token, ...(stream.content && { content: stream.content }) });
    this.pump();
  }

  /**
   * Takes back a range the worker held in an earlier session: its data continues from where it
   * stopped (`stream`), or, when the worker has it all (`stream` null), it only awaits the report.
   */
  resume(range: EventRange, token: string, key: string, stream: RangeStream | null): void {
    this.hold(range, token, key, stream);
    this.pump();
  }

  private hold(range: EventRange, token: string, key: string, stream: RangeStream | null): void {
    if (this.closed) return;
    const held: HeldRange = { range, token, key, stream, ready: new Map(), reading: new Set(), delivered: stream === null, running: false };
    this.held.set(range.eventRangeID, held);
    if (stream) this.sendQueue.push(held);
  }

  /** Drops a range (reported, revoked or given up); stops sending it if it was still streaming. */
  drop(eventRangeID: string): HeldRange | undefined {
    const held = this.held.get(eventRangeID);
    if (!held) return undefined;
    this.held.delete(eventRangeID);
    const i = this.sendQueue.indexOf(held);
    if (i >= 0) this.sendQueue.splice(i, 1);
    held.ready.clear();
    held.stream?.close();
    this.pump();
    return held;
  }

  /** A `credit` message: raise the limit and send what it allows. */
  grant(limit: number): ReturnType<SendWindow['grant']> {
    const r = this.window.grant(limit);
    if (r.ok && r.value.raised) this.pump();
    return r;
  }

  /** The socket can take more (drain, or an outbox flush). */
  writable(): void {
    this.pump();
  }

  health(staleAfterMs: number, now = Date.now()): WorkerHealth {
    if (this.closed) return 'gone';
    if (now - this.lastSeen > staleAfterMs) return 'stale';
    return this.held.size > 0 ? 'active' : 'idle';
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.markClosed();
    this.socket.end(code, reason);
  }

  markClosed(): void {
    this.closed = true;
    if (this.socketRetry) clearTimeout(this.socketRetry);
    this.socketRetry = null;
    this.sendQueue.length = 0;
    for (const h of this.held.values()) {
      h.ready.clear();
      h.stream?.close();
    }
  }

  /**
   * Sends as much as credit, the socket and prepared data allow, in range and chunk order.
   * Re-entered from credit grants, socket drains, completed reads and a short retry timer.
   */
  pump(): void {
    if (this.pumping || this.closed) return;
    this.pumping = true;
    try {
      for (;;) {
        const cur = this.sendQueue[0];
        if (!cur) return;
        const stream = cur.stream!;
        if (stream.allSent) {
          this.send(stream.end());
          stream.close();
          cur.delivered = true;
          this.sendQueue.shift();
          this.totals.rangesDelivered++;
          continue;
        }
        this.readAhead(cur, stream);
        const chunk = cur.ready.get(stream.nextIndex);
        if (!chunk) return; // a read is in progress; its completion pumps again
        if (!this.window.canSend(chunk.spec.length)) return; // a grant pumps again
        if (this.socket.bufferedAmount() >= this.highWater) {
          this.retrySoon();
          return;
        }
        cur.ready.delete(stream.nextIndex);
        this.socket.send(chunk.frame);
        this.window.consume(chunk.spec.length);
        stream.sent(chunk);
        this.bytes += chunk.spec.length;
        this.events += chunk.spec.entries.length;
        this.hitBytes += chunk.receipt.hitBytes;
        this.missBytes += chunk.receipt.missBytes;
        this.totals.bytes += chunk.spec.length;
        this.totals.events += chunk.spec.entries.length;
        this.totals.chunks++;
        this.totals.hitBytes += chunk.receipt.hitBytes;
        this.totals.missBytes += chunk.receipt.missBytes;
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Starts reads for the next chunks of `cur`, as far as READ_AHEAD and unspent credit allow. */
  private readAhead(cur: HeldRange, stream: RangeStream): void {
    let budget = this.window.available;
    for (const c of cur.ready.values()) budget -= c.spec.length;
    const first = stream.nextIndex;
    for (let i = first; i < first + READ_AHEAD && i < stream.chunks.length; i++) {
      if (cur.ready.has(i) || cur.reading.has(i)) continue;
      const length = stream.chunks[i]!.length;
      if (length > budget) return;
      budget -= length;
      cur.reading.add(i);
      stream.prepare(i).then(
        (chunk) => {
          cur.reading.delete(i);
          if (this.closed || !this.held.has(cur.range.eventRangeID)) return;
          cur.ready.set(i, chunk);
          this.pump();
        },
        (e: unknown) => {
          cur.reading.delete(i);
          if (this.closed || !this.held.has(cur.range.eventRangeID)) return;
          this.log.warn({ err: e, range: cur.range.eventRangeID, seq: stream.chunks[i]?.seq }, 'reading range data failed');
          this.events_.readFailed(this, cur, e as Error);
        },
      );
    }
  }

  /** True when nothing is waiting to be sent (used to drain before a shutdown). */
  get idle(): boolean {
    return this.sendQueue.length === 0;
  }

  private retrySoon(): void {
    if (this.socketRetry) return;
    this.socketRetry = setTimeout(() => {
      this.socketRetry = null;
      this.pump();
    }, SOCKET_RETRY_MS);
  }
}
