/**
 * Server-side prefetch: warms the blocks of spans that will be read soon, pinning them until the
 * handle is released or expires, with bounded concurrency and bytes; declines rather than evict pins.
 */
import type { Logger } from '../log.js';
import { blockKey, blockLength, blockSpan, checkSpan, type BlockFetcher, type CacheFile, type PrefetchHandle, type PrefetchResult } from './CacheTypes.js';
import type { MemoryTier } from './MemoryTier.js';

/** What the prefetcher needs from the cache: the memory tier and a way into the coalesced load path. */
export interface PrefetchLoader {
  readonly memory: MemoryTier;
  readonly blockSize: number;
  /** Joins the block's in-flight load, or starts one marked as a prefetch (`started`). */
  loadForPrefetch(file: CacheFile, block: number, fetch: BlockFetcher): { readonly promise: Promise<unknown>; readonly started: boolean };
}

export interface PrefetcherOptions {
  readonly concurrency: number;
  readonly maxBytes: number;
  readonly ttlMs: number;
  readonly log: Logger;
}

interface Job {
  readonly handle: Handle;
  readonly block: number;
  readonly key: string;
  readonly length: number;
}

class Handle implements PrefetchHandle {
  readonly done: Promise<PrefetchResult>;
  /** Keys this handle pins (each once). */
  readonly pinned = new Set<string>();
  reserved = 0;
  outstanding = 0;
  warmedBytes = 0;
  released = false;
  timer: NodeJS.Timeout | null = null;
  private resolveDone!: (r: PrefetchResult) => void;

  constructor(
    readonly file: CacheFile,
    readonly offset: number,
    readonly end: number,
    readonly fetch: BlockFetcher,
    private readonly onRelease: (h: Handle) => void,
  ) {
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  /** Bytes of the requested span inside `block`. */
  spanBytes(block: number, blockSize: number): number {
    const start = block * blockSize;
    return Math.min(this.end, start + blockSize) - Math.max(this.offset, start);
  }

  jobDone(): void {
    if (--this.outstanding === 0) this.resolveDone({ bytes: this.warmedBytes });
  }

  settleIfIdle(): void {
    if (this.outstanding === 0) this.resolveDone({ bytes: this.warmedBytes });
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.onRelease(this);
  }
}

export class Prefetcher {
  private readonly queue: Job[] = [];
  private running = 0;
  private readonly live = new Set<Handle>();
  /** Bytes pinned or queued by live handles; never above `maxBytes`. */
  reserved = 0;
  issued = 0;
  bytes = 0;
  used = 0;

  constructor(
    private readonly loader: PrefetchLoader,
    private readonly o: PrefetcherOptions,
  ) {}

  /** Blocks queued or loading. */
  get inFlight(): number {
    return this.queue.length + this.running;
  }

  prefetch(file: CacheFile, offset: number, length: number, fetch: BlockFetcher, ttlMs = this.o.ttlMs): PrefetchHandle {
    checkSpan(file, offset, length);
    const h = new Handle(file, offset, offset + length, fetch, (x) => this.released(x));
    if (length === 0) {
      h.settleIfIdle();
      return h;
    }
    const { memory, blockSize } = this.loader;
    const { first, last } = blockSpan(offset, length, blockSize);
    for (let b = first; b <= last; b++) {
      const len = blockLength(file.size, b, blockSize);
      if (this.reserved + len > this.o.maxBytes) break; // declined: the budget is taken
      const key = blockKey(file.id, b);
      this.reserved += len;
      h.reserved += len;
      memory.pin(key);
      h.pinned.add(key);
      if (memory.get(key)) h.warmedBytes += h.spanBytes(b, blockSize);
      else {
        h.outstanding++;
        this.queue.push({ handle: h, block: b, key, length: len });
      }
    }
    if (h.pinned.size > 0) {
      this.live.add(h);
      h.timer = setTimeout(() => h.release(), ttlMs);
      h.timer.unref();
    }
    h.settleIfIdle();
    this.pump();
    return h;
  }

  /** Releases every live handle and drops queued work. */
  close(): void {
    for (const h of [...this.live]) h.release();
  }

  private released(h: Handle): void {
    this.live.delete(h);
    for (const key of h.pinned) this.loader.memory.unpin(key);
    h.pinned.clear();
    this.reserved -= h.reserved;
    h.reserved = 0;
    let dropped = 0;
    for (let i = this.queue.length - 1; i >= 0; i--) {
      if (this.queue[i]!.handle === h) {
        this.queue.splice(i, 1);
        dropped++;
      }
    }
    for (let i = 0; i < dropped; i++) h.jobDone();
  }

  private pump(): void {
    while (this.running < this.o.concurrency) {
      const job = this.queue.shift();
      if (!job) return;
      this.running++;
      void this.run(job).finally(() => {
        this.running--;
        job.handle.jobDone();
        this.pump();
      });
    }
  }

  private async run({ handle: h, block, key, length }: Job): Promise<void> {
    const { memory, blockSize } = this.loader;
    if (h.released) return;
    if (!memory.get(key)) {
      if (!memory.canAdmit(length)) return this.decline(h, key, length);
      const load = this.loader.loadForPrefetch(h.file, block, h.fetch);
      if (load.started) this.issued++;
      try {
        await load.promise;
        if (load.started) this.bytes += length;
      } catch (e) {
        this.o.log.debug({ err: e, file: h.file.id, block }, 'prefetch: block load failed');
        return this.decline(h, key, length);
      }
      if (h.released) return;
      if (!memory.get(key)) return this.decline(h, key, length); // not retained: memory is all pinned
    }
    h.warmedBytes += h.spanBytes(block, blockSize);
  }

  private decline(h: Handle, key: string, length: number): void {
    if (h.released || !h.pinned.delete(key)) return;
    this.loader.memory.unpin(key);
    h.reserved -= length;
    this.reserved -= length;
  }
}
