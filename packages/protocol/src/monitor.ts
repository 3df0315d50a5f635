/**
 * The monitor channel's content: a snapshot on connect, then deltas at a fixed rate.
 * Rows are keyed (worker id, task id); a delta carries changed rows and the ids that left.
 */
import { z } from 'zod';

const count = z.number().int().nonnegative();
const num = z.number();

/** How a worker looks to shift crew. `stale`: connected but silent past the threshold; `gone`: disconnected. */
export const WorkerHealth = { active: 'active', idle: 'idle', stale: 'stale', gone: 'gone' } as const;
export type WorkerHealth = (typeof WorkerHealth)[keyof typeof WorkerHealth];

export const WorkerRowSchema = z.object({
  id: z.string(),
  label: z.string(),
  site: z.string(),
  /** The ESS node the worker is connected to. */
  node: z.string(),
  health: z.enum([WorkerHealth.active, WorkerHealth.idle, WorkerHealth.stale, WorkerHealth.gone]),
  task: z.number().int().nullable(),
  connectedAt: num,
  /** Last time anything arrived from the worker (ms since the epoch). */
  lastSeen: num,
  /** Cumulative payload bytes and events sent to the worker. */
  bytes: count,
  events: count,
  /** Smoothed payload bytes/s and events/s over the last few seconds. */
  rate: num,
  eventRate: num,
  /** The worker's credit window and the payload bytes sent but not yet released by it. */
  window: count,
  inFlight: count,
  rangesInFlight: count,
  rangesFinished: count,
  rangesFailed: count,
  /** Payload bytes served to this worker from the cache and from sources. */
  hitBytes: count,
  missBytes: count,
});
export type WorkerRow = z.infer<typeof WorkerRowSchema>;

export const TaskStateName = { active: 'active', complete: 'complete', cancelled: 'cancelled' } as const;
export type TaskStateName = (typeof TaskStateName)[keyof typeof TaskStateName];

export const RangeCountsSchema = z.object({
  ready: count,
  assigned: count,
  running: count,
  finished: count,
  failed: count,
  fatal: count,
  cancelled: count,
});
export type RangeCounts = z.infer<typeof RangeCountsSchema>;

export const TaskRowSchema = z.object({
  id: z.number().int(),
  dataset: z.string(),
  state: z.enum([TaskStateName.active, TaskStateName.complete, TaskStateName.cancelled]),
  createdAt: num,
  priority: z.number().int(),
  rangeSize: count,
  ranges: RangeCountsSchema,
  rangesTotal: count,
  events: count,
  eventsDone: count,
  eventRate: num,
  /** Seconds to completion at the current rate, or null when not estimable. */
  etaSeconds: num.nullable(),
});
export type TaskRow = z.infer<typeof TaskRowSchema>;

export const TotalsSchema = z.object({
  bytes: count,
  events: count,
  rate: num,
  eventRate: num,
  workers: count,
  activeWorkers: count,
  tasksActive: count,
});
export type Totals = z.infer<typeof TotalsSchema>;

export const CacheTierSchema = z.object({
  tier: z.string(),
  hits: count,
  misses: count,
  hitBytes: count,
  bytes: count,
  capacity: count,
  evictions: count,
});
export const CacheStatsSchema = z.object({
  blockSize: count,
  tiers: z.array(CacheTierSchema),
  /** Requests that joined a fetch already in progress instead of issuing their own. */
  coalesced: count,
  prefetch: z.object({ issued: count, bytes: count, used: count, inFlight: count }),
});
export type CacheStats = z.infer<typeof CacheStatsSchema>;

export const SourceHealth = { up: 'up', degraded: 'degraded', down: 'down' } as const;
export type SourceHealth = (typeof SourceHealth)[keyof typeof SourceHealth];

export const SourceRowSchema = z.object({
  id: z.string(),
  kind: z.string(),
  endpoint: z.string(),
  health: z.enum([SourceHealth.up, SourceHealth.degraded, SourceHealth.down]),
  /** Smoothed time to first byte in ms. */
  latencyMs: num,
  /** Smoothed bytes/s while transferring. */
  throughput: num,
  requests: count,
  errors: count,
  bytes: count,
  inFlight: count,
  failovers: count,
});
export type SourceRow = z.infer<typeof SourceRowSchema>;

export const AlarmKind = {
  workerStale: 'worker_stale',
  sourceDown: 'source_down',
  failureRate: 'failure_rate',
  cacheHitLow: 'cache_hit_low',
  nodeDown: 'node_down',
} as const;
export type AlarmKind = (typeof AlarmKind)[keyof typeof AlarmKind];

export const AlarmSchema = z.object({
  id: z.string(),
  kind: z.string(),
  severity: z.enum(['warning', 'critical']),
  subject: z.string(),
  message: z.string(),
  since: num,
});
export type Alarm = z.infer<typeof AlarmSchema>;

export const NodeRowSchema = z.object({
  id: z.string(),
  url: z.string(),
  health: z.enum(['up', 'down']),
  lastSeen: num,
  workers: count,
  rate: num,
});
export type NodeRow = z.infer<typeof NodeRowSchema>;

export const NodeInfoSchema = z.object({
  id: z.string(),
  version: z.string(),
  startedAt: num,
});

export const MonitorSnapshotSchema = z.object({
  type: z.literal('snapshot'),
  seq: count,
  t: num,
  /** The server's delta period; a dashboard that hears nothing for a few periods marks itself stale. */
  intervalMs: count,
  node: NodeInfoSchema,
  workers: z.array(WorkerRowSchema),
  tasks: z.array(TaskRowSchema),
  totals: TotalsSchema,
  cache: CacheStatsSchema.nullable(),
  sources: z.array(SourceRowSchema),
  alarms: z.array(AlarmSchema),
  nodes: z.array(NodeRowSchema),
});
export type MonitorSnapshot = z.infer<typeof MonitorSnapshotSchema>;

export const MonitorDeltaSchema = z.object({
  type: z.literal('delta'),
  seq: count,
  t: num,
  /** Rows that changed since the previous message. */
  workers: z.array(WorkerRowSchema),
  /** Ids of worker rows to drop. */
  gone: z.array(z.string()),
  tasks: z.array(TaskRowSchema),
  totals: TotalsSchema,
  cache: CacheStatsSchema.nullable(),
  sources: z.array(SourceRowSchema),
  alarms: z.array(AlarmSchema),
  nodes: z.array(NodeRowSchema),
});
export type MonitorDelta = z.infer<typeof MonitorDeltaSchema>;
