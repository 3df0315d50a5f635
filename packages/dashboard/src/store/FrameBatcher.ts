/**
 * Collects items and hands them over in one batch per animation frame. The scheduler is injectable
 * (tests flush by hand); the default also fires on a timer so a hidden tab, where frames stop, keeps its queue short.
 */

/** Runs `cb` once, later; returns a function that cancels it. */
export type FrameScheduler = (cb: () => void) => () => void;

/** requestAnimationFrame, with a timeout as a fallback for hidden tabs (where rAF does not fire). */
export const animationFrameScheduler: FrameScheduler = (cb) => {
  let done = false;
  const run = () => {
    if (done) return;
    done = true;
    cancel();
    cb();
  };
  const raf = typeof requestAnimationFrame === 'function' ? requestAnimationFrame(run) : null;
  const timer = setTimeout(run, 250);
  const cancel = () => {
    if (raf !== null && typeof cancelAnimationFrame === 'function') cancelAnimationFrame(raf);
    clearTimeout(timer);
  };
  return () => {
    done = true;
    cancel();
  };
};

/** A scheduler that only runs when told to: `flush()` runs what is pending. For tests. */
export function manualScheduler(): FrameScheduler & { flush(): number; readonly pending: number } {
  let queue: Array<() => void> = [];
  const schedule = ((cb: () => void) => {
    queue.push(cb);
    return () => {
      queue = queue.filter((f) => f !== cb);
    };
  }) as FrameScheduler & { flush(): number; readonly pending: number };
  schedule.flush = () => {
    const run = queue;
    queue = [];
    for (const f of run) f();
    return run.length;
  };
  Object.defineProperty(schedule, 'pending', { get: () => queue.length });
  return schedule;
}

export class FrameBatcher<T> {
  private queue: T[] = [];
  private cancel: (() => void) | null = null;

  constructor(
    private readonly schedule: FrameScheduler,
    private readonly onBatch: (items: T[]) => void,
  ) {}

  get pending(): number {
    return this.queue.length;
  }

  push(item: T): void {
    this.queue.push(item);
    this.cancel ??= this.schedule(() => {
      this.cancel = null;
      this.flush();
    });
  }

  /** Hands over everything queued now. */
  flush(): void {
    if (this.cancel) {
      this.cancel();
      this.cancel = null;
    }
    if (this.queue.length === 0) return;
    const items = this.queue;
    this.queue = [];
    this.onBatch(items);
  }

  /** Drops what is queued and the scheduled frame. */
  dispose(): void {
    this.cancel?.();
    this.cancel = null;
    this.queue = [];
  }
}
