/**
 * Credit arithmetic of both ends, with no I/O: the server's send window and the worker's
 * grant policy. Grants are absolute limits (as in AMQP 1.0 and QUIC's MAX_DATA), so a
 * duplicated or reordered grant is harmless and a window never grows by accident.
 */
import { CloseCode, ErrorCode, type Result, ok, err } from './codes.js';
import { MAX_CREDIT } from './limits.js';

/**
 * The sender's side: payload bytes sent on this session against the highest limit granted.
 * Invariant: `sent <= limit` at all times.
 */
export class SendWindow {
  private _limit: number;
  private _sent = 0;

  constructor(readonly window: number) {
    this._limit = window;
  }

  get limit(): number {
    return this._limit;
  }

  get sent(): number {
    return this._sent;
  }

  /** Bytes that may still be sent under the current limit. */
  get available(): number {
    return this._limit - this._sent;
  }

  canSend(bytes: number): boolean {
    return bytes <= this.available;
  }

  consume(bytes: number): void {
    if (!this.canSend(bytes)) throw new Error(`credit exceeded: ${bytes} bytes with ${this.available} available`);
    this._sent += bytes;
  }

  /**
   * Applies a grant. A limit below the current one is stale and ignored (`raised: false`).
   * A limit above `sent + window` is refused: a worker may only grant what it has released,
   * and it cannot have released more than was sent.
   */
  grant(limit: number): Result<{ raised: boolean }> {
    if (!Number.isSafeInteger(limit) || limit < 0 || limit > MAX_CREDIT) {
      return err({ code: ErrorCode.badCredit, message: `credit limit ${limit} is not a non-negative safe integer` });
    }
    if (limit > this._sent + this.window) {
      return err({
        code: ErrorCode.badCredit,
        message: `credit limit ${limit} exceeds bytes sent (${this._sent}) plus the window (${this.window})`,
        close: CloseCode.policyViolation,
      });
    }
    if (limit <= this._limit) return ok({ raised: false });
    this._limit = limit;
    return ok({ raised: true });
  }
}

/**
 * The receiver's side: what arrived, what was released (written, handed on), and the limit
 * last granted. It grants `released + window` once at least half a window was released since
 * the last grant: fewer, larger grants, and the sender never waits with more than half a
 * window in flight.
 */
export class ReceiveWindow {
  private _received = 0;
  private _released = 0;
  private _granted: number;

  constructor(readonly window: number) {
    this._granted = window;
  }

  get received(): number {
    return this._received;
  }

  get released(): number {
    return this._released;
  }

  get granted(): number {
    return this._granted;
  }

  /** Bytes held: received and not yet released. */
  get unreleased(): number {
    return this._received - this._released;
  }

  /** Counts arriving payload; an error if the sender overran the limit it was granted. */
  receive(bytes: number): Result<void> {
    if (this._received + bytes > this._granted) {
      return err({
        code: ErrorCode.badCredit,
        message: `the server sent ${this._received + bytes} bytes against a limit of ${this._granted}`,
      });
    }
    this._received += bytes;
    return ok(undefined);
  }

  /** Releases bytes; returns the new limit to grant, or null when no grant is due yet. */
  release(bytes: number): number | null {
    if (bytes < 0 || this._released + bytes > this._received) {
      throw new Error(`cannot release ${bytes} bytes: ${this.unreleased} unreleased`);
    }
    this._released += bytes;
    const next = this._released + this.window;
    if (next - this._granted >= this.window / 2) {
      this._granted = next;
      return next;
    }
    return null;
  }
}
