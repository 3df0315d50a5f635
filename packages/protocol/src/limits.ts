/**
 * The limits negotiated at the handshake, and the one function that negotiates them,
 * so server and client agree on the rules: a credit window must hold two chunks.
 */
import { ErrorCode, CloseCode, type Result, ok, err } from './codes.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Smallest chunk a server will agree to: below this, per-frame cost dominates. */
export const MIN_CHUNK = 4 * KiB;
/** At most this many events start in one chunk, which bounds a chunk's header. */
export const MAX_EVENTS_PER_CHUNK = 1024;
/** Upper bound on the bytes of a chunk frame beyond its payload (header fields, index arrays). */
export const CHUNK_FRAME_OVERHEAD = 32 * KiB;
/** A credit limit above this is refused as absurd (2^53 - 1 keeps integer arithmetic exact). */
export const MAX_CREDIT = Number.MAX_SAFE_INTEGER;

/** What the two sides agreed at the handshake; carried by `welcome`. */
export interface Limits {
  /** Largest payload (bytes of `data`) of one chunk. A chunk frame is at most `maxChunk + CHUNK_FRAME_OVERHEAD`. */
  readonly maxChunk: number;
  /** Initial credit: payload bytes the server may send before the first `credit` message. */
  readonly window: number;
  /** Ranges a worker may hold in flight (assigned and not yet reported). */
  readonly prefetch: number;
  /** Each side sends a `heartbeat` this often; three missed ones end the session. */
  readonly heartbeatMs: number;
  /** A worker's ranges are released when no heartbeat renews its lease for this long. */
  readonly leaseMs: number;
  /** Largest frame the server accepts from the client. */
  readonly maxFrame: number;
}

/** What a client may ask for in its `hello`; anything left out takes the server's default. */
export interface LimitRequest {
  readonly maxChunk?: number | undefined;
  readonly window?: number | undefined;
  readonly prefetch?: number | undefined;
}

/** The server's side of the negotiation. */
export interface LimitPolicy {
  readonly maxChunk: number;
  readonly defaultWindow: number;
  readonly maxWindow: number;
  readonly defaultPrefetch: number;
  readonly maxPrefetch: number;
  readonly heartbeatMs: number;
  readonly leaseMs: number;
  readonly maxFrame: number;
}

export const DEFAULT_LIMIT_POLICY: LimitPolicy = {
  maxChunk: 1 * MiB,
  defaultWindow: 8 * MiB,
  maxWindow: 256 * MiB,
  defaultPrefetch: 2,
  maxPrefetch: 64,
  heartbeatMs: 5_000,
  leaseMs: 30_000,
  maxFrame: 64 * KiB,
};

/**
 * Agrees limits from a request and a policy. The chunk and prefetch depth are clamped to
 * what the server allows; a window is clamped to the server's maximum, and a window below
 * twice the chunk size is refused: with less, a sender waiting for a full chunk of credit
 * and a receiver waiting for half a window before granting more can deadlock.
 */
export function negotiateLimits(want: LimitRequest, policy: LimitPolicy = DEFAULT_LIMIT_POLICY): Result<Limits> {
  const maxChunk = Math.min(want.maxChunk ?? policy.maxChunk, policy.maxChunk);
  if (maxChunk < MIN_CHUNK) {
    return err({
      code: ErrorCode.badLimits,
      message: `maxChunk ${maxChunk} is below the minimum of ${MIN_CHUNK} bytes`,
      close: CloseCode.badHello,
    });
  }
  const window = Math.min(want.window ?? Math.max(policy.defaultWindow, 2 * maxChunk), policy.maxWindow);
  if (window < 2 * maxChunk) {
    return err({
      code: ErrorCode.badLimits,
      message: `window ${window} must be at least twice maxChunk (${2 * maxChunk} bytes)`,
      close: CloseCode.badHello,
    });
  }
  const prefetch = Math.max(1, Math.min(want.prefetch ?? policy.defaultPrefetch, policy.maxPrefetch));
  return ok({
    maxChunk,
    window,
    prefetch,
    heartbeatMs: policy.heartbeatMs,
    leaseMs: policy.leaseMs,
    maxFrame: policy.maxFrame,
  });
}
