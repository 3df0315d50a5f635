/**
 * The worker client: connects to an ESS node, says hello, subscribes to a task, keeps its
 * prefetch depth of ranges in flight, writes each range to a file while returning credit,
 * runs the payload on it if asked, reports the outcome, and reconnects when the link drops.
 */
import { readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { pino, type Logger } from 'pino';
import WebSocket from 'ws';
import {
  CHUNK_FRAME_OVERHEAD,
  CloseCode,
  DEFAULT_LIMIT_POLICY,
  ErrorCode,
  PROTOCOL_VERSION,
  ReceiveWindow,
  STREAM_PATH,
  decodeServerMessage,
  encode,
  type ClientMessage,
  type EventRange,
  type Limits,
  type Report,
  type ResumeEntry,
  type ServerMessage,
} from '@ess/protocol';
import { Backoff } from './backoff.js';
import { PayloadRunner } from './PayloadRunner.js';
import { RangeReceiver } from './RangeReceiver.js';
import { ArrowRangeReceiver } from './ArrowRangeReceiver.js';

/** A range arriving: written as an ESS event file, or (ROOT entries) as an Arrow file. */
type Receiver = RangeReceiver | ArrowRangeReceiver;

export interface WorkerOptions {
  /**
   * `ws://host:port` of a node (the /v1/stream path is added when missing), or several nodes of a
   * cluster: a dropped link moves to the next one, and the worker's ranges follow it there.
   */
  readonly url: string | readonly string[];
  /** Task to work on, or null for whatever the node hands out. */
  readonly task: number | null;
  /** Folder for range files. */
  readonly outDir: string;
  /** Identity that survives reconnects (default host-pid). */
  readonly id?: string;
  readonly label?: string;
  readonly site?: string;
  readonly token?: string;
  /** A file holding the token, read again on every connect (for JWTs renewed while the worker runs). */
  readonly tokenFile?: string;
  readonly prefetch?: number;
  readonly window?: number;
  readonly maxChunk?: number;
  /** Payload command with `{file}`; without it a range is finished once its file is written. */
  readonly exec?: string;
  readonly slots?: number;
  /** Reconnect after a dropped link (default true). */
  readonly reconnect?: boolean;
  readonly maxBackoffMs?: number;
  readonly log?: Logger;
  readonly onEvent?: (event: WorkerEvent) => void;
}

export type WorkerEvent =
  | { readonly type: 'connected'; readonly session: string; readonly limits: Limits }
  | { readonly type: 'assigned'; readonly range: EventRange }
  | { readonly type: 'range-written'; readonly range: EventRange; readonly path: string; readonly bytes: number; readonly events: number }
  | { readonly type: 'reported'; readonly range: string; readonly status: Report['status']; readonly duplicate: boolean }
  | { readonly type: 'revoked'; readonly range: string; readonly reason: string }
  | { readonly type: 'disconnected'; readonly code: number; readonly reason: string }
  | { readonly type: 'server-error'; readonly code: string; readonly message: string; readonly fatal: boolean }
  | { readonly type: 'done'; readonly task: number; readonly reason: string };

export interface WorkerSummary {
  readonly rangesFinished: number;
  readonly rangesFailed: number;
  readonly bytes: number;
  readonly events: number;
  readonly files: readonly string[];
  readonly reconnects: number;
}

/** Close codes after which reconnecting cannot help. */
const FINAL_CLOSE_CODES: ReadonlySet<number> = new Set([
  CloseCode.badHello,
  CloseCode.unauthorized,
  CloseCode.forbidden,
  CloseCode.versionMismatch,
  CloseCode.replaced,
  CloseCode.protocolError,
  CloseCode.unsupportedData,
  CloseCode.messageTooBig,
]);

/**
 * Events a failed payload says it completed: the whole number it wrote to $ESS_PROGRESS_FILE,
 * counted from the range's first event. Those are recorded; only the rest is retried.
 */
async function readProgress(path: string): Promise<number> {
  try {
    const n = Number((await readFile(path, 'utf8')).trim());
    return Number.isSafeInteger(n) && n > 0 ? n : 0;
  } catch {
    return 0;
  }
}

export class WorkerError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class EssWorker {
  readonly id: string;
  private readonly log: Logger;
  private readonly urls: string[];
  /** Which of `urls` the current (or next) connection uses. */
  private urlIndex = 0;
  private ws: WebSocket | null = null;
  private limits: Limits | null = null;
  private credit: ReceiveWindow | null = null;
  /** Ranges whose data is arriving; kept across a dropped link so the next session resumes them. */
  private readonly receivers = new Map<string, Receiver>();
  /** Ranges whose data is complete and whose outcome is being settled (payload, report), with their tokens. */
  private readonly settling = new Map<string, string>();
  /** Reports sent and not yet acknowledged; sent again after a reconnect. */
  private readonly unacked = new Map<string, Report>();
  private readonly payload: PayloadRunner | null;
  private readonly backoff: Backoff;
  private heartbeat: NodeJS.Timeout | null = null;
  private lastHeard = 0;
  private doneTask: number | null = null;
  private stopped = false;
  private finished = false;
  /** Set when the server (or the protocol) ended the run for good. */
  private fatalError: WorkerError | null = null;
  /** The token the current connection presented. */
  private tokenUsed: string | undefined;
  private resolveRun!: (s: WorkerSummary) => void;
  private rejectRun!: (e: Error) => void;
  private stats = { rangesFinished: 0, rangesFailed: 0, bytes: 0, events: 0, files: [] as string[], reconnects: 0 };

  constructor(private readonly o: WorkerOptions) {
    this.id = o.id ?? `${hostname()}-${process.pid}`;
    this.log = (o.log ?? pino({ level: 'silent' })).child({ worker: this.id });
    this.urls = (typeof o.url === 'string' ? [o.url] : [...o.url]).map((url) => {
      const u = new URL(url);
      if (u.pathname === '/' || u.pathname === '') u.pathname = STREAM_PATH;
      return u.toString();
    });
    if (this.urls.length === 0) throw new Error('at least one server URL is needed');
    this.payload = o.exec ? new PayloadRunner(o.exec, o.slots ?? 1) : null;
    this.backoff = new Backoff(250, o.maxBackoffMs ?? 15_000);
  }

  /** Runs until the task has no more ranges for this worker; rejects on an error reconnecting cannot fix. */
  run(): Promise<WorkerSummary> {
    const done = new Promise<WorkerSummary>((resolve, reject) => {
      this.resolveRun = resolve;
      this.rejectRun = reject;
    });
    this.connect();
    return done;
  }

  /** Stops: closes the link (the node releases what this worker held) and kills running payloads. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.payload?.killAll();
    this.ws?.close(CloseCode.normal, 'worker stopping');
    await Promise.all([...this.receivers.values()].map((r) => r.abort()));
    this.finish(null);
  }

  private emit(event: WorkerEvent): void {
    this.o.onEvent?.(event);
  }

  private connect(): void {
    const maxChunk = this.o.maxChunk ?? DEFAULT_LIMIT_POLICY.maxChunk;
    const ws = new WebSocket(this.urls[this.urlIndex]!, { perMessageDeflate: false, maxPayload: 2 * (maxChunk + CHUNK_FRAME_OVERHEAD) });
    this.ws = ws;
    ws.binaryType = 'nodebuffer';
    ws.on('open', () => {
      this.lastHeard = Date.now();
      this.tokenUsed = this.token();
      this.send({
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        role: 'worker',
        token: this.tokenUsed,
        worker: { id: this.id, label: this.o.label, site: this.o.site },
        want: { maxChunk: this.o.maxChunk, window: this.o.window, prefetch: this.o.prefetch },
        agent: `ess-client/${process.versions.node}`,
        resume: this.resumeEntries(),
      });
    });
    ws.on('message', (data: Buffer, isBinary) => {
      this.lastHeard = Date.now();
      if (!isBinary) return this.protocolFailure('the server sent a text frame');
      const decoded = decodeServerMessage(data);
      if (!decoded.ok) return this.protocolFailure(`undecodable frame from the server: ${decoded.error.message}`);
      this.handle(decoded.value);
    });
    ws.on('error', (e) => this.log.warn({ err: e }, 'connection error'));
    ws.on('close', (code, reason) => this.closed(ws, code, reason.toString()));
  }

  /** The token to present: from the token file when there is one (it may have been renewed), else the option. */
  private token(): string | undefined {
    if (!this.o.tokenFile) return this.o.token;
    try {
      return readFileSync(this.o.tokenFile, 'utf8').trim() || undefined;
    } catch (e) {
      this.log.warn({ err: e, file: this.o.tokenFile }, 'cannot read the token file');
      return this.o.token;
    }
  }

  /** What this worker holds, for the server to take back after a reconnect. */
  private resumeEntries(): ResumeEntry[] {
    const entries: ResumeEntry[] = [];
    for (const [range, r] of this.receivers) entries.push({ range, token: r.token, ...r.progress(), complete: false });
    const complete = new Map(this.settling);
    for (const [range, report] of this.unacked) complete.set(range, report.token);
    for (const [range, token] of complete) entries.push({ range, token, bytes: 0, chunks: 0, crc32: 0, complete: true });
    return entries;
  }

  private send(msg: ClientMessage): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(encode(msg));
  }

  private handle(msg: ServerMessage): void {
    switch (msg.type) {
      case 'welcome':
        if (!msg.limits) return this.protocolFailure('welcome without limits on the worker channel');
        return this.welcome(msg.session, msg.limits);
      case 'assign': {
        const r =
          msg.content?.file === 'arrow'
            ? new ArrowRangeReceiver(msg.range, msg.token, this.o.outDir, msg.content)
            : new RangeReceiver(msg.range, msg.token, this.o.outDir);
        this.receivers.set(msg.range.eventRangeID, r);
        this.emit({ type: 'assigned', range: msg.range });
        return;
      }
      case 'chunk':
        return this.chunk(msg);
      case 'end': {
        const r = this.receivers.get(msg.range);
        if (!r) return;
        this.receivers.delete(msg.range);
        this.settling.set(msg.range, r.token);
        void this.settle(r, msg);
        return;
      }
      case 'resumed':
        for (const { range, code, reason } of msg.refused) {
          // The range went elsewhere while this worker was away: drop whatever it had of it.
          const r = this.receivers.get(range);
          this.receivers.delete(range);
          this.unacked.delete(range);
          void r?.abort();
          this.log.warn({ range, code, reason }, 'range not taken back after the reconnect');
          this.emit({ type: 'revoked', range, reason });
        }
        this.maybeDone();
        return;
      case 'ack': {
        this.unacked.delete(msg.range);
        this.emit({ type: 'reported', range: msg.range, status: msg.status, duplicate: msg.duplicate });
        this.maybeDone();
        return;
      }
      case 'revoke': {
        const r = this.receivers.get(msg.range);
        this.receivers.delete(msg.range);
        this.unacked.delete(msg.range);
        void r?.abort();
        this.log.warn({ range: msg.range, reason: msg.reason }, 'range revoked');
        this.emit({ type: 'revoked', range: msg.range, reason: msg.reason });
        return;
      }
      case 'done':
        this.doneTask = msg.task;
        this.emit({ type: 'done', task: msg.task, reason: msg.reason });
        this.maybeDone();
        return;
      case 'error':
        this.log[msg.fatal ? 'error' : 'warn']({ code: msg.code, ref: msg.ref }, msg.message);
        this.emit({ type: 'server-error', code: msg.code, message: msg.message, fatal: msg.fatal });
        if (msg.code === ErrorCode.unavailable && msg.ref) {
          // Nothing was recorded: the same report again in a moment (recording it is retry-safe).
          const report = this.unacked.get(msg.ref);
          if (report) setTimeout(() => this.unacked.get(msg.ref!) === report && this.send(report), 1_000).unref();
          return;
        }
        if (msg.ref) this.unacked.delete(msg.ref); // a refused report is not retried
        // A session timed out is a link that stalled, not a verdict on this worker: the close that
        // follows reconnects like any lost link. Every other fatal error ends the run.
        if (msg.fatal && msg.code !== ErrorCode.timeout) this.fatalError = new WorkerError(msg.code, msg.message);
        this.maybeDone();
        return;
      case 'heartbeat':
        return;
      case 'snapshot':
      case 'delta':
        return this.protocolFailure(`monitor message ${msg.type} on the worker channel`);
    }
  }

  private welcome(session: string, limits: Limits): void {
    this.limits = limits;
    this.credit = new ReceiveWindow(limits.window);
    this.backoff.reset();
    this.log.info({ session, limits }, 'connected');
    this.emit({ type: 'connected', session, limits });
    for (const report of this.unacked.values()) this.send(report);
    this.send({ type: 'subscribe', task: this.o.task });
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => {
      if (Date.now() - this.lastHeard > 3 * limits.heartbeatMs) {
        this.log.warn('no word from the server for three heartbeats; reconnecting');
        this.ws?.terminate();
        return;
      }
      this.send({ type: 'heartbeat', t: Date.now() });
    }, limits.heartbeatMs);
  }

  private chunk(msg: Extract<ServerMessage, { type: 'chunk' }>): void {
    const credit = this.credit;
    if (!credit) return this.protocolFailure('chunk before welcome');
    const got = credit.receive(msg.data.length);
    if (!got.ok) return this.protocolFailure(got.error.message);
    const r = this.receivers.get(msg.range);
    if (!r) {
      // Data of a range revoked a moment ago: drop it, but give its credit back.
      this.release(credit, msg.data.length);
      return;
    }
    let written: Promise<void>;
    try {
      written = r.accept(msg);
    } catch (e) {
      this.log.error({ err: e }, 'range data out of order; dropping the range');
      this.receivers.delete(msg.range);
      void r.abort();
      this.release(credit, msg.data.length);
      this.report({ type: 'report', range: msg.range, token: r.token, status: 'failed', eventsDone: 0, message: (e as Error).message });
      return;
    }
    written.then(
      () => this.release(credit, msg.data.length),
      (e: unknown) => {
        this.log.error({ err: e, range: msg.range }, 'cannot write range file');
        this.release(credit, msg.data.length);
      },
    );
  }

  private release(credit: ReceiveWindow, bytes: number): void {
    const limit = credit.release(bytes);
    if (limit !== null && credit === this.credit) this.send({ type: 'credit', limit });
  }

  private async settle(r: Receiver, end: Extract<ServerMessage, { type: 'end' }>): Promise<void> {
    const id = r.range.eventRangeID;
    try {
      const file = await r.finish(end);
      this.stats.bytes += end.bytes;
      this.stats.events += end.events;
      this.stats.files.push(file.path);
      this.emit({ type: 'range-written', range: r.range, path: file.path, bytes: end.bytes, events: end.events });
      if (!this.payload) {
        this.report({ type: 'report', range: id, token: r.token, status: 'finished', eventsRead: end.eventsRead, eventsPassed: end.events });
        return;
      }
      const progressFile = `${file.path}.progress`;
      const result = await this.payload.run(
        file.path,
        {
          ESS_EVENT_RANGE_ID: id,
          ESS_LFN: r.range.LFN,
          ESS_GUID: r.range.GUID,
          ESS_START_EVENT: String(r.range.startEvent),
          ESS_LAST_EVENT: String(r.range.lastEvent),
          ESS_PROGRESS_FILE: progressFile,
        },
        () => this.report({ type: 'report', range: id, token: r.token, status: 'running' }),
      );
      if (result.exitCode === 0) this.report({ type: 'report', range: id, token: r.token, status: 'finished', eventsRead: end.eventsRead, eventsPassed: end.events });
      else {
        const why = result.signal ? `payload killed by ${result.signal}` : `payload exited with ${result.exitCode}`;
        const eventsDone = await readProgress(progressFile);
        this.report({ type: 'report', range: id, token: r.token, status: 'failed', eventsDone, message: result.stderrTail ? `${why}: ${result.stderrTail}` : why });
      }
      await rm(progressFile, { force: true });
    } catch (e) {
      this.log.error({ err: e, range: id }, 'range failed before the payload');
      this.report({ type: 'report', range: id, token: r.token, status: 'failed', eventsDone: 0, message: (e as Error).message });
    } finally {
      this.settling.delete(id);
      this.maybeDone();
    }
  }

  private report(report: Report): void {
    if (report.status === 'finished') this.stats.rangesFinished++;
    if (report.status === 'failed') this.stats.rangesFailed++;
    if (report.status !== 'running') this.unacked.set(report.range, report);
    this.send(report);
  }

  private maybeDone(): void {
    if (this.fatalError) return;
    if (this.doneTask === null || this.receivers.size > 0 || this.settling.size > 0 || this.unacked.size > 0) return;
    this.stopped = true;
    this.ws?.close(CloseCode.normal, 'task done');
    this.finish(null);
  }

  private protocolFailure(message: string): void {
    this.log.error(message);
    this.fatalError = new WorkerError('protocol', message);
    this.ws?.close(CloseCode.protocolError, message.slice(0, 120));
  }

  private closed(ws: WebSocket, code: number, reason: string): void {
    if (ws !== this.ws) return;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    this.credit = null;
    this.emit({ type: 'disconnected', code, reason });
    if (this.stopped || this.finished) return;
    // An expired token is worth another try when its file now holds a different one.
    const renewed = code === CloseCode.unauthorized && this.o.tokenFile !== undefined && this.token() !== this.tokenUsed;
    if (renewed) this.fatalError = null;
    if (!renewed && (this.fatalError || FINAL_CLOSE_CODES.has(code) || this.o.reconnect === false)) {
      for (const r of this.receivers.values()) void r.abort();
      this.receivers.clear();
      this.finish(this.fatalError ?? new WorkerError(`close_${code}`, `the server closed the connection (${code}${reason ? `: ${reason}` : ''})`));
      return;
    }
    // Ranges still arriving stay: the next session resumes them where their data stopped.
    const delay = this.backoff.next();
    this.stats.reconnects++;
    // With several nodes, try the next one: the ledger they share hands this worker's ranges back there.
    this.urlIndex = (this.urlIndex + 1) % this.urls.length;
    this.log.warn({ code, reason, delayMs: delay, next: this.urls[this.urlIndex] }, 'link lost; reconnecting');
    setTimeout(() => {
      if (!this.stopped && !this.finished) this.connect();
    }, delay);
  }

  private finish(error: Error | null): void {
    if (this.finished) return;
    this.finished = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (error) this.rejectRun(error);
    else this.resolveRun({ ...this.stats, files: [...this.stats.files] });
  }
}
