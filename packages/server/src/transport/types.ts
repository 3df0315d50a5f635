/**
 * The transport seen from the rest of the server: sockets with a safe `send`, WebSocket
 * channel handlers, and HTTP routes with buffered bodies. Nothing here names uWebSockets.js.
 */

/** One WebSocket connection. Valid from `open` until `close`; every call after close is a no-op. */
export interface WsSocket<S> {
  /** Process-unique id, for logs. */
  readonly id: number;
  readonly remoteAddress: string;
  readonly closed: boolean;
  /** What the channel keeps per connection (set from the value `open` returned). */
  state: S;
  /**
   * Queues a binary frame. Frames leave in order, from an outbox flushed outside any socket
   * callback, through the one path that is safe for frames of 16 KiB and more.
   */
  send(frame: Uint8Array): void;
  /** Bytes queued on this socket and not yet handed to the kernel (outbox + uWS backpressure). */
  bufferedAmount(): number;
  /** Closes with a WebSocket close frame. */
  end(code: number, reason: string): void;
  /** Drops the connection without a close frame. */
  terminate(): void;
}

export interface WsChannelHandlers<S> {
  /** A connection opened; returns its state. */
  open(socket: WsSocket<S | undefined>): S;
  /** A binary frame arrived. `data` is only valid during this call: copy what you keep. */
  message(socket: WsSocket<S>, data: Uint8Array): void;
  /** A text frame arrived (the protocol is binary only). */
  text?(socket: WsSocket<S>): void;
  /** The socket's buffer went down: a good moment to send more. Called after uWS drains and after each outbox flush. */
  writable(socket: WsSocket<S>): void;
  /** The connection closed (by either side). */
  close(socket: WsSocket<S>, code: number, reason: string): void;
}

export interface WsChannelOptions {
  /**
   * Hard cap on a frame from the peer: a bigger one drops the connection at once, before it is
   * buffered. Channels enforce their documented (smaller) limit themselves, with an error.
   */
  readonly maxFrame: number;
}

export interface HttpRequest {
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  readonly query: URLSearchParams;
  /** Lower-cased header names. */
  readonly headers: Readonly<Record<string, string>>;
  /** Values of the route's `:name` parameters, in order. */
  readonly params: readonly string[];
  readonly body: Buffer;
  readonly remoteAddress: string;
}

export interface HttpReply {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Uint8Array;
}

export type HttpHandler = (req: HttpRequest) => HttpReply | Promise<HttpReply>;

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'del' | 'any';

export interface HttpRouteOptions {
  /** Largest request body accepted; a bigger one gets 413. */
  readonly maxBody?: number;
}
