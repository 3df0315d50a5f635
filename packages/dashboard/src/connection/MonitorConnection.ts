/**
 * The monitor channel: opens `/v1/monitor`, says hello, feeds snapshots and deltas to the store, watches for
 * silence (stale view, dead socket), reconnects with backoff and jitter, and stops for a token when refused.
 */
import {
  CloseCode,
  ErrorCode,
  PROTOCOL_VERSION,
  Role,
  decodeServerMessage,
  encode,
  type ServerMessage,
} from '@ess/protocol';
import type { DashboardStore } from '../store/DashboardStore.js';
import { viewStaleMs } from '../store/thresholds.js';
import { DEFAULT_BACKOFF, backoffDelay, type BackoffPolicy } from './backoff.js';

/** The part of the browser WebSocket the connection uses (so tests can hand in a fake). */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  onopen: ((ev: Event) => void) | null;
  onmessage: ((ev: MessageEvent) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
  onerror: ((ev: Event) => void) | null;
  send(data: ArrayBufferView | ArrayBufferLike): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketFactory = (url: string) => WebSocketLike;

export interface Timers {
  setTimeout(cb: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  setInterval(cb: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

const globalTimers: Timers = {
  setTimeout: (cb, ms) => setTimeout(cb, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
  setInterval: (cb, ms) => setInterval(cb, ms),
  clearInterval: (h) => clearInterval(h as ReturnType<typeof setInterval>),
};

export interface MonitorConnectionOptions {
  /** `ws(s)://host/v1/monitor`. */
  url: string;
  store: DashboardStore;
  token?: string | null;
  createSocket?: WebSocketFactory;
  timers?: Timers;
  now?: () => number;
  random?: () => number;
  backoff?: BackoffPolicy;
  /** How often staleness is checked and the clock ticks (ms). */
  checkEveryMs?: number;
  /** A socket that has not opened and welcomed us within this time is abandoned and retried (ms). */
  connectTimeoutMs?: number;
  /** Called when the server refuses the token (so a stored one can be forgotten). */
  onTokenRejected?: () => void;
}

/** After this much total silence (not even a heartbeat) the socket is presumed dead and replaced. */
const MIN_DEAD_AFTER_MS = 15_000;

const FINAL_CLOSES: ReadonlySet<number> = new Set([
  CloseCode.unauthorized,
  CloseCode.forbidden,
  CloseCode.versionMismatch,
  CloseCode.badHello,
]);

/** A sentence for people about why the channel closed. */
export function describeClose(code: number, reason: string, hadToken: boolean): string {
  switch (code) {
    case CloseCode.normal:
      return 'The server ended the monitor session.';
    case CloseCode.goingAway:
      return 'The server is shutting down or restarting.';
    case CloseCode.unauthorized:
      return hadToken ? 'The server rejected the token (invalid or expired).' : 'The server requires a token.';
    case CloseCode.forbidden:
      return 'This token is not allowed to watch the monitor channel.';
    case CloseCode.versionMismatch:
      return `The server speaks another protocol version than this dashboard (v${PROTOCOL_VERSION}). Reload the page.`;
    case CloseCode.badHello:
      return `The server refused the dashboard's hello${reason ? `: ${reason}` : ''}.`;
    case CloseCode.timeout:
      return 'The monitor channel went silent and was dropped.';
    case 1006:
      return 'The connection to the server was lost.';
    default:
      return `The monitor channel closed (code ${code}${reason ? `: ${reason}` : ''}).`;
  }
}

export class MonitorConnection {
  private readonly store: DashboardStore;
  private readonly timers: Timers;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly backoff: BackoffPolicy;
  private readonly createSocket: WebSocketFactory;
  private readonly checkEveryMs: number;
  private readonly connectTimeoutMs: number;
  private token: string | null;

  private ws: WebSocketLike | null = null;
  private running = false;
  private attempt = 0;
  private retryTimer: unknown = null;
  private checkTimer: unknown = null;
  private connectStartedAt = 0;
  private welcomed = false;
  private intervalMs = 1000;
  private lastMessageAt: number | null = null;
  private lastDataAt: number | null = null;

  constructor(private readonly opts: MonitorConnectionOptions) {
    this.store = opts.store;
    this.timers = opts.timers ?? globalTimers;
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.createSocket = opts.createSocket ?? ((url) => new WebSocket(url) as WebSocketLike);
    this.checkEveryMs = opts.checkEveryMs ?? 500;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    this.token = opts.token ?? null;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.checkTimer = this.timers.setInterval(() => this.check(), this.checkEveryMs);
    this.connect();
  }

  /** Closes the channel for good (until `start`). */
  stop(): void {
    this.running = false;
    this.clearRetry();
    if (this.checkTimer !== null) this.timers.clearInterval(this.checkTimer);
    this.checkTimer = null;
    this.drop(CloseCode.normal, 'dashboard closed');
    this.store.setConnection({ state: 'closed', retryAt: null, problem: null });
  }

  /** Uses a new token and connects with it right away. */
  setToken(token: string): void {
    this.token = token;
    this.store.setConnection({ needToken: false, problem: null });
    this.attempt = 0;
    this.reconnectNow();
  }

  /** Drops any socket or pending retry and connects now. */
  reconnectNow(): void {
    if (!this.running) {
      this.start();
      return;
    }
    this.clearRetry();
    this.drop(CloseCode.normal, 'reconnecting');
    this.connect();
  }

  /** Reconnects at once if the channel is down and waiting (e.g. the browser came back online). */
  nudge(): void {
    if (this.running && this.ws === null && this.retryTimer !== null) this.reconnectNow();
  }

  /** Staleness and dead-socket checks; runs on a timer, exposed for tests. */
  check(): void {
    const now = this.now();
    this.store.tick(now);
    if (!this.running || !this.ws) return;
    const state = this.store.api.getState().connection.state;
    if (!this.welcomed) {
      if (now - this.connectStartedAt > this.connectTimeoutMs) this.fail(CloseCode.timeout, 'no welcome from the server');
      return;
    }
    const staleAfter = viewStaleMs(this.store.api.getState().thresholds, this.intervalMs);
    const dataRef = this.lastDataAt ?? this.connectStartedAt;
    if (state === 'open' && now - dataRef > staleAfter) {
      this.store.setConnection({
        state: 'stale',
        problem: `No data from the server for ${Math.floor((now - dataRef) / 1000)} s (expected every ${formatSeconds(this.intervalMs)}).`,
      });
    }
    const heartbeatMs = this.store.api.getState().connection.heartbeatMs ?? 0;
    const deadAfter = Math.max(MIN_DEAD_AFTER_MS, 3 * heartbeatMs, 2 * staleAfter);
    if (now - (this.lastMessageAt ?? this.connectStartedAt) > deadAfter) {
      this.fail(CloseCode.timeout, 'no message within the heartbeat timeout');
    }
  }

  private connect(): void {
    if (!this.running) return;
    this.retryTimer = null;
    this.welcomed = false;
    this.lastMessageAt = null;
    this.lastDataAt = null;
    this.connectStartedAt = this.now();
    this.store.setConnection({ state: 'connecting', retryAt: null, attempt: this.attempt });
    let ws: WebSocketLike;
    try {
      ws = this.createSocket(this.opts.url);
    } catch (e) {
      this.scheduleReconnect(1006, (e as Error).message);
      return;
    }
    this.ws = ws;
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      if (this.ws !== ws) return;
      ws.send(
        encode({
          type: 'hello',
          protocol: PROTOCOL_VERSION,
          role: Role.monitor,
          ...(this.token ? { token: this.token } : {}),
          agent: 'ess-dashboard',
        }),
      );
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      this.onFrame(ev.data);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.onClosed(ev.code, ev.reason ?? '');
    };
    ws.onerror = () => {
      // A close event always follows; the reconnect is decided there.
    };
  }

  private onFrame(data: unknown): void {
    const at = this.now();
    this.lastMessageAt = at;
    let bytes: Uint8Array | null = null;
    if (data instanceof ArrayBuffer) bytes = new Uint8Array(data);
    else if (ArrayBuffer.isView(data)) bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (!bytes) {
      this.countDecodeError();
      return;
    }
    const r = decodeServerMessage(bytes);
    if (!r.ok) {
      this.countDecodeError();
      return;
    }
    this.onMessage(r.value, at);
  }

  private onMessage(msg: ServerMessage, at: number): void {
    switch (msg.type) {
      case 'welcome':
        this.welcomed = true;
        this.store.setConnection({
          state: 'open',
          server: msg.server,
          session: msg.session,
          heartbeatMs: msg.limits?.heartbeatMs ?? null,
          needToken: false,
          problem: null,
          closeCode: null,
          closeReason: null,
        });
        return;
      case 'snapshot':
        this.intervalMs = msg.intervalMs > 0 ? msg.intervalMs : this.intervalMs;
        this.onData(at);
        // A snapshot is the proof that the session works: the next failure starts the backoff afresh.
        this.attempt = 0;
        this.store.receive(msg, at);
        return;
      case 'delta':
        this.onData(at);
        this.store.receive(msg, at);
        return;
      case 'error':
        this.store.setConnection({ lastError: { code: msg.code, message: msg.message, at } });
        if (msg.code === ErrorCode.unauthorized || msg.code === ErrorCode.forbidden) {
          this.store.setConnection({ problem: msg.message });
        }
        return;
      default:
        // heartbeat (liveness is noted above) and worker-channel messages that do not concern a monitor.
        return;
    }
  }

  private onData(at: number): void {
    this.lastDataAt = at;
    // A server that sends data without a welcome is still talking to us.
    this.welcomed = true;
    const c = this.store.api.getState().connection;
    if (c.state !== 'open' || c.attempt !== 0 || c.problem !== null) {
      this.store.setConnection({ state: 'open', attempt: 0, problem: null, retryAt: null });
    }
  }

  private onClosed(code: number, reason: string): void {
    if (!this.running) return;
    const problem = describeClose(code, reason, this.token !== null);
    if (FINAL_CLOSES.has(code)) {
      const needToken = code === CloseCode.unauthorized || code === CloseCode.forbidden;
      if (needToken) this.opts.onTokenRejected?.();
      this.store.setConnection({ state: 'closed', needToken, closeCode: code, closeReason: reason, problem, retryAt: null });
      return;
    }
    this.scheduleReconnect(code, reason, problem);
  }

  private scheduleReconnect(code: number, reason: string, problem = describeClose(code, reason, this.token !== null)): void {
    this.clearRetry();
    const delay = backoffDelay(this.attempt, this.backoff, this.random);
    this.attempt++;
    this.store.setConnection({
      state: 'connecting',
      attempt: this.attempt,
      retryAt: this.now() + delay,
      closeCode: code,
      closeReason: reason,
      problem,
    });
    this.retryTimer = this.timers.setTimeout(() => this.connect(), delay);
  }

  /** Abandons the current socket as broken and reconnects. */
  private fail(code: number, reason: string): void {
    this.drop(code, reason);
    this.scheduleReconnect(code, reason);
  }

  /** Closes and forgets the current socket without reacting to its close event. */
  private drop(code: number, reason: string): void {
    const ws = this.ws;
    this.ws = null;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      ws.close(code, reason);
    } catch {
      // Closing a socket that never opened can throw in some browsers; it is gone either way.
    }
  }

  private clearRetry(): void {
    if (this.retryTimer !== null) this.timers.clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private countDecodeError(): void {
    const c = this.store.api.getState().connection;
    this.store.setConnection({ decodeErrors: c.decodeErrors + 1 });
  }
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
