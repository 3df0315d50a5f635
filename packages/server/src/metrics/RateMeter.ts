/**
 * A smoothed rate from a cumulative counter, sampled on a tick: what "MB/s" and "events/s"
 * mean everywhere in ESS (an exponentially weighted average with a few seconds' memory).
 */
export class RateMeter {
  private lastValue = 0;
  private lastAt: number | null = null;
  rate = 0;

  /** `halfLifeMs`: how long until an old sample weighs half. */
  constructor(private readonly halfLifeMs = 2_000) {}

  sample(total: number, now: number): number {
    if (this.lastAt === null) {
      this.lastAt = now;
      this.lastValue = total;
      return this.rate;
    }
    const dt = now - this.lastAt;
    if (dt <= 0) return this.rate;
    const instant = ((total - this.lastValue) * 1000) / dt;
    const alpha = 1 - Math.pow(0.5, dt / this.halfLifeMs);
    this.rate += alpha * (instant - this.rate);
    if (this.rate < 1e-9) this.rate = 0;
    this.lastAt = now;
    this.lastValue = total;
    return this.rate;
  }
}
