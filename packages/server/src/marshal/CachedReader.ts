/**
 * The data path with the cache: block reads go memory → disk → the best replica (with failover),
 * concurrent misses of a block cost one source read, and spans can be pinned or prefetched.
 */
import type { BlockCache, BlockFetcher, CacheFile, PinHandle, PrefetchHandle } from '../cache/index.js';
import type { CatalogueFile } from '../catalogue/index.js';
import type { ReplicaReader } from '../sources/index.js';
import type { DataReader } from './Marshaller.js';
import type { ReadReceipt } from './RangeStream.js';

/** The cache knows a file by its GUID: the same file through any replica is the same data. */
export function cacheFile(file: CatalogueFile): CacheFile {
  return { id: file.guid, size: file.size };
}

export class CachedReader implements DataReader {
  constructor(
    readonly cache: BlockCache,
    private readonly replicas: ReplicaReader,
  ) {}

  read(file: CatalogueFile, offset: number, length: number, into: Buffer): Promise<ReadReceipt> {
    return this.cache.read(cacheFile(file), offset, length, into, this.fetcher(file));
  }

  pin(file: CatalogueFile, offset: number, length: number): PinHandle {
    return this.cache.pin(cacheFile(file), offset, length);
  }

  /** Warms a span ahead of need; pinned until released (or its TTL passes). */
  prefetch(file: CatalogueFile, offset: number, length: number): PrefetchHandle {
    return this.cache.prefetch(cacheFile(file), offset, length, this.fetcher(file));
  }

  private fetcher(file: CatalogueFile): BlockFetcher {
    return async (_block, offset, length) => {
      const buf = Buffer.allocUnsafe(length);
      await this.replicas.read(file, offset, length, buf);
      return buf;
    };
  }
}
