/**
 * Client-side alarm thresholds. The server raises its own alarms; these make the dashboard
 * honest on its own (a worker or a whole view that went silent is flagged even if the server cannot say so).
 */
import { DEFAULT_LIMIT_POLICY } from '@ess/protocol';

export interface Thresholds {
  /** The view is stale when no snapshot or delta arrived for this many server intervals... */
  readonly staleIntervals: number;
  /** ...and never sooner than this (ms): at a 250 ms rate, three intervals is one GC pause, and a banner that flickers is ignored. */
  readonly minStaleMs: number;
  /** A worker is stale when its lastSeen is older than this (ms); null derives it from the server's rates. */
  readonly workerStaleMs: number | null;
  /** A task alarms when failed / (finished + failed) exceeds this... */
  readonly failureRate: number;
  /** ...once at least this many ranges have an outcome. */
  readonly failureMinOutcomes: number;
  /** The cache alarms when its recent hit ratio falls below this... */
  readonly cacheHitLow: number;
  /** ...once the cache has seen at least this many lookups. */
  readonly cacheMinLookups: number;
  /** Window over which the recent cache hit ratio is computed (ms). */
  readonly hitRatioWindowMs: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = Object.freeze({
  staleIntervals: 3,
  minStaleMs: 1500,
  workerStaleMs: null,
  failureRate: 0.1,
  failureMinOutcomes: 20,
  cacheHitLow: 0.5,
  cacheMinLookups: 100,
  hitRatioWindowMs: 60_000,
});

/** How long without data before the whole view is called stale. */
export function viewStaleMs(t: Thresholds, intervalMs: number): number {
  return Math.max(t.minStaleMs, t.staleIntervals * intervalMs);
}

/**
 * How old a worker's lastSeen may be before the dashboard calls it stale: the configured value, or three
 * worker heartbeats / three monitor intervals, whichever is longer (a healthy worker talks at least once per
 * heartbeat). The worker channel's heartbeat is not announced on the monitor channel, so the protocol's default
 * is assumed; the server flags silence sooner (2 heartbeats) with the real figure, this is the backstop.
 */
export function workerStaleMs(t: Thresholds, intervalMs: number, workerHeartbeatMs: number = DEFAULT_LIMIT_POLICY.heartbeatMs): number {
  if (t.workerStaleMs !== null) return t.workerStaleMs;
  return Math.max(3 * workerHeartbeatMs, 3 * intervalMs);
}
