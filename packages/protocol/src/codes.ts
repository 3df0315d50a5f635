/**
 * Close codes and error codes: the only place they are written. Close codes in the
 * 4000 range mirror HTTP statuses (4401 unauthorized, 4408 timeout...) like hocuspocus.
 */

/** WebSocket close codes the server (and client) use, with the condition each means. */
export const CloseCode = {
  /** The session ended normally (task done, client left). */
  normal: 1000,
  /** The server is shutting down (SIGTERM); reconnect with backoff. */
  goingAway: 1001,
  /** A frame could not be decoded: garbage bytes, truncated MessagePack, not an object. */
  protocolError: 1002,
  /** A text frame arrived: the protocol is binary MessagePack only. */
  unsupportedData: 1003,
  /** A frame exceeded `limits.maxFrame`. */
  messageTooBig: 1009,
  /** The server hit an unexpected fault on this session. */
  internalError: 1011,
  /** The `hello` was malformed, missing, or asked for impossible limits. */
  badHello: 4400,
  /** No token, or a token that is invalid or expired. */
  unauthorized: 4401,
  /** The token is valid but its role may not use this channel. */
  forbidden: 4403,
  /** No `hello` within the handshake timeout, or the peer's heartbeats stopped. */
  timeout: 4408,
  /** A newer session with the same worker identity took over this one. */
  replaced: 4409,
  /** The peer speaks another protocol version. */
  versionMismatch: 4426,
  /** The peer broke the protocol after the handshake (too many bad messages, credit abuse). */
  policyViolation: 4429,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Error codes carried by `error` messages and HTTP error bodies. */
export const ErrorCode = {
  /** Bytes that are not a MessagePack map with a string `type`. */
  badFrame: 'bad_frame',
  /** A `type` this version does not define. */
  unknownType: 'unknown_type',
  /** A known `type` whose fields are missing or of the wrong kind. */
  badMessage: 'bad_message',
  /** The frame is larger than `limits.maxFrame`. */
  frameTooBig: 'frame_too_big',
  /** The peer speaks another protocol version. */
  versionMismatch: 'version_mismatch',
  /** A message that is valid but not allowed in the session's current state (e.g. before `hello`). */
  outOfOrder: 'out_of_order',
  /** Requested limits that cannot work (window smaller than twice the largest chunk...). */
  badLimits: 'bad_limits',
  /** A credit limit that is negative, not an integer, or beyond what was sent plus the window. */
  badCredit: 'bad_credit',
  /** The task does not exist. */
  unknownTask: 'unknown_task',
  /** The eventRangeID does not name a range of a known task. */
  unknownRange: 'unknown_range',
  /** The range exists but this worker does not hold it. */
  notYourRange: 'not_your_range',
  /** The lease under which the range was held has expired or been taken over. */
  leaseExpired: 'lease_expired',
  /** A write with a stale fencing token (another holder has the range now). */
  fenced: 'fenced',
  /** The task is not accepting work (cancelled or complete). */
  taskClosed: 'task_closed',
  /** Missing or invalid credentials. */
  unauthorized: 'unauthorized',
  /** Valid credentials, insufficient role. */
  forbidden: 'forbidden',
  /** A request that is well-formed but names something that does not exist (HTTP 404). */
  notFound: 'not_found',
  /** A request body or query that fails validation (HTTP 400). */
  invalidRequest: 'invalid_request',
  /** The data for a range could not be read from any replica. */
  sourceUnavailable: 'source_unavailable',
  /** No hello within the handshake timeout, or no heartbeat for three intervals. */
  timeout: 'timeout',
  /** A newer session with the same worker identity took over. */
  replaced: 'replaced',
  /** The ledger (or another dependency) cannot be reached right now: send the same message again later. */
  unavailable: 'unavailable',
  /** The server is shutting down. */
  shuttingDown: 'shutting_down',
  /** Anything else: a bug on our side. */
  internal: 'internal',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** An error as a value: a code a program can branch on and a message a person can act on. */
export interface ProtocolError {
  readonly code: ErrorCode;
  readonly message: string;
  /** Set when the error ends the session; the socket is then closed with this code. */
  readonly close?: CloseCode;
}

export type Result<T, E = ProtocolError> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: E };

export const ok = <T>(value: T): Result<T, never> => ({ ok: true, value });
export const err = <E>(error: E): Result<never, E> => ({ ok: false, error });
