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
  readonly log: Logger;
}

type Conn =
  | { phase: 'hello'; timer: NodeJS.Timeout }
  | { phase: 'open'; session: WorkerSession }
  | { phase: 'closed' };

export class StreamChannel implements WsChannelHandlers<Conn> {
  private heartbeat: NodeJS.Timeout | null = null;
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
    return { phase: 'hello', timer };
  }

  text(socket: WsSocket<Conn>): void {
    this.fatal(socket, { code: ErrorCode.badFrame, message: 'text frames are not part of the protocol (binary MessagePack only)', close: CloseCode.unsupportedData });
  }

  message(socket: WsSocket<Conn>, data: Uint8Array): void {
    const conn = socket.state;
    if (conn.phase === 'closed') return;
    if (conn.phase === 'open') conn.session.lastSeen = Date.now();
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
      clearTimeout(conn.timer);
      this.hello(socket, msg);
      return;
    }
    this.route(socket, conn.session, msg);
  }

  writable(socket: WsSocket<Conn>): void {
    if (socket.state.phase === 'open') socket.state.session.writable();
  }

  close(socket: WsSocket<Conn>, code: number): void {
    const conn = socket.state;
    socket.state = { phase: 'closed' };
    if (conn.phase === 'hello') clearTimeout(conn.timer);
    if (conn.phase !== 'open') return;
    const session = conn.session;
    this.log.info({ worker: session.workerId, session: session.sessionId, code }, 'worker disconnected');
    this.o.dispatcher.sessionClosed(session).catch((e: unknown) => this.log.error({ err: e }, 'cleaning up a session failed'));
  }

  private hello(socket: WsSocket<Conn>, hello: Hello): void {
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
    socket.state = { phase: 'open', session };
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
  }

  private route(socket: WsSocket<Conn>, session: WorkerSession, msg: ClientMessage): void {
    switch (msg.type) {
      case 'hello':
        this.reject(socket, { code: ErrorCode.outOfOrder, message: 'hello was already received' });
        return;
      case 'subscribe':
        if (session.task !== undefined) {
          this.reject(socket, { code: ErrorCode.outOfOrder, message: 'this session is already subscribed' });
          return;
        }
        this.run(socket, this.o.dispatcher.subscribe(session, msg.task));
        return;
      case 'credit': {
        const r = session.grant(msg.limit);
        if (!r.ok) this.reject(socket, r.error);
        return;
      }
      case 'report':
        this.run(socket, this.o.dispatcher.report(session, msg));
        return;
      case 'heartbeat':
        this.o.dispatcher.heartbeat(session);
        return;
    }
  }

  /** Awaits a handler's work; an unexpected failure is reported to the worker, not thrown. */
  private run(socket: WsSocket<Conn>, work: Promise<unknown>): void {
    work.catch((e: unknown) => {
      this.log.error({ err: e }, 'handling a worker message failed');
      if (!socket.closed) socket.send(encode({ type: 'error', code: ErrorCode.internal, message: 'internal error', fatal: false }));
    });
  }

  /** A message refused: an error back, the session closed when the error is fatal or the peer keeps at it. */
  private reject(socket: WsSocket<Conn>, error: ProtocolError): void {
    const conn = socket.state;
    if (error.close !== undefined || conn.phase === 'hello') {
      // Before the handshake there is no session to carry on with: a bad hello ends it.
      this.fatal(socket, { ...error, close: error.close ?? CloseCode.badHello });
      return;
    }
    const bad = conn.phase === 'open' ? ++conn.session.badMessages : 0;
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
    const conn = socket.state;
    if (conn.phase === 'open') conn.session.markClosed();
    socket.end(code, error.message);
  }

  private beat(): void {
    const now = Date.now();
    const timeout = 3 * this.o.limits.heartbeatMs;
    for (const s of this.o.dispatcher.listSessions()) {
      if (s.closed) continue;
      if (now - s.lastSeen > timeout) {
        s.send({ type: 'error', code: ErrorCode.timeout, message: 'no heartbeat for too long', fatal: true });
        s.close(CloseCode.timeout, 'heartbeat timeout');
        continue;
      }
      s.send({ type: 'heartbeat', t: now });
    }
  }
}
