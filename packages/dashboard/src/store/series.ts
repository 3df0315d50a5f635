/**
 * Time series for charts, kept outside React state: fixed-size ring buffers (about ten minutes of
 * totals at the server's rate; the last minute of each worker's rate), filled as messages are applied.
 */
import type { MonitorView } from './types.js';
import { cacheTotals } from './selectors.js';

/** A fixed-capacity ring of numbers; index 0 is the oldest kept value. */
export class RingBuffer {
  private buf: Float64Array;
  private start = 0;
  private len = 0;

  constructor(capacity: number) {
    this.buf = new Float64Array(Math.max(1, Math.floor(capacity)));
  }

  get capacity(): number {
    return this.buf.length;
  }

  get length(): number {
    return this.len;
  }

  push(v: number): void {
    const cap = this.buf.length;
    if (this.len < cap) {
      this.buf[(this.start + this.len) % cap] = v;
      this.len++;
    } else {
      this.buf[this.start] = v;
      this.start = (this.start + 1) % cap;
    }
  }

  /** The i-th oldest value (0 ≤ i < length). */
  get(i: number): number {
    return this.buf[(this.start + i) % this.buf.length]!;
  }

  /** The newest value, or NaN when empty. */
  last(): number {
    return this.len === 0 ? Number.NaN : this.get(this.len - 1);
  }

  /** Copies the values oldest first into `out` (or a new array). */
  toArray(out: number[] = []): number[] {
    out.length = this.len;
    for (let i = 0; i < this.len; i++) out[i] = this.get(i);
    return out;
  }

  clear(): void {
    this.start = 0;
    this.len = 0;
  }

  /** Changes the capacity, keeping the newest values that fit. */
  resize(capacity: number): void {
    const values = this.toArray();
    this.buf = new Float64Array(Math.max(1, Math.floor(capacity)));
    this.clear();
    for (const v of values.slice(-this.buf.length)) this.push(v);
  }
}

/** Columns of the totals series. */
export const TOTALS_COLUMNS = ['t', 'rate', 'eventRate', 'activeWorkers', 'cacheHits', 'cacheLookups'] as const;
export type TotalsColumn = (typeof TOTALS_COLUMNS)[number];

/** Several rings advanced together, one per column. */
export class SeriesRing<C extends string> {
  readonly cols: Record<C, RingBuffer>;
  private readonly names: readonly C[];

  constructor(names: readonly C[], capacity: number) {
    this.names = names;
    this.cols = Object.fromEntries(names.map((n) => [n, new RingBuffer(capacity)])) as Record<C, RingBuffer>;
  }

  get length(): number {
    return this.cols[this.names[0]!].length;
  }

  get capacity(): number {
    return this.cols[this.names[0]!].capacity;
  }

  push(row: Record<C, number>): void {
    for (const n of this.names) this.cols[n].push(row[n]);
  }

  resize(capacity: number): void {
    for (const n of this.names) this.cols[n].resize(capacity);
  }

  clear(): void {
    for (const n of this.names) this.cols[n].clear();
  }
}

export interface SeriesOptions {
  /** How much history the totals keep (ms). */
  historyMs?: number;
  /** Points per worker sparkline. */
  sparkPoints?: number;
}

const MIN_POINTS = 60;
/** Spacing of sparkline samples (ms of server time); a little under a second so 1 s deltas all count. */
const WORKER_SAMPLE_MS = 950;
const MAX_POINTS = 20_000;

/** All the series of one dashboard. `version` changes whenever anything was recorded. */
export class SeriesBook {
  readonly historyMs: number;
  readonly sparkPoints: number;
  readonly totals: SeriesRing<TotalsColumn>;
  private readonly workers = new Map<string, RingBuffer>();
  private intervalMs = 1000;
  private lastWorkerSample = Number.NEGATIVE_INFINITY;
  version = 0;

  constructor(opts: SeriesOptions = {}) {
    this.historyMs = opts.historyMs ?? 10 * 60_000;
    this.sparkPoints = opts.sparkPoints ?? 60;
    this.totals = new SeriesRing(TOTALS_COLUMNS, this.pointsFor(this.intervalMs));
  }

  private pointsFor(intervalMs: number): number {
    return Math.min(MAX_POINTS, Math.max(MIN_POINTS, Math.ceil(this.historyMs / Math.max(1, intervalMs))));
  }

  /** Records the state after a message was applied. `snapshot` drops worker series of workers no longer present. */
  record(view: MonitorView, kind: 'snapshot' | 'delta', gone: readonly string[] = []): void {
    if (kind === 'snapshot' && view.intervalMs !== this.intervalMs) {
      this.intervalMs = view.intervalMs;
      const cap = this.pointsFor(view.intervalMs);
      if (cap !== this.totals.capacity) this.totals.resize(cap);
    }
    const totals = view.totals;
    const cache = cacheTotals(view.cache);
    const lastT = this.totals.cols.t.last();
    // A hole in the data (reconnect, server pause) becomes a gap in the chart rather than a straight line.
    if (Number.isFinite(lastT) && view.t - lastT > 3 * this.intervalMs) {
      this.totals.push({ t: lastT + this.intervalMs, rate: NaN, eventRate: NaN, activeWorkers: NaN, cacheHits: NaN, cacheLookups: NaN });
    }
    if (Number.isFinite(lastT) && view.t <= lastT) {
      // Same or earlier server time (clock step on the server): do not draw backwards.
    } else {
      this.totals.push({
        t: view.t,
        rate: totals?.rate ?? NaN,
        eventRate: totals?.eventRate ?? NaN,
        activeWorkers: totals?.activeWorkers ?? NaN,
        cacheHits: cache?.hits ?? NaN,
        cacheLookups: cache?.lookups ?? NaN,
      });
    }

    if (kind === 'snapshot') {
      for (const id of this.workers.keys()) if (!view.workers.has(id)) this.workers.delete(id);
    }
    for (const id of gone) this.workers.delete(id);
    // Sparklines take about one point a second whatever the server's rate (a minute in 60 points), and
    // every present worker gets a point at the same instants, so they advance in step.
    if (kind !== 'snapshot' && view.t - this.lastWorkerSample < WORKER_SAMPLE_MS && view.t >= this.lastWorkerSample) {
      this.version++;
      return;
    }
    this.lastWorkerSample = view.t;
    for (const w of view.workers.values()) {
      let ring = this.workers.get(w.id);
      if (!ring) {
        ring = new RingBuffer(this.sparkPoints);
        this.workers.set(w.id, ring);
      }
      ring.push(w.rate);
    }
    this.version++;
  }

  /** The last minute of a worker's throughput, or undefined for an unknown worker. */
  workerRates(id: string): RingBuffer | undefined {
    return this.workers.get(id);
  }

  get workerCount(): number {
    return this.workers.size;
  }

  /** Columns for uPlot: x in seconds, then throughput (bytes/s) and event rate; gaps as null. */
  totalsData(): [number[], (number | null)[], (number | null)[]] {
    const { t, rate, eventRate } = this.totals.cols;
    const n = t.length;
    const xs = new Array<number>(n);
    const r = new Array<number | null>(n);
    const e = new Array<number | null>(n);
    for (let i = 0; i < n; i++) {
      xs[i] = t.get(i) / 1000;
      const rv = rate.get(i);
      const ev = eventRate.get(i);
      r[i] = Number.isFinite(rv) ? rv : null;
      e[i] = Number.isFinite(ev) ? ev : null;
    }
    return [xs, r, e];
  }

  /**
   * The cache hit ratio over the last `windowMs` (differences of the cumulative counters), falling back to
   * the cumulative ratio when the window holds no lookups; null without a cache.
   */
  recentHitRatio(windowMs: number): number | null {
    const { t, cacheHits, cacheLookups } = this.totals.cols;
    const n = t.length;
    if (n === 0) return null;
    const lastHits = cacheHits.get(n - 1);
    const lastLookups = cacheLookups.get(n - 1);
    if (!Number.isFinite(lastLookups)) return null;
    const tEnd = t.get(n - 1);
    let base = -1;
    for (let i = n - 2; i >= 0; i--) {
      if (!Number.isFinite(cacheLookups.get(i))) continue;
      base = i;
      if (tEnd - t.get(i) >= windowMs) break;
    }
    if (base >= 0) {
      const dl = lastLookups - cacheLookups.get(base);
      const dh = lastHits - cacheHits.get(base);
      // Counters that went backwards mean a server restart: the cumulative figure is the honest one then.
      if (dl > 0 && dh >= 0 && dh <= dl) return dh / dl;
    }
    return lastLookups > 0 ? lastHits / lastLookups : null;
  }

  clear(): void {
    this.totals.clear();
    this.workers.clear();
    this.lastWorkerSample = Number.NEGATIVE_INFINITY;
    this.version++;
  }
}
