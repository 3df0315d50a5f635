/**
 * GET /metrics: Prometheus exposition through prom-client. Figures are read from live state
 * when scraped (collect callbacks), so the hot path only bumps plain counters.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { CacheStats, SourceRow, TaskRow } from '@ess/protocol';
import type { FramePoolStats } from '../marshal/FramePool.js';
import type { DeliveryTotals } from '../stream/WorkerSession.js';

export interface MetricsInputs {
  readonly totals: DeliveryTotals;
  readonly workers: () => number;
  readonly dashboards: () => number;
  /** Smoothed duration of one monitor tick, in seconds. */
  readonly monitorTick: () => number;
  readonly tasks: () => readonly TaskRow[];
  readonly sources: () => readonly SourceRow[];
  readonly cache: () => CacheStats | null;
  /** Chunk frames served from reused memory and slots allocated. */
  readonly frames: () => FramePoolStats;
}

type Labels = Record<string, string>;
type Rows = () => Iterable<readonly [Labels, number]>;

/**
 * A metric whose samples are read at scrape time: a counter (cumulative figures, `_total`)
 * or a gauge (levels), one sample per row.
 */
function collected(registry: Registry, kind: 'counter' | 'gauge', name: string, help: string, labelNames: string[], rows: Rows): void {
  if (kind === 'counter') {
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const [labels, value] of rows()) this.inc(labels, value);
      },
    });
  } else {
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const [labels, value] of rows()) this.set(labels, value);
      },
    });
  }
}

const one = (value: () => number): Rows => () => [[{}, value()]];

export function createMetrics(inputs: MetricsInputs): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ess_process_' });
  const t = inputs.totals;
  const total = (name: string, help: string, value: () => number) => collected(registry, 'counter', name, help, [], one(value));
  total('ess_payload_bytes_sent_total', 'Event payload bytes sent to workers.', () => t.bytes);
  total('ess_events_sent_total', 'Events sent to workers.', () => t.events);
  total('ess_chunks_sent_total', 'Chunk frames sent to workers.', () => t.chunks);
  total('ess_ranges_delivered_total', 'Event ranges whose data was fully sent.', () => t.rangesDelivered);
  total('ess_ranges_finished_total', 'Range reports recorded as finished.', () => t.rangesFinished);
  total('ess_ranges_failed_total', 'Range reports recorded as failed.', () => t.rangesFailed);
  total('ess_ranges_resumed_total', 'Ranges taken back by reconnecting workers.', () => t.rangesResumed);
  total('ess_reports_fenced_total', 'Reports refused because their lease token was no longer the range\'s.', () => t.reportsFenced);
  total('ess_delivered_cache_hit_bytes_total', 'Payload bytes served from the cache.', () => t.hitBytes);
  total('ess_delivered_cache_miss_bytes_total', 'Payload bytes read from sources.', () => t.missBytes);
  total('ess_chunk_frames_reused_total', 'Chunk frames built in memory reused from an earlier frame.', () => inputs.frames().reused);
  total('ess_chunk_frames_allocated_total', 'Chunk frame buffers newly allocated (pooled slots and frames too small to pool).', () => inputs.frames().allocated + inputs.frames().unpooled);
  collected(registry, 'gauge', 'ess_workers_connected', 'Worker sessions connected.', [], one(inputs.workers));
  collected(registry, 'gauge', 'ess_dashboards_connected', 'Monitor sessions connected.', [], one(inputs.dashboards));
  collected(registry, 'gauge', 'ess_monitor_tick_seconds', 'Smoothed time one dashboard update takes (collect, encode once, send to all).', [], one(inputs.monitorTick));

  collected(registry, 'gauge', 'ess_task_ranges', 'Event ranges per task and state.', ['task', 'dataset', 'state'], () =>
    inputs.tasks().flatMap((task) => Object.entries(task.ranges).map(([state, n]) => [{ task: String(task.id), dataset: task.dataset, state }, n] as const)),
  );

  const perSource = (kind: 'counter' | 'gauge', name: string, help: string, pick: (s: SourceRow) => number) =>
    collected(registry, kind, name, help, ['source', 'kind'], () => inputs.sources().map((s) => [{ source: s.id, kind: s.kind }, pick(s)] as const));
  perSource('counter', 'ess_source_requests_total', 'Reads issued to a source.', (s) => s.requests);
  perSource('counter', 'ess_source_errors_total', 'Failed reads of a source.', (s) => s.errors);
  perSource('counter', 'ess_source_bytes_total', 'Bytes read from a source.', (s) => s.bytes);
  perSource('counter', 'ess_source_failovers_total', 'Reads that moved from this source to another replica.', (s) => s.failovers);
  perSource('gauge', 'ess_source_latency_seconds', 'Smoothed time to first byte of a source.', (s) => s.latencyMs / 1000);
  perSource('gauge', 'ess_source_throughput_bytes_per_second', 'Smoothed transfer rate of a source.', (s) => s.throughput);
  perSource('gauge', 'ess_source_up', '1 when a source is up, 0.5 degraded, 0 down.', (s) => (s.health === 'up' ? 1 : s.health === 'degraded' ? 0.5 : 0));

  type Tier = CacheStats['tiers'][number];
  const perTier = (kind: 'counter' | 'gauge', name: string, help: string, pick: (x: Tier) => number) =>
    collected(registry, kind, name, help, ['tier'], () => (inputs.cache()?.tiers ?? []).map((x) => [{ tier: x.tier }, pick(x)] as const));
  perTier('counter', 'ess_cache_hits_total', 'Block reads served by a cache tier.', (x) => x.hits);
  perTier('counter', 'ess_cache_misses_total', 'Block reads a cache tier could not serve.', (x) => x.misses);
  perTier('counter', 'ess_cache_evictions_total', 'Blocks evicted from a cache tier.', (x) => x.evictions);
  perTier('gauge', 'ess_cache_bytes', 'Bytes held by a cache tier.', (x) => x.bytes);
  perTier('gauge', 'ess_cache_capacity_bytes', 'Byte budget of a cache tier.', (x) => x.capacity);
  return registry;
}
