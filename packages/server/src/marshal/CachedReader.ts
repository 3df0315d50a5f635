/**
 * The data path with the cache: block reads go memory → disk → (in a cluster) the block's owner
 * node → the best replica (with failover); concurrent misses of a block cost one fetch; spans can
 * be pinned or prefetched.
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

/** Where a block missing from this node's cache can come from before the origin (a cluster's owner node). */
export interface PeerFetch {
  /** The block's bytes, or null to read it from the origin. */
  fetch(file: CatalogueFile, block: number, offset: number, length: number): Promise<Buffer | null>;
}

export class CachedReader implements DataReader {
  constructor(
    readonly cache: BlockCache,
    private readonly replicas: ReplicaReader,
    private readonly peers: PeerFetch | null = null,
  ) {}

  read(file: CatalogueFile, offset: number, length: number, into: Buffer): Promise<ReadReceipt> {
    return this.cache.read(cacheFile(file), offset, length, into, this.fetcher(file));
  }

  /**
   * Reads through this node's cache and the origin only, never another node: what a node serves
   * when another asks it for a block it owns (so a request is never forwarded twice).
   */
  readLocal(file: CatalogueFile, offset: number, length: number, into: Buffer): Promise<ReadReceipt> {
    return this.cache.read(cacheFile(file), offset, length, into, this.fetcher(file, false));
  }

  pin(file: CatalogueFile, offset: number, length: number): PinHandle {
    return this.cache.pin(cacheFile(file), offset, length);
  }

  /** Warms a span ahead of need; pinned until released (or its TTL passes). */
  prefetch(file: CatalogueFile, offset: number, length: number): PrefetchHandle {
    return this.cache.prefetch(cacheFile(file), offset, length, this.fetcher(file));
  }

  /** Fetches a missing block: from its owner node when there is a cluster, else (or if that fails) from the best replica. */
  private fetcher(file: CatalogueFile, viaPeers = true): BlockFetcher {
    return async (block, offset, length) => {
      const fromPeer = viaPeers && this.peers ? await this.peers.fetch(file, block, offset, length) : null;
      if (fromPeer) return fromPeer;
      const buf = Buffer.allocUnsafe(length);
      await this.replicas.read(file, offset, length, buf);
      return buf;
    };
  }
}
