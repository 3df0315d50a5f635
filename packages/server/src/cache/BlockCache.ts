/**
 * The block cache: the read path (memory → disk → fetcher) with one load per block however many
 * callers want it, pins and prefetch over the memory tier, write-behind to disk, and the figures.
 */
import type { CacheStats } from '@ess/protocol';
import { resolveCacheOptions, type BlockCacheOptions, type ResolvedCacheOptions } from './CacheOptions.js';
import {
  blockKey,
  blockLength,
  blockSpan,
  checkSpan,
  type BlockFetcher,
  type CacheFile,
  type PinHandle,
  type PrefetchHandle,
  type ReadReceipt,
} from './CacheTypes.js';
import { DiskTier } from './DiskTier.js';
import { MemoryTier } from './MemoryTier.js';
import { Prefetcher, type PrefetchLoader } from './Prefetcher.js';

/** A block being loaded (from disk or the fetcher): everyone who wants it awaits the same promise. */
interface Load {
  promise: Promise<Loaded>;
  readonly byPrefetch: boolean;
  /** A `read` joined it: the block is being read now, so it is not "prefetched and unused". */
  joinedByRead: boolean;
}

interface Loaded {
  readonly data: Buffer;
  /** True if it came from the fetcher (a miss for every reader), false if from disk. */
  readonly fromFetcher: boolean;
}

/** Counters beyond `CacheStats`, for operators chasing a problem and for tests. */
export interface CacheDiagnostics {
  /** Calls made to fetchers, and the bytes they returned. */
  readonly fetches: number;
  readonly fetchedBytes: number;
  readonly fetchErrors: number;
  /** Blocks handed to the memory tier but not kept because all of it was pinned. */
  readonly memoryNotRetained: number;
  readonly memoryPinnedBytes: number;
  /** Distinct blocks pinned (resident or not). */
  readonly pinnedBlocks: number;
  readonly loadsInFlight: number;
  readonly diskWritesSkipped: number;
  readonly diskWriteErrors: number;
  /** Damaged block files deleted (at open or when read). */
  readonly diskDiscarded: number;
  readonly prefetchReservedBytes: number;
}

export class BlockCache {
  private readonly memory: MemoryTier;
  private readonly inflight = new Map<string, Load>();
  private readonly prefetcher: Prefetcher;
  private closed = false;

  private memHits = 0;
  private memMisses = 0;
  private memHitBytes = 0;
  private diskHits = 0;
  private diskMisses = 0;
  private diskHitBytes = 0;
  private coalesced = 0;
  private fetches = 0;
  private fetchedBytes = 0;
  private fetchErrors = 0;

  private constructor(
    private readonly o: ResolvedCacheOptions,
    private readonly disk: DiskTier | null,
  ) {
    this.memory = new MemoryTier(o.memoryBytes, o.memoryPolicy, o.smallFraction, o.blockSize);
    const loader: PrefetchLoader = {
      memory: this.memory,
      blockSize: o.blockSize,
      loadForPrefetch: (file, block, fetch) => {
        const key = blockKey(file.id, block);
        const joined = this.inflight.get(key);
        if (joined) {
          this.coalesced++;
          return { promise: joined.promise, started: false };
        }
        return { promise: this.startLoad(file, block, key, fetch, true, 0, 0).promise, started: true };
      },
    };
    this.prefetcher = new Prefetcher(loader, { concurrency: o.prefetchConcurrency, maxBytes: o.prefetchMaxBytes, ttlMs: o.prefetchTtlMs, log: o.log });
  }

  /** Opens the cache; with a disk tier, creates its directory and rebuilds its index from the block files there. */
  static async open(options: BlockCacheOptions): Promise<BlockCache> {
    const o = resolveCacheOptions(options);
    const disk =
      o.diskEnabled && o.diskDir !== null
        ? await DiskTier.open({
            dir: o.diskDir,
            capacity: o.diskBytes,
            blockSize: o.blockSize,
            writeQueue: o.diskWriteQueue,
            writeConcurrency: o.diskWriteConcurrency,
            verifyOnOpen: o.diskVerifyOnOpen,
            touchIntervalMs: o.diskTouchIntervalMs,
            log: o.log,
          })
        : null;
    return new BlockCache(o, disk);
  }

  get blockSize(): number {
    return this.o.blockSize;
  }

  /**
   * Copies [offset, offset+length) of `file` into `into` (at 0), from memory, then disk, then
   * `fetch` (one load per missing block however many callers want it; up to `readConcurrency`
   * blocks of one read load at once). Rejects if a block's load fails; nothing of it is cached.
   */
  async read(file: CacheFile, offset: number, length: number, into: Buffer, fetch: BlockFetcher): Promise<ReadReceipt> {
    if (this.closed) throw new Error('block cache is closed');
    checkSpan(file, offset, length);
    if (into.length < length) throw new RangeError(`read of ${length} bytes into a buffer of ${into.length}`);
    if (length === 0) return { hitBytes: 0, missBytes: 0 };
    const bs = this.o.blockSize;
    const end = offset + length;
    const { first, last } = blockSpan(offset, length, bs);
    let hitBytes = 0;
    let missing: number[] | null = null;
    for (let b = first; b <= last; b++) {
      const start = b * bs;
      const lo = Math.max(offset, start) - start;
      const hi = Math.min(end, start + bs) - start;
      if (this.serveFromMemory(blockKey(file.id, b), lo, hi, into, start + lo - offset)) hitBytes += hi - lo;
      else (missing ??= []).push(b);
    }
    if (!missing) return { hitBytes, missBytes: 0 };
    const r = await this.readMissing(file, offset, end, into, fetch, missing);
    return { hitBytes: hitBytes + r.hitBytes, missBytes: r.missBytes };
  }

  /** Copies block-relative [lo, hi) of a resident block to `into` at `at`; false if not resident. */
  private serveFromMemory(key: string, lo: number, hi: number, into: Buffer, at: number): boolean {
    const e = this.memory.get(key);
    if (!e) return false;
    e.data.copy(into, at, lo, hi);
    this.memory.touch(e, lo, hi);
    if (e.prefetched) {
      e.prefetched = false;
      this.prefetcher.used++;
    }
    this.memHits++;
    this.memHitBytes += hi - lo;
    return true;
  }

  private async readMissing(file: CacheFile, offset: number, end: number, into: Buffer, fetch: BlockFetcher, blocks: number[]): Promise<ReadReceipt> {
    const bs = this.o.blockSize;
    let hitBytes = 0;
    let missBytes = 0;
    let next = 0;
    let failure = null as { error: unknown } | null;
    const lane = async (): Promise<void> => {
      while (next < blocks.length && !failure) {
        const b = blocks[next++]!;
        const start = b * bs;
        const lo = Math.max(offset, start) - start;
        const hi = Math.min(end, start + bs) - start;
        const at = start + lo - offset;
        const key = blockKey(file.id, b);
        // Looked up again: another caller may have loaded it while this read awaited other blocks.
        if (this.serveFromMemory(key, lo, hi, into, at)) {
          hitBytes += hi - lo;
          continue;
        }
        this.memMisses++;
        let load = this.inflight.get(key);
        const joined = load !== undefined;
        if (load) {
          this.coalesced++;
          load.joinedByRead = true;
        } else load = this.startLoad(file, b, key, fetch, false, lo, hi);
        try {
          const got = await load.promise;
          got.data.copy(into, at, lo, hi);
          if (got.fromFetcher) missBytes += hi - lo;
          else {
            hitBytes += hi - lo;
            this.diskHitBytes += hi - lo;
          }
          if (joined) {
            const e = this.memory.get(key);
            if (e) this.memory.touch(e, lo, hi);
          }
        } catch (error) {
          failure ??= { error };
        }
      }
    };
    const lanes = Math.min(this.o.readConcurrency, blocks.length);
    if (lanes === 1) await lane();
    else await Promise.all(Array.from({ length: lanes }, lane));
    if (failure) throw failure.error;
    return { hitBytes, missBytes };
  }

  /** Starts loading a block (disk, then fetcher) and registers it so that others join it. */
  private startLoad(file: CacheFile, block: number, key: string, fetch: BlockFetcher, byPrefetch: boolean, lo: number, hi: number): Load {
    const load: Load = { promise: undefined as unknown as Promise<Loaded>, byPrefetch, joinedByRead: false };
    this.inflight.set(key, load);
    load.promise = this.load(file, block, key, fetch, load, lo, hi);
    return load;
  }

  private async load(file: CacheFile, block: number, key: string, fetch: BlockFetcher, load: Load, lo: number, hi: number): Promise<Loaded> {
    try {
      const bs = this.o.blockSize;
      const length = blockLength(file.size, block, bs);
      const ref = this.disk?.ref(file.id, block) ?? null;
      let data = ref && this.disk ? await this.disk.read(ref, length) : null;
      const fromFetcher = data === null;
      if (data) this.diskHits++;
      else {
        // With the disk tier disabled every load is a disk miss: disk misses = fetcher calls.
        this.diskMisses++;
        data = await this.fetchBlock(block, length, fetch);
        if (ref && this.disk && !this.closed) this.disk.write(ref, data);
      }
      if (!this.closed) this.memory.insert(key, data, lo, hi, load.byPrefetch && !load.joinedByRead);
      return { data, fromFetcher };
    } finally {
      this.inflight.delete(key);
    }
  }

  /** One fetcher call, checked: exactly `length` bytes, not a view keeping a much larger buffer alive. */
  private async fetchBlock(block: number, length: number, fetch: BlockFetcher): Promise<Buffer> {
    this.fetches++;
    let data: Buffer;
    try {
      data = await fetch(block, block * this.o.blockSize, length);
      if (!Buffer.isBuffer(data) || data.length !== length) {
        throw new Error(`fetcher returned ${Buffer.isBuffer(data) ? `${data.length} bytes` : typeof data} for block ${block} (expected ${length} bytes)`);
      }
    } catch (e) {
      this.fetchErrors++;
      throw e;
    }
    this.fetchedBytes += length;
    return data.buffer.byteLength > length + (length >> 1) + 4096 ? Buffer.from(data) : data;
  }

  /**
   * Warms the blocks of a span ahead of need; they are pinned (never evicted) until the returned
   * handle is released or its TTL expires. Declines (warms less, and `done` says how much) rather
   * than evict pinned data or exceed `prefetchMaxBytes`. `done` never rejects.
   */
  prefetch(file: CacheFile, offset: number, length: number, fetch: BlockFetcher, o: { ttlMs?: number } = {}): PrefetchHandle {
    if (this.closed) throw new Error('block cache is closed');
    return this.prefetcher.prefetch(file, offset, length, fetch, o.ttlMs);
  }

  /**
   * Pins the blocks of a span while it is being read (a range streaming to a worker), so that
   * neither prefetch nor other reads evict them; blocks not resident yet are kept once they arrive.
   */
  pin(file: CacheFile, offset: number, length: number): PinHandle {
    checkSpan(file, offset, length);
    const keys: string[] = [];
    if (length > 0) {
      const { first, last } = blockSpan(offset, length, this.o.blockSize);
      for (let b = first; b <= last; b++) {
        const key = blockKey(file.id, b);
        this.memory.pin(key);
        keys.push(key);
      }
    }
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        for (const key of keys) this.memory.unpin(key);
      },
    };
  }

  stats(): CacheStats {
    const m = this.memory;
    const d = this.disk;
    const p = this.prefetcher;
    return {
      blockSize: this.o.blockSize,
      tiers: [
        { tier: 'memory', hits: this.memHits, misses: this.memMisses, hitBytes: this.memHitBytes, bytes: m.bytes, capacity: m.capacity, evictions: m.evictions },
        { tier: 'disk', hits: this.diskHits, misses: this.diskMisses, hitBytes: this.diskHitBytes, bytes: d?.bytes ?? 0, capacity: d?.capacity ?? 0, evictions: d?.evictions ?? 0 },
      ],
      coalesced: this.coalesced,
      prefetch: { issued: p.issued, bytes: p.bytes, used: p.used, inFlight: p.inFlight },
    };
  }

  diagnostics(): CacheDiagnostics {
    return {
      fetches: this.fetches,
      fetchedBytes: this.fetchedBytes,
      fetchErrors: this.fetchErrors,
      memoryNotRetained: this.memory.notRetained,
      memoryPinnedBytes: this.memory.pinnedBytes,
      pinnedBlocks: this.memory.pinCount,
      loadsInFlight: this.inflight.size,
      diskWritesSkipped: this.disk?.writesSkipped ?? 0,
      diskWriteErrors: this.disk?.writeErrors ?? 0,
      diskDiscarded: this.disk?.discarded ?? 0,
      prefetchReservedBytes: this.prefetcher.reserved,
    };
  }

  /** Waits until every queued disk write is done (writes are otherwise in the background). */
  async flush(): Promise<void> {
    await this.disk?.flush();
  }

  /** Stops prefetching (releasing its pins), flushes pending disk writes, and refuses further reads. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.prefetcher.close();
    await this.disk?.close();
  }
}
