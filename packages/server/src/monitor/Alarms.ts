/**
 * Alarm rules evaluated on every monitor tick: stale workers, sources down, a high failure
 * rate, a low cache hit ratio. Each alarm keeps the time it was first raised.
 */
import { AlarmKind, type Alarm, type CacheStats, type SourceRow, type WorkerRow } from '@ess/protocol';

export interface AlarmThresholds {
  /** Fraction of reports over the last minute that were failures, above which to alarm. */
  readonly failureRate: number;
  /** Cache hit ratio (by bytes, over the last minute) below which to alarm, once enough was read. */
  readonly cacheHitRatio: number;
  /** Bytes read through the cache in the last minute before the hit ratio means anything. */
  readonly cacheMinBytes: number;
}

export const DEFAULT_ALARM_THRESHOLDS: AlarmThresholds = {
  failureRate: 0.2,
  cacheHitRatio: 0.5,
  cacheMinBytes: 64 * 1024 * 1024,
};

export interface AlarmInputs {
  readonly workers: readonly WorkerRow[];
  readonly sources: readonly SourceRow[];
  readonly cache: CacheStats | null;
  /** Reports over the last minute. */
  readonly recentFinished: number;
  readonly recentFailed: number;
  /** Cache bytes over the last minute. */
  readonly recentHitBytes: number;
  readonly recentMissBytes: number;
}

type Raised = Omit<Alarm, 'since'>;

export class AlarmBoard {
  private readonly since = new Map<string, number>();

  constructor(private readonly thresholds: AlarmThresholds = DEFAULT_ALARM_THRESHOLDS) {}

  evaluate(input: AlarmInputs, now: number): Alarm[] {
    const raised: Raised[] = [];
    const stale = input.workers.filter((w) => w.health === 'stale');
    if (stale.length > 0) {
      const names = stale.slice(0, 5).map((w) => w.label || w.id).join(', ');
      raised.push({
        id: 'workers-stale',
        kind: AlarmKind.workerStale,
        severity: 'warning',
        subject: `${stale.length} worker${stale.length === 1 ? '' : 's'}`,
        message: `no sign of life from ${names}${stale.length > 5 ? ` and ${stale.length - 5} more` : ''}`,
      });
    }
    for (const s of input.sources) {
      if (s.health === 'down') {
        raised.push({ id: `source-down-${s.id}`, kind: AlarmKind.sourceDown, severity: 'critical', subject: s.id, message: `source ${s.id} (${s.endpoint}) is down` });
      }
    }
    const reports = input.recentFinished + input.recentFailed;
    if (reports >= 5 && input.recentFailed / reports > this.thresholds.failureRate) {
      const pct = Math.round((100 * input.recentFailed) / reports);
      raised.push({ id: 'failure-rate', kind: AlarmKind.failureRate, severity: 'warning', subject: 'ranges', message: `${pct} % of range reports in the last minute were failures` });
    }
    const cacheBytes = input.recentHitBytes + input.recentMissBytes;
    if (input.cache && cacheBytes >= this.thresholds.cacheMinBytes) {
      const ratio = input.recentHitBytes / cacheBytes;
      if (ratio < this.thresholds.cacheHitRatio) {
        raised.push({ id: 'cache-hit-low', kind: AlarmKind.cacheHitLow, severity: 'warning', subject: 'cache', message: `cache hit ratio ${Math.round(ratio * 100)} % over the last minute` });
      }
    }
    const ids = new Set(raised.map((a) => a.id));
    for (const id of [...this.since.keys()]) if (!ids.has(id)) this.since.delete(id);
    return raised.map((a) => {
      if (!this.since.has(a.id)) this.since.set(a.id, now);
      return { ...a, since: this.since.get(a.id)! };
    });
  }
}
