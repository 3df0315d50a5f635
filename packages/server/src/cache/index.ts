/**
 * The block cache's public API: a memory and a disk tier of aligned blocks in front of any origin,
 * with request coalescing, pins and server-side prefetch (docs/CACHE.md).
 */
export { BlockCache, type CacheDiagnostics } from './BlockCache.js';
export { DEFAULT_BLOCK_SIZE, type BlockCacheOptions, type MemoryPolicy } from './CacheOptions.js';
export type { BlockFetcher, CacheFile, PinHandle, PrefetchHandle, PrefetchResult, ReadReceipt } from './CacheTypes.js';
