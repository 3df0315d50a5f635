/**
 * The worker channel (/v1/stream): the handshake (version, role, limits, identity), decoding
 * and validating every frame, and routing messages to the session and the dispatcher. A bad
 * peer gets a documented error and, where fatal, a documented close code; nobody else notices.
 */
import { randomUUID } from 'node:crypto';
import {
  CloseCode,
  ErrorCode,
  PROTOCOL_VERSION,
  decodeClientMessage,
  encode,
  incompatibility,
  negotiateLimits,
  type ClientMessage,
  type Hello,
  type LimitPolicy,
  type ProtocolError,
} from '@ess/protocol';
import { Permission, type Authenticator } from '../auth/index.js';
import type { Dispatcher } from '../dispatch/Dispatcher.js';
import type { Logger } from '../log.js';
import type { WsChannelHandlers, WsSocket } from '../transport/index.js';
import { DeliveryTotals, WorkerSession } from './WorkerSession.js';

/** After this many rejected messages a session is closed for policy violation. */
export const MAX_BAD_MESSAGES = 32;

export interface StreamChannelOptions {
  readonly dispatcher: Dispatcher;
  readonly limits: LimitPolicy;
  readonly server: { readonly id: string; readonly version: string };
  /** Stop writing to a worker socket above this many buffered bytes. */
  readonly highWater: number;
  readonly helloTimeoutMs: number;
  readonly totals: DeliveryTotals;
  readonly auth: Authenticator;
  readonly log: Logger;
}

/**
 * One connection. `hello`: waiting for it; `handshake`: checking it (asynchronously: tokens,
 * resumption); `open`: a session. Messages are handled in arrival order on `chain`, so a
 * `subscribe` that follows a `hello` is handled once the hello's work is done.
 */
interface Conn {
  phase: 'hello' | 'handshake' | 'open' | 'closed';
  timer: NodeJS.Timeout | null;
  session: WorkerSession | null;
  chain: Promise<void>;
}

export class StreamChannel implements WsChannelHandlers<Conn> {
  private heartbeat: NodeJS.Timeout | null = null;
  /** When the heartbeat timer last ran (0: not yet). */
  private lastBeat = 0;
  private readonly log: Logger;

  constructor(private readonly o: StreamChannelOptions) {
    this.log = o.log;
  }

  start(): void {
    const every = this.o.limits.heartbeatMs;
    this.heartbeat ??= setInterval(() => this.beat(), every);
    this.heartbeat.unref();
  }

  stop(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  open(socket: WsSocket<Conn | undefined>): Conn {
    const timer = setTimeout(() => {
      if (socket.state?.phase === 'hello') this.fatal(socket as WsSocket<Conn>, { code: ErrorCode.timeout, message: 'no hello within the handshake timeout', close: CloseCode.timeout });
    }, this.o.helloTimeoutMs);
    return { phase: 'hello', timer, session: null, chain: Promise.resolve() };
  }

  text(socket: WsSocket<Conn>): void {
    this.fatal(socket, { code: ErrorCode.badFrame, message: 'text frames are not part of the protocol (binary MessagePack only)', close: CloseCode.unsupportedData });
  }

  message(socket: WsSocket<Conn>, data: Uint8Array): void {
    const conn = socket.state;
    if (conn.phase === 'closed') return;
    if (conn.session) conn.session.lastSeen = Date.now();
    if (data.length > this.o.limits.maxFrame) {
      this.fatal(socket, { code: ErrorCode.frameTooBig, message: `a ${data.length}-byte frame exceeds the limit of ${this.o.limits.maxFrame}`, close: CloseCode.messageTooBig });
      return;
    }
    const decoded = decodeClientMessage(data);
    if (!decoded.ok) {
      this.reject(socket, decoded.error);
      return;
    }
    const msg = decoded.value;
    if (conn.phase === 'hello') {
      if (msg.type !== 'hello') {
        this.fatal(socket, { code: ErrorCode.outOfOrder, message: `expected hello, got ${msg.type}`, close: CloseCode.badHello });
        return;
      }
      if (conn.timer) clearTimeout(conn.timer);
      conn.phase = 'handshake';
      this.enqueue(socket, () => this.hello(socket, msg));
      return;
    }
    // Credit is absolute and order-free, and heartbeats only renew leases: both act at once, so
    // they never wait behind a report the ledger is slow to record.
    if ((msg.type === 'credit' || msg.type === 'heartbeat') && conn.session) return void this.route(socket, conn.session, msg);
    this.enqueue(socket, async () => {
      if (socket.state.session && !socket.closed) await this.route(socket, socket.state.session, msg);
    });
  }

  /** Runs connection work in arrival order; an unexpected failure is reported, never thrown. */
  private enqueue(socket: WsSocket<Conn>, work: () => Promise<void> | void): void {
    const conn = socket.state;
    conn.chain = conn.chain.then(work).catch((e: unknown) => {
      this.log.error({ err: e }, 'handling a worker message failed');
      if (!socket.closed) socket.send(encode({ type: 'error', code: ErrorCode.internal, message: 'internal error', fatal: false }));
    });
  }

  writable(socket: WsSocket<Conn>): void {
    socket.state.session?.writable();
  }

  close(socket: WsSocket<Conn>, code: number): void {
    const conn = socket.state;
    const session = conn.session;
    conn.phase = 'closed';
    if (conn.timer) clearTimeout(conn.timer);
    if (!session) return;
    this.log.info({ worker: session.workerId, session: session.sessionId, code }, 'worker disconnected');
    // After whatever the connection was still doing, so a resume in progress settles first.
    conn.chain = conn.chain.then(() => this.o.dispatcher.sessionClosed(session)).catch((e: unknown) => this.log.error({ err: e }, 'cleaning up a session failed'));
  }

  private async hello(socket: WsSocket<Conn>, hello: Hello): Promise<void> {
    const mismatch = incompatibility(hello.protocol);
    if (mismatch) {
      this.fatal(socket, {
        code: ErrorCode.versionMismatch,
        message: `${mismatch}: this server speaks protocol ${PROTOCOL_VERSION}, the client ${hello.protocol}`,
        close: CloseCode.versionMismatch,
      });
      return;
    }
    if (hello.role !== 'worker') {
      this.fatal(socket, { code: ErrorCode.badMessage, message: `role "${hello.role}" belongs on the monitor channel`, close: CloseCode.badHello });
      return;
    }
    const access = await this.o.auth.authorize(hello.token, Permission.stream);
    if (!access.ok) {
      this.fatal(socket, access.error);
      return;
    }
    if (socket.closed) return;
    const limits = negotiateLimits(hello.want ?? {}, this.o.limits);
    if (!limits.ok) {
      this.fatal(socket, limits.error);
      return;
    }
    const workerId = hello.worker?.id ?? `w-${randomUUID().slice(0, 8)}`;
    const session = new WorkerSession(
      socket as WsSocket<unknown>,
      randomUUID(),
      workerId,
      hello.worker?.label ?? workerId,
      hello.worker?.site ?? '',
      limits.value,
      this.o.highWater,
      { readFailed: (s, held, e) => void this.o.dispatcher.readFailed(s, held, e) },
      this.o.totals,
      this.log,
    );
    socket.state.phase = 'open';
    socket.state.session = session;
    const expiresAt = access.principal.expiresAt;
    if (expiresAt !== null) {
      // A session lives no longer than its credential: the worker reconnects with a fresh one.
      socket.state.timer = setTimeout(() => this.fatal(socket, { code: ErrorCode.unauthorized, message: 'the token has expired', close: CloseCode.unauthorized }), Math.max(0, expiresAt - Date.now()));
    }
    const previous = this.o.dispatcher.register(session);
    if (previous && !previous.closed) {
      previous.send({ type: 'error', code: ErrorCode.replaced, message: 'a newer session with this worker identity took over', fatal: true });
      previous.close(CloseCode.replaced, 'replaced by a newer session');
    }
    session.send({
      type: 'welcome',
      protocol: PROTOCOL_VERSION,
      role: 'worker',
      server: this.o.server,
      session: session.sessionId,
      worker: workerId,
      limits: limits.value,
    });
    this.log.info({ worker: workerId, session: session.sessionId, remote: socket.remoteAddress, limits: limits.value, agent: hello.agent }, 'worker connected');
    await this.o.dispatcher.resume(session, hello.resume ?? []);
  }

  private async route(socket: WsSocket<Conn>, session: WorkerSession, msg: ClientMessage): Promise<void> {
    switch (msg.type) {
      case 'hello':
        this.reject(socket, { code: ErrorCode.outOfOrder, message: 'hello was already received' });
        return;
      case 'subscribe':
        if (session.task !== undefined) {
          this.reject(socket, { code: ErrorCode.outOfOrder, message: 'this session is already subscribed' });
          return;
        }
        await this.o.dispatcher.subscribe(session, msg.task);
        return;
      case 'credit': {
        const r = session.grant(msg.limit);
        if (!r.ok) this.reject(socket, r.error);
        return;
      }
      case 'report':
        await this.o.dispatcher.report(session, msg);
        return;
      case 'heartbeat':
        this.o.dispatcher.heartbeat(session);
        return;
    }
  }

  /** A message refused: an error back, the session closed when the error is fatal or the peer keeps at it. */
  private reject(socket: WsSocket<Conn>, error: ProtocolError): void {
    const conn = socket.state;
    if (error.close !== undefined || !conn.session) {
      // Before the handshake there is no session to carry on with: a bad hello ends it.
      this.fatal(socket, { ...error, close: error.close ?? CloseCode.badHello });
      return;
    }
    const bad = ++conn.session.badMessages;
    if (bad > MAX_BAD_MESSAGES) {
      this.fatal(socket, { code: error.code, message: `too many invalid messages; last: ${error.message}`, close: CloseCode.policyViolation });
      return;
    }
    socket.send(encode({ type: 'error', code: error.code, message: error.message, fatal: false }));
  }

  private fatal(socket: WsSocket<Conn>, error: ProtocolError): void {
    if (socket.closed) return;
    const code = error.close ?? CloseCode.policyViolation;
    this.log.warn({ socket: socket.id, remote: socket.remoteAddress, code: error.code, close: code, reason: error.message }, 'closing worker connection');
    socket.send(encode({ type: 'error', code: error.code, message: error.message, fatal: true }));
    socket.state.session?.markClosed();
    socket.end(code, error.message);
  }

  private beat(): void {
    const now = Date.now();
    const period = this.o.limits.heartbeatMs;
    const timeout = 3 * period;
    // A beat that comes late means this process stalled (GC, swap, a starved CPU): the workers'
    // frames of that time wait unread behind this timer, so this round judges no one silent.
    const stalled = this.lastBeat !== 0 && now - this.lastBeat > 2 * period;
    if (stalled) this.log.warn({ lateMs: now - this.lastBeat - period }, 'the heartbeat timer ran late; no session is timed out this round');
    this.lastBeat = now;
    for (const s of this.o.dispatcher.listSessions()) {
      if (s.closed) continue;
      if (!stalled && now - s.lastSeen > timeout) {
        s.send({ type: 'error', code: ErrorCode.timeout, message: 'no heartbeat for too long', fatal: true });
        s.close(CloseCode.timeout, 'heartbeat timeout');
        continue;
      }
      s.send({ type: 'heartbeat', t: now });
    }
  }
}
