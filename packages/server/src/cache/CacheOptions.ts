/**
 * The cache's configuration: every knob with its default and the checks applied at open.
 * Budgets are in bytes; see docs/CACHE.md for how to size them.
 */
import type { Logger } from '../log.js';

export const DEFAULT_BLOCK_SIZE = 1024 * 1024;

/** The memory tier's eviction policy. `s3-fifo` is the default; `lru` is kept as the baseline to measure against. */
export type MemoryPolicy = 's3-fifo' | 'lru';

export interface BlockCacheOptions {
  /** Block size in bytes; blocks are aligned at multiples of it in each file. Default 1 MiB. */
  blockSize: number;
  /** Byte budget of the memory tier (block bytes held, pinned ones included). */
  memoryBytes: number;
  /** Byte budget of the disk tier (block files, headers included). 0 disables the tier. */
  diskBytes: number;
  /** Directory of the disk tier (created if missing); null disables the tier. */
  diskDir: string | null;
  log: Logger;
  /** Memory eviction policy. Default `s3-fifo`. */
  memoryPolicy?: MemoryPolicy;
  /** S3-FIFO: share of the memory budget for the small (probationary) FIFO. Default 0.1. */
  smallFraction?: number;
  /** Missing blocks one `read` loads at once. Default 8. */
  readConcurrency?: number;
  /** Block loads all prefetches together run at once. Default 4. */
  prefetchConcurrency?: number;
  /** Bytes prefetches may hold pinned or queued at once. Default half of `memoryBytes`. */
  prefetchMaxBytes?: number;
  /** A prefetch handle not released by then unpins itself. Default 120 s. */
  prefetchTtlMs?: number;
  /** Blocks waiting to be written to disk; when full, a new block is not cached on disk. Default 32. */
  diskWriteQueue?: number;
  /** Disk writes running at once. Default 2. */
  diskWriteConcurrency?: number;
  /** Check every block's CRC-32 at open (reads the whole tier), not only its header and size. Default true. */
  diskVerifyOnOpen?: boolean;
  /** A disk hit refreshes the block file's mtime (its persisted last access) at most this often. Default 60 s. */
  diskTouchIntervalMs?: number;
}

export type ResolvedCacheOptions = Required<Omit<BlockCacheOptions, 'diskDir'>> & { diskDir: string | null; diskEnabled: boolean };

export function resolveCacheOptions(o: BlockCacheOptions): ResolvedCacheOptions {
  const r: ResolvedCacheOptions = {
    blockSize: o.blockSize,
    memoryBytes: o.memoryBytes,
    diskBytes: o.diskBytes,
    diskDir: o.diskDir,
    log: o.log,
    memoryPolicy: o.memoryPolicy ?? 's3-fifo',
    smallFraction: o.smallFraction ?? 0.1,
    readConcurrency: o.readConcurrency ?? 8,
    prefetchConcurrency: o.prefetchConcurrency ?? 4,
    prefetchMaxBytes: o.prefetchMaxBytes ?? Math.floor(o.memoryBytes / 2),
    prefetchTtlMs: o.prefetchTtlMs ?? 120_000,
    diskWriteQueue: o.diskWriteQueue ?? 32,
    diskWriteConcurrency: o.diskWriteConcurrency ?? 2,
    diskVerifyOnOpen: o.diskVerifyOnOpen ?? true,
    diskTouchIntervalMs: o.diskTouchIntervalMs ?? 60_000,
    diskEnabled: o.diskDir !== null && o.diskBytes > 0,
  };
  const positiveInt = (name: keyof ResolvedCacheOptions, min = 1) => {
    const v = r[name];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw new RangeError(`cache option ${name} must be an integer >= ${min} (got ${String(v)})`);
  };
  positiveInt('blockSize');
  positiveInt('memoryBytes', 0);
  positiveInt('diskBytes', 0);
  positiveInt('readConcurrency');
  positiveInt('prefetchConcurrency');
  positiveInt('prefetchMaxBytes', 0);
  positiveInt('prefetchTtlMs');
  positiveInt('diskWriteQueue', 0);
  positiveInt('diskWriteConcurrency');
  positiveInt('diskTouchIntervalMs', 0);
  if (!(r.smallFraction > 0 && r.smallFraction < 1)) throw new RangeError(`cache option smallFraction must be in (0, 1) (got ${r.smallFraction})`);
  if (r.blockSize > 0xffffffff) throw new RangeError('cache option blockSize must fit in 32 bits');
  return r;
}
