/**
 * Source selection and failover for one read of a file with several replicas.
 *
 * Ranking: each replica's source gets an expected completion time from its live figures,
 *   eta = latency + (length / throughput) * (1 + inFlight) + inFlight * inFlightPenaltyMs
 * (requests already in flight share the source's bandwidth). A source with no figures yet, or
 * with figures older than `refreshMs`, counts as latency 0 and infinite throughput, so new
 * sources get tried and a slow source is re-measured now and then. Ties keep replica order.
 *
 * Failover: an error or a stall moves the read to the next replica (the caller sees only the
 * delay; `failovers` counts on the source that failed). After `downAfterErrors` consecutive
 * failures a source is marked down for `downForMs`; when that has passed it is half-open: one
 * read may probe it (success clears the mark, failure renews it) while others skip it.
 * If every replica fails the error names each one and why.
 *
 * Optional backstop `stallMs`: an attempt with no result after stallMs plus four times its
 * expected transfer time is abandoned as stalled (sources such as HttpSource also detect stalls
 * themselves). An abandoned abortable source is aborted; a source that cannot be aborted reads
 * into a scratch buffer that is copied to the caller's only on success, so a late answer can
 * never overwrite bytes the caller already has.
 */
import type { CatalogueFile, Replica } from '../catalogue/Catalogue.js';
import type { SourceSet } from './SourceSet.js';
import { SourceError, type Source, type SourceErrorCode, type SourceStats } from './Source.js';

/** The logging the reader does (a pino Logger fits). */
export interface ReaderLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export interface ReplicaReaderOptions {
  /** Backstop deadline for sources that do not detect stalls themselves (default: off). */
  stallMs?: number;
  /** Consecutive failures that mark a source down (default 3). */
  downAfterErrors?: number;
  /** How long a source stays down before a probe (default 10 000 ms). */
  downForMs?: number;
  log?: ReaderLog;
  /** Figures older than this are treated as unknown (optimistic) again (default 30 000 ms). */
  refreshMs?: number;
  /** Fixed cost per request already in flight on a source, in ms (default 1). */
  inFlightPenaltyMs?: number;
}

/** One replica tried (or skipped) by a read. */
export interface ReplicaAttempt {
  readonly source: string;
  readonly url: string;
  readonly code: SourceErrorCode;
  readonly message: string;
}

/** All replicas failed; `attempts` says what happened at each. */
export class ReplicaReadError extends SourceError {
  constructor(
    code: SourceErrorCode,
    message: string,
    readonly attempts: readonly ReplicaAttempt[],
  ) {
    super(code, message);
  }
}

/** What a read reports: the source that served it (and, for the data path, cache figures). */
export interface ReplicaReceipt {
  readonly source: string;
  readonly url: string;
  /** Replicas tried, the successful one included. */
  readonly attempts: number;
  readonly hitBytes: number;
  readonly missBytes: number;
}

interface Candidate {
  replica: Replica;
  source: Source;
  eta: number;
  probe: boolean;
}

export class ReplicaReader {
  readonly downAfterErrors: number;
  readonly downForMs: number;
  readonly stallMs: number | undefined;
  private readonly refreshMs: number;
  private readonly inFlightPenaltyMs: number;
  private readonly log: ReaderLog | undefined;

  constructor(
    private readonly sources: SourceSet,
    o: ReplicaReaderOptions = {},
  ) {
    this.downAfterErrors = o.downAfterErrors ?? 3;
    this.downForMs = o.downForMs ?? 10_000;
    this.stallMs = o.stallMs;
    this.refreshMs = o.refreshMs ?? 30_000;
    this.inFlightPenaltyMs = o.inFlightPenaltyMs ?? 1;
    this.log = o.log;
    if (!Number.isSafeInteger(this.downAfterErrors) || this.downAfterErrors < 1) throw new RangeError('downAfterErrors must be a positive integer');
  }

  /** Expected completion time (ms) of a read of `length` bytes from a source with these figures. */
  expectedMs(stats: SourceStats, length: number, now = Date.now()): number {
    const fresh = stats.lastSampleAt > 0 && now - stats.lastSampleAt <= this.refreshMs;
    const latency = fresh ? (stats.latencyMs ?? 0) : 0;
    const throughput = fresh ? (stats.throughput ?? Infinity) : Infinity;
    const transfer = (length / throughput) * 1000;
    return latency + transfer * (1 + stats.inFlight) + stats.inFlight * this.inFlightPenaltyMs;
  }

  /** The replicas in the order a read of `length` bytes would try them now (down ones left out). */
  rank(file: CatalogueFile, length: number, now = Date.now()): { candidates: Candidate[]; skipped: ReplicaAttempt[] } {
    const candidates: Candidate[] = [];
    const skipped: ReplicaAttempt[] = [];
    for (const replica of file.replicas) {
      const source = this.sources.get(replica.source);
      if (source === undefined) {
        skipped.push({ source: replica.source, url: replica.url, code: 'not_found', message: `unknown source "${replica.source}"` });
        continue;
      }
      const state = source.stats.state(now);
      if (state === 'down' || (state === 'half-open' && source.stats.probing)) {
        const left = Math.max(0, source.stats.downUntil - now);
        skipped.push({
          source: replica.source,
          url: replica.url,
          code: 'down',
          message: state === 'down' ? `marked down for ${left} ms more (last error: ${source.stats.lastError ?? 'unknown'})` : 'down, a probe read is in flight',
        });
        continue;
      }
      candidates.push({ replica, source, eta: this.expectedMs(source.stats, length, now), probe: state === 'half-open' });
    }
    candidates.sort((a, b) => a.eta - b.eta);
    return { candidates, skipped };
  }

  async read(file: CatalogueFile, offset: number, length: number, into: Buffer): Promise<ReplicaReceipt> {
    const { candidates, skipped } = this.rank(file, length);
    const failed: ReplicaAttempt[] = [];
    for (let i = 0; i < candidates.length; i++) {
      const c = candidates[i]!;
      const stats = c.source.stats;
      // Another read may have taken the probe since ranking.
      if (c.probe) {
        if (stats.probing) {
          skipped.push({ source: c.replica.source, url: c.replica.url, code: 'down', message: 'down, a probe read is in flight' });
          continue;
        }
        stats.probing = true;
      }
      try {
        await this.attempt(c, offset, length, into);
        if (c.probe) this.log?.info({ source: stats.id }, 'source is back up (probe read succeeded)');
        return { source: c.replica.source, url: c.replica.url, attempts: failed.length + 1, hitBytes: 0, missBytes: length };
      } catch (e) {
        const err = e instanceof SourceError ? e : new SourceError('io', (e as Error).message);
        failed.push({ source: c.replica.source, url: c.replica.url, code: err.code, message: err.message });
        const now = Date.now();
        if (err.code !== 'not_found' && (c.probe || stats.consecutiveErrors >= this.downAfterErrors)) {
          stats.markDown(now + this.downForMs);
          this.log?.warn({ source: stats.id, consecutiveErrors: stats.consecutiveErrors, downForMs: this.downForMs, error: err.message }, c.probe ? 'probe read failed: source stays down' : 'source marked down');
        }
        const more = candidates.slice(i + 1).some((n) => !n.probe || !n.source.stats.probing);
        if (more) {
          stats.failovers++;
          this.log?.debug({ source: stats.id, file: file.lfn, offset, length, code: err.code, error: err.message }, 'read failed over to the next replica');
        }
      } finally {
        if (c.probe) stats.probing = false;
      }
    }
    const all = [...failed, ...skipped];
    const codes = new Set(all.map((a) => a.code));
    const code: SourceErrorCode = codes.size === 1 ? all[0]!.code : failed.length === 0 ? 'down' : 'io';
    const detail = all.length === 0 ? 'the file has no replica' : all.map((a) => `${a.source} (${a.url}): ${a.code}: ${a.message}`).join('; ');
    throw new ReplicaReadError(code, `${file.lfn} bytes ${offset}+${length}: every replica failed: ${detail}`, all);
  }

  /** One read from one replica, under the optional backstop deadline. */
  private async attempt(c: Candidate, offset: number, length: number, into: Buffer): Promise<void> {
    if (this.stallMs === undefined) {
      await c.source.read(c.replica.url, offset, length, into);
      return;
    }
    const deadlineMs = this.stallMs + 4 * this.expectedMs(c.source.stats, length) ;
    const abortable = c.source.abortable === true;
    const ctl = new AbortController();
    const dest = abortable ? into : Buffer.allocUnsafe(length);
    const read = c.source.read(c.replica.url, offset, length, dest, { signal: ctl.signal });
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'expired'>((r) => (timer = setTimeout(() => r('expired'), deadlineMs)));
    try {
      const outcome = await Promise.race([read.then(() => 'done' as const), expired]);
      if (outcome === 'expired') {
        const err = new SourceError('stalled', `${c.source.id}: no answer after ${Math.round(deadlineMs)} ms (reader backstop)`);
        if (abortable) {
          ctl.abort(err);
          await read.catch(() => undefined);
        } else {
          // The source keeps its read; it records its own outcome later. Record the stall now.
          read.catch(() => undefined);
          c.source.stats.noteFailure('stalled', err.message);
        }
        throw err;
      }
      if (!abortable) dest.copy(into, 0, 0, length);
    } finally {
      clearTimeout(timer);
    }
  }
}
