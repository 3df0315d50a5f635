/**
 * What a source is: a storage endpoint that reads byte ranges of the files it holds, and the
 * live figures (latency, throughput, errors, health) that source selection ranks replicas by.
 */
import type { SourceHealth, SourceRow } from '@ess/protocol';

export type SourceKind = 'file' | 'http' | 'virtual';

/** Per-read options a source may honour. */
export interface ReadOptions {
  /**
   * Aborts the read. A source whose `abortable` is true rejects promptly once it fires and
   * never writes into `into` afterwards; other sources may ignore it.
   */
  signal?: AbortSignal;
}

export interface Source {
  readonly id: string;
  readonly kind: SourceKind;
  /** Where it is, for operators: a directory, a base URL, a generator. */
  readonly endpoint: string;
  /** Reads exactly `length` bytes at `offset` of the object at `url` into `into` (or a new buffer). */
  read(url: string, offset: number, length: number, into?: Buffer, options?: ReadOptions): Promise<Buffer>;
  /** True when read() honours `options.signal` (see {@link ReadOptions}); absent means false. */
  readonly abortable?: boolean;
  /** Size in bytes of the object at `url`. */
  size(url: string): Promise<number>;
  readonly stats: SourceStats;
  close(): Promise<void>;
}

export type SourceErrorCode = 'not_found' | 'io' | 'timeout' | 'stalled' | 'bad_response' | 'down';

export class SourceError extends Error {
  constructor(
    readonly code: SourceErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const EWMA = 0.2;

/** Live figures of one source, kept as it serves reads. */
export class SourceStats {
  requests = 0;
  errors = 0;
  bytes = 0;
  inFlight = 0;
  failovers = 0;
  /** Smoothed time to first byte (ms) and transfer rate (bytes/s); null until measured. */
  latencyMs: number | null = null;
  throughput: number | null = null;
  /** Failures since the last success ('not_found' does not count: the source answered). */
  consecutiveErrors = 0;
  /** Date.now() until which source selection skips this source (0: not marked down). */
  downUntil = 0;
  /** A half-open probe (the one read allowed once downUntil has passed) is in flight. */
  probing = false;
  /** Date.now() of the last completed read that updated latency/throughput (0: never). */
  lastSampleAt = 0;
  /** The last error, for operators ("stalled: no bytes for 5000 ms from ..."). */
  lastError: string | null = null;
  lastErrorAt = 0;

  constructor(
    readonly id: string,
    readonly kind: SourceKind,
    readonly endpoint: string,
  ) {}

  begin(): number {
    this.requests++;
    this.inFlight++;
    return performance.now();
  }

  /** Records a completed read: `firstByteMs` after `start`, `bytes` in `totalMs`. */
  success(start: number, firstByteAt: number, bytes: number): void {
    const end = performance.now();
    this.inFlight--;
    this.bytes += bytes;
    this.consecutiveErrors = 0;
    this.downUntil = 0;
    this.lastSampleAt = Date.now();
    const latency = firstByteAt - start;
    this.latencyMs = this.latencyMs === null ? latency : this.latencyMs + EWMA * (latency - this.latencyMs);
    const transferMs = Math.max(end - firstByteAt, 0.05);
    if (bytes >= 4096) {
      const rate = (bytes / transferMs) * 1000;
      this.throughput = this.throughput === null ? rate : this.throughput + EWMA * (rate - this.throughput);
    }
  }

  /** Records a failed read (ends what begin() started); `code` 'not_found' does not count towards health. */
  failure(code?: SourceErrorCode, message?: string): void {
    this.inFlight--;
    this.noteFailure(code, message);
  }

  /**
   * Records a failure without ending a read (for a caller that gave up on a read the source
   * itself still has in flight).
   */
  noteFailure(code?: SourceErrorCode, message?: string): void {
    this.errors++;
    if (code !== 'not_found') this.consecutiveErrors++;
    if (code !== undefined || message !== undefined) {
      this.lastError = `${code ?? 'error'}: ${message ?? ''}`;
      this.lastErrorAt = Date.now();
    }
  }

  /** Marks the source down until `until` (Date.now() scale). */
  markDown(until: number): void {
    this.downUntil = until;
  }

  /** 'up' (usable), 'down' (skip) or 'half-open' (down time over: one probe read allowed). */
  state(now = Date.now()): 'up' | 'down' | 'half-open' {
    if (this.downUntil === 0) return 'up';
    return now < this.downUntil ? 'down' : 'half-open';
  }

  health(now = Date.now()): SourceHealth {
    if (this.downUntil > now) return 'down';
    if (this.consecutiveErrors > 0) return 'degraded';
    return 'up';
  }

  row(now = Date.now()): SourceRow {
    return {
      id: this.id,
      kind: this.kind,
      endpoint: this.endpoint,
      health: this.health(now),
      latencyMs: this.latencyMs ?? 0,
      throughput: this.throughput ?? 0,
      requests: this.requests,
      errors: this.errors,
      bytes: this.bytes,
      inFlight: this.inFlight,
      failovers: this.failovers,
    };
  }
}
