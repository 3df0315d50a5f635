/**
 * The only module that imports uWebSockets.js: app, listen/close, WebSocket channels with
 * the safe send path for frames of 16 KiB and more, and HTTP routes with buffered bodies.
 */
import { STATUS_CODES } from 'node:http';
import uWS from '@trufflesuite/uws-js-unofficial';
import type { Logger } from '../log.js';
import type {
  HttpHandler,
  HttpMethod,
  HttpReply,
  HttpRouteOptions,
  WsChannelHandlers,
  WsChannelOptions,
  WsSocket,
} from './types.js';

/** Sends of this size or more take uWS's corrupting fast path when the socket buffer is empty. */
export const SAFE_SEND_THRESHOLD = 16 * 1024;

const DEFAULT_MAX_BODY = 1024 * 1024;

export class NativeTransportError extends Error {
  readonly code = 'ERR_UWS_NOT_NATIVE';
}

/**
 * Fails loudly when the native binding did not load: the package then silently falls back to
 * a slow `ws` emulation without `drain`, which must never serve production traffic.
 */
export function assertNativeUws(): void {
  if (typeof (uWS as { DISABLED?: unknown }).DISABLED === 'undefined') {
    throw new NativeTransportError(
      `the native uWebSockets.js binding did not load (Node ${process.versions.node}, ABI ${process.versions.modules}); ` +
        'ESS needs Node 20 on linux-x64/arm64 with glibc >= 2.27, and UWS_USE_FALLBACK must not be set',
    );
  }
}

type NativeWs = uWS.WebSocket<{ ess?: UwsSocket<unknown> }>;

let nextSocketId = 1;

/**
 * Why an outbox: uWS corrupts a send of 16 KiB or more that finds the socket's buffer empty
 * (its fast path loses bytes on a partial write; see TRANSPORT-NOTES.md). The safe way is a
 * small frame before the large one inside one `cork()`. `cork()` only corks when no other
 * socket is corked, which is not true inside another socket's callback (or in promise
 * continuations run from it), so frames wait in an outbox that is flushed from `setImmediate`,
 * where no socket is corked, and a flush that starts on an empty buffer leads with a ping
 * (a control frame every WebSocket peer answers by itself, invisible to the protocol).
 */
class UwsSocket<S> implements WsSocket<S> {
  readonly id = nextSocketId++;
  /** No more sends accepted (closed, or a close is pending). */
  closed = false;
  /** The native socket is closed: no call may touch it. */
  private gone = false;
  private closing: { code: number; reason: string } | null = null;
  state!: S;
  private outbox: Uint8Array[] = [];
  private outboxBytes = 0;

  constructor(
    private readonly ws: NativeWs,
    readonly remoteAddress: string,
    private readonly transport: UwsTransport,
  ) {}

  send(frame: Uint8Array): void {
    if (this.closed) return;
    this.outbox.push(frame);
    this.outboxBytes += frame.length;
    this.transport.scheduleFlush(this);
  }

  bufferedAmount(): number {
    return this.gone ? 0 : this.outboxBytes + this.ws.getBufferedAmount();
  }

  /** Writes the outbox to uWS, then a requested close. Only called from the transport's setImmediate. */
  flush(): boolean {
    if (this.gone) return false;
    const frames = this.outbox;
    const wrote = frames.length > 0;
    if (wrote) {
      this.outbox = [];
      this.outboxBytes = 0;
      const ws = this.ws;
      ws.cork(() => {
        const first = frames[0]!;
        if (first.length >= SAFE_SEND_THRESHOLD && ws.getBufferedAmount() === 0) ws.ping();
        for (const frame of frames) ws.send(frame, true, false);
      });
      const sent = this.transport.sent;
      if (sent) for (const frame of frames) sent(frame);
    }
    if (this.closing) {
      this.gone = true;
      this.ws.end(this.closing.code, this.closing.reason);
    }
    return wrote;
  }

  end(code: number, reason: string): void {
    if (this.closed) return;
    // Frames already queued go out before the close frame, from the same safe flush.
    this.closed = true;
    this.closing = { code, reason: reason.slice(0, 120) };
    this.transport.scheduleFlush(this);
  }

  terminate(): void {
    if (this.gone) return;
    this.closed = true;
    this.gone = true;
    this.ws.close();
  }

  markClosed(): void {
    this.closed = true;
    this.gone = true;
    this.outbox = [];
    this.outboxBytes = 0;
  }
}

export interface TransportOptions {
  readonly log: Logger;
  /**
   * Called with each frame once uWS has taken its bytes (written them, or copied what the socket
   * could not take at once): the frame's memory may be reused from then on.
   */
  readonly sent?: (frame: Uint8Array) => void;
}

/** An HTTP + WebSocket server on uWebSockets.js. */
export class UwsTransport {
  private readonly app: uWS.TemplatedApp;
  private readonly log: Logger;
  private listenSocket: uWS.us_listen_socket | null = null;
  private readonly sockets = new Set<UwsSocket<unknown>>();
  private readonly dirty = new Set<UwsSocket<unknown>>();
  private flushScheduled = false;
  private readonly writableHandlers = new WeakMap<UwsSocket<unknown>, (s: UwsSocket<unknown>) => void>();

  /** See TransportOptions.sent. */
  readonly sent: ((frame: Uint8Array) => void) | undefined;

  constructor(options: TransportOptions) {
    assertNativeUws();
    this.log = options.log;
    this.sent = options.sent;
    this.app = uWS.App();
  }

  /** Registers a WebSocket channel on `path`. */
  channel<S>(path: string, handlers: WsChannelHandlers<S>, options: WsChannelOptions): void {
    const wrap = (ws: NativeWs): UwsSocket<S> => ws.getUserData().ess as UwsSocket<S>;
    this.app.ws<{ ess?: UwsSocket<unknown> }>(path, {
      maxPayloadLength: options.maxFrame,
      // Credit bounds what we queue; uWS must never drop a frame (its default is 64 KiB).
      maxBackpressure: 0,
      closeOnBackpressureLimit: 0,
      idleTimeout: 0,
      sendPingsAutomatically: false,
      compression: uWS.DISABLED,
      open: (ws) => {
        const remote = Buffer.from(ws.getRemoteAddressAsText()).toString();
        const socket = new UwsSocket<S>(ws, remote, this);
        ws.getUserData().ess = socket as UwsSocket<unknown>;
        this.sockets.add(socket as UwsSocket<unknown>);
        this.writableHandlers.set(socket as UwsSocket<unknown>, (s) => handlers.writable(s as UwsSocket<S>));
        this.guard(socket, () => {
          socket.state = handlers.open(socket as WsSocket<S | undefined>);
        });
      },
      message: (ws, message, isBinary) => {
        const socket = wrap(ws);
        this.guard(socket, () => {
          if (!isBinary) {
            if (handlers.text) handlers.text(socket);
            return;
          }
          handlers.message(socket, new Uint8Array(message));
        });
      },
      drain: (ws) => {
        const socket = wrap(ws);
        this.guard(socket, () => handlers.writable(socket));
      },
      close: (ws, code, message) => {
        const socket = wrap(ws);
        socket.markClosed();
        this.sockets.delete(socket as UwsSocket<unknown>);
        this.dirty.delete(socket as UwsSocket<unknown>);
        const reason = Buffer.from(message).toString();
        try {
          handlers.close(socket, code, reason);
        } catch (e) {
          this.log.error({ err: e, socket: socket.id }, 'close handler failed');
        }
      },
    });
  }

  /** Registers an HTTP route. `pattern` uses uWS syntax: `/api/v1/tasks/:id`, `/*`. */
  route(method: HttpMethod, pattern: string, handler: HttpHandler, options: HttpRouteOptions = {}): void {
    const paramCount = (pattern.match(/\/:/g) ?? []).length;
    const maxBody = options.maxBody ?? DEFAULT_MAX_BODY;
    this.app[method](pattern, (res, req) => {
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      const headers: Record<string, string> = {};
      req.forEach((k, v) => {
        headers[k] = v;
      });
      const requestMethod = req.getMethod();
      const path = req.getUrl();
      const query = new URLSearchParams(req.getQuery() ?? '');
      const params: string[] = [];
      for (let i = 0; i < paramCount; i++) params.push(safeDecode(req.getParameter(i)));
      const remoteAddress = Buffer.from(res.getRemoteAddressAsText()).toString();

      const reply = (r: HttpReply) => {
        if (aborted) return;
        aborted = true;
        res.cork(() => {
          res.writeStatus(`${r.status} ${STATUS_CODES[r.status] ?? ''}`);
          for (const [k, v] of Object.entries(r.headers ?? {})) res.writeHeader(k, v);
          res.end(r.body ?? '');
        });
      };
      const run = (body: Buffer) => {
        Promise.resolve()
          .then(() => handler({ method: requestMethod, path, query, headers, params, body, remoteAddress }))
          .then(reply, (e: unknown) => {
            this.log.error({ err: e, path }, 'http handler failed');
            reply(jsonReply(500, { code: 'internal', message: 'internal error' }));
          });
      };

      const declared = Number(headers['content-length'] ?? '0');
      if (declared > maxBody) {
        reply(jsonReply(413, { code: 'invalid_request', message: `request body over ${maxBody} bytes` }));
        return;
      }
      if (requestMethod === 'get' || requestMethod === 'head' || (declared === 0 && !headers['transfer-encoding'])) {
        run(Buffer.alloc(0));
        return;
      }
      const parts: Buffer[] = [];
      let size = 0;
      res.onData((chunk, isLast) => {
        if (aborted) return;
        size += chunk.byteLength;
        if (size > maxBody) {
          reply(jsonReply(413, { code: 'invalid_request', message: `request body over ${maxBody} bytes` }));
          return;
        }
        // The ArrayBuffer is detached after this callback: copy.
        parts.push(Buffer.from(new Uint8Array(chunk)));
        if (isLast) run(Buffer.concat(parts));
      });
    });
  }

  /** Starts listening; resolves with the bound port (useful with port 0). */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.app.listen(host, port, (token) => {
        if (!token) {
          reject(new Error(`cannot listen on ${host}:${port} (address in use or not available)`));
          return;
        }
        this.listenSocket = token;
        resolve(uWS.us_socket_local_port(token as unknown as uWS.us_socket));
      });
    });
  }

  /** Stops accepting connections. Open sockets stay until closed by their owners or `closeAll`. */
  stopListening(): void {
    if (this.listenSocket) {
      uWS.us_listen_socket_close(this.listenSocket);
      this.listenSocket = null;
    }
  }

  /** Closes every open WebSocket with `code`. */
  closeAll(code: number, reason: string): void {
    for (const s of [...this.sockets]) s.end(code, reason);
  }

  get openSockets(): number {
    return this.sockets.size;
  }

  scheduleFlush(socket: UwsSocket<unknown>): void {
    this.dirty.add(socket);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flushDirty());
  }

  private flushDirty(): void {
    this.flushScheduled = false;
    const batch = [...this.dirty];
    this.dirty.clear();
    for (const socket of batch) {
      if (!socket.flush()) continue;
      const writable = this.writableHandlers.get(socket);
      if (writable && !socket.closed) this.guard(socket, () => writable(socket));
    }
  }

  /** Runs a handler; an exception closes only that socket (1011), never the server. */
  private guard(socket: UwsSocket<unknown> | UwsSocket<never>, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.log.error({ err: e, socket: socket.id }, 'socket handler failed; closing the socket');
      socket.end(1011, 'internal error');
    }
  }
}

export function jsonReply(status: number, body: unknown, headers: Record<string, string> = {}): HttpReply {
  return {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
    body: JSON.stringify(body),
  };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
