/**
 * Reconnect delays: exponential with "equal jitter" (half fixed, half random), capped, so that
 * a hundred dashboards reconnecting after a server restart spread out instead of arriving together.
 */

export interface BackoffPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly factor: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = Object.freeze({ initialMs: 500, maxMs: 15_000, factor: 2 });

/** The delay before attempt `attempt` (0 = first retry); `random` in [0, 1). */
export function backoffDelay(attempt: number, policy: BackoffPolicy = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.initialMs * policy.factor ** Math.max(0, attempt));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
