/**
 * The vocabulary of the block cache shared by its parts: files, fetchers, receipts, prefetch handles,
 * and the block arithmetic (which blocks a byte span covers, each block's key and extent).
 */

/** A file as the cache knows it: a stable id (the lead will pass the file GUID) and its size. */
export interface CacheFile {
  readonly id: string;
  readonly size: number;
}

/**
 * Fetches one whole block's bytes from wherever the data comes from (length < blockSize only for
 * the file's last block). The returned Buffer is handed over to the cache: it must hold exactly
 * `length` bytes and must not be modified afterwards.
 */
export type BlockFetcher = (block: number, offset: number, length: number) => Promise<Buffer>;

/** How a read was served: bytes served from memory or disk vs bytes that needed the fetcher. Always `hitBytes + missBytes === length`. */
export interface ReadReceipt {
  readonly hitBytes: number;
  readonly missBytes: number;
}

/** What a prefetch achieved: bytes of the requested span that are now in memory and pinned. */
export interface PrefetchResult {
  readonly bytes: number;
}

export interface PrefetchHandle {
  /** Settles (never rejects) once every block was warmed, declined or failed. */
  readonly done: Promise<PrefetchResult>;
  /** Unpins what the prefetch pinned; idempotent. Expiry of the TTL does the same. */
  release(): void;
}

export interface PinHandle {
  /** Idempotent. */
  release(): void;
}

/** The cache's key for one block of one file, also used for in-flight and pin bookkeeping. */
export function blockKey(fileId: string, block: number): string {
  // `#` then digits at the end: unambiguous whatever the id holds.
  return `${fileId}#${block}`;
}

/** First and last block index of a non-empty span. */
export function blockSpan(offset: number, length: number, blockSize: number): { first: number; last: number } {
  return { first: Math.floor(offset / blockSize), last: Math.floor((offset + length - 1) / blockSize) };
}

/** Length of block `block` of a file of `size` bytes. */
export function blockLength(size: number, block: number, blockSize: number): number {
  return Math.min(blockSize, size - block * blockSize);
}

export function checkSpan(file: CacheFile, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > file.size) {
    throw new RangeError(`span [${offset}, +${length}) is outside file ${file.id} of ${file.size} bytes`);
  }
}
