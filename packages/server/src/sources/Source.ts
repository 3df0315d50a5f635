/**
 * What a source is: a storage endpoint that reads byte ranges of the files it holds, and the
 * live figures (latency, throughput, errors, health) that source selection ranks replicas by.
 */
import type { SourceHealth, SourceRow } from '@ess/protocol';

export type SourceKind = 'file' | 'http' | 'virtual';

export interface Source {
  readonly id: string;
  readonly kind: SourceKind;
  /** Where it is, for operators: a directory, a base URL, a generator. */
  readonly endpoint: string;
  /** Reads exactly `length` bytes at `offset` of the object at `url` into `into` (or a new buffer). */
  read(url: string, offset: number, length: number, into?: Buffer): Promise<Buffer>;
  /** Size in bytes of the object at `url`. */
  size(url: string): Promise<number>;
  readonly stats: SourceStats;
  close(): Promise<void>;
}

export class SourceError extends Error {
  constructor(
    readonly code: 'not_found' | 'io' | 'timeout' | 'stalled' | 'bad_response' | 'down',
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
  consecutiveErrors = 0;
  downUntil = 0;

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
    const latency = firstByteAt - start;
    this.latencyMs = this.latencyMs === null ? latency : this.latencyMs + EWMA * (latency - this.latencyMs);
    const transferMs = Math.max(end - firstByteAt, 0.05);
    if (bytes >= 4096) {
      const rate = (bytes / transferMs) * 1000;
      this.throughput = this.throughput === null ? rate : this.throughput + EWMA * (rate - this.throughput);
    }
  }

  failure(): void {
    this.inFlight--;
    this.errors++;
    this.consecutiveErrors++;
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
