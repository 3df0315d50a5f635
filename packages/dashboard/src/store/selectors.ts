/**
 * Derived figures, as pure functions of the view and a clock: effective worker health (with the
 * dashboard's own staleness), hit ratios, task completion. Components and tests share them.
 */
import { TERMINAL_STATES, WorkerHealth, type CacheStats, type TaskRow, type WorkerRow, type RangeState } from '@ess/protocol';
import { workerStaleMs } from './thresholds.js';
import type { DashboardState, MonitorView } from './types.js';

/** The local instant the visible view describes: frozen at the pause, otherwise the ticking clock. */
export function viewClock(s: DashboardState): number {
  return s.paused ? s.paused.since : s.now;
}

/** The server's clock estimated at local time `localNow` (immune to skew between the two clocks). */
export function serverNowAt(view: MonitorView, localNow: number): number {
  if (!view.ready) return localNow;
  return view.t + Math.max(0, localNow - view.receivedAt);
}

/** The server's clock as the visible view should see it. */
export function selectServerNow(s: DashboardState): number {
  return serverNowAt(s.view, viewClock(s));
}

/** Milliseconds of silence after which the dashboard itself calls a worker stale. */
export function selectWorkerStaleMs(s: DashboardState): number {
  return workerStaleMs(s.thresholds, s.view.intervalMs);
}

/**
 * The health shown for a worker: `gone` as the server says; `stale` when the server says so or when
 * its lastSeen is older than the threshold on the dashboard's own estimate of the server clock.
 */
export function effectiveHealth(w: WorkerRow, serverNow: number, staleMs: number): WorkerHealth {
  if (w.health === WorkerHealth.gone) return WorkerHealth.gone;
  if (w.health === WorkerHealth.stale) return WorkerHealth.stale;
  if (serverNow - w.lastSeen > staleMs) return WorkerHealth.stale;
  return w.health;
}

/** True when the server said the worker is fine but the dashboard finds it silent. */
export function staleByClient(w: WorkerRow, serverNow: number, staleMs: number): boolean {
  return w.health !== WorkerHealth.gone && w.health !== WorkerHealth.stale && serverNow - w.lastSeen > staleMs;
}

/** hits / (hits + misses), or null when there is nothing to divide. */
export function ratio(hits: number, misses: number): number | null {
  const total = hits + misses;
  return total > 0 ? hits / total : null;
}

/** Share of the bytes a worker received that came from the cache. */
export function workerHitRatio(w: WorkerRow): number | null {
  return ratio(w.hitBytes, w.missBytes);
}

/**
 * Cumulative cache lookups and hits over all tiers. Tiers are listed in lookup order (memory, then disk):
 * every lookup reaches the first tier, and a hit in any tier is a cache hit.
 */
export function cacheTotals(cache: CacheStats | null): { hits: number; lookups: number; hitBytes: number } | null {
  if (!cache || cache.tiers.length === 0) return null;
  const first = cache.tiers[0]!;
  let hits = 0;
  let hitBytes = 0;
  for (const t of cache.tiers) {
    hits += t.hits;
    hitBytes += t.hitBytes;
  }
  const lookups = Math.max(first.hits + first.misses, hits);
  return { hits, lookups, hitBytes };
}

/** The cumulative cache hit ratio, or null without a cache or lookups. */
export function cacheHitRatio(cache: CacheStats | null): number | null {
  const c = cacheTotals(cache);
  return c && c.lookups > 0 ? c.hits / c.lookups : null;
}

/** The range states in the order a task's bar shows them (cancelled last, only when present). */
export const BAR_STATES = ['finished', 'running', 'assigned', 'ready', 'failed', 'fatal', 'cancelled'] as const satisfies readonly RangeState[];

/** Share of a task's ranges in a terminal state (finished, fatal, cancelled): 1 when nothing is left to do. */
export function taskCompletion(t: TaskRow): number {
  if (t.rangesTotal <= 0) return t.state === 'complete' ? 1 : 0;
  let done = 0;
  for (const s of TERMINAL_STATES) done += t.ranges[s];
  return Math.min(1, done / t.rangesTotal);
}

/** Share of a task's ranges finished successfully. */
export function taskFinished(t: TaskRow): number {
  return t.rangesTotal > 0 ? Math.min(1, t.ranges.finished / t.rangesTotal) : 0;
}

/** failed / (finished + failed), or null with fewer than `minOutcomes` outcomes. */
export function failureRate(finished: number, failed: number, minOutcomes = 1): number | null {
  const n = finished + failed;
  return n >= minOutcomes && n > 0 ? failed / n : null;
}

/** The workers table shows a node column only when there is more than one node to tell apart. */
export const selectMultiNode = (s: DashboardState): boolean => s.view.nodes.length > 1;
