/**
 * The memory tier: block buffers under a byte budget, evicted by S3-FIFO (or plain LRU, the baseline),
 * and the pin counts that keep blocks about to be read out of eviction's reach.
 */
import type { MemoryPolicy } from './CacheOptions.js';

/** One resident block. The queue links are intrusive so that moving and removing are O(1). */
export interface MemoryEntry {
  readonly key: string;
  readonly data: Buffer;
  /** S3-FIFO re-reference counter, 0..3. */
  freq: number;
  /** The queue the entry belongs to (it is out of it while pinned). */
  home: Fifo;
  /** Whether it is linked into `home` right now (false while pinned). */
  linked: boolean;
  /** Block-relative bytes read since the last counted reference: [readLo, readHi), empty when readLo >= readHi. */
  readLo: number;
  readHi: number;
  /** Loaded by a prefetch and not read yet. */
  prefetched: boolean;
  prev: MemoryEntry | null;
  next: MemoryEntry | null;
}

/** A FIFO of entries with its byte total: append at the tail, take from the head, unlink anywhere. */
class Fifo {
  head: MemoryEntry | null = null;
  tail: MemoryEntry | null = null;
  bytes = 0;

  append(e: MemoryEntry): void {
    e.prev = this.tail;
    e.next = null;
    if (this.tail) this.tail.next = e;
    else this.head = e;
    this.tail = e;
    e.home = this;
    e.linked = true;
    this.bytes += e.data.length;
  }

  unlink(e: MemoryEntry): void {
    if (e.prev) e.prev.next = e.next;
    else this.head = e.next;
    if (e.next) e.next.prev = e.prev;
    else this.tail = e.prev;
    e.prev = e.next = null;
    e.linked = false;
    this.bytes -= e.data.length;
  }
}

const MAX_FREQ = 3;

export class MemoryTier {
  private readonly entries = new Map<string, MemoryEntry>();
  /** Probationary FIFO for new blocks (S3-FIFO's S). Unused under `lru`. */
  private readonly small = new Fifo();
  /** Main FIFO with second chance (S3-FIFO's M); the recency list under `lru`. */
  private readonly main = new Fifo();
  /** Keys recently evicted from `small` (S3-FIFO's G): insertion order is FIFO order. */
  private readonly ghost = new Map<string, true>();
  private readonly pins = new Map<string, number>();
  private readonly smallTarget: number;
  private readonly maxGhost: number;

  /** Bytes of resident blocks, pinned ones included; never above `capacity`. */
  bytes = 0;
  pinnedBytes = 0;
  evictions = 0;
  /** Blocks handed to `insert` but not kept because everything evictable was pinned. */
  notRetained = 0;

  constructor(
    readonly capacity: number,
    private readonly policy: MemoryPolicy,
    smallFraction: number,
    blockSize: number,
  ) {
    this.smallTarget = capacity * smallFraction;
    this.maxGhost = Math.max(16, Math.floor(capacity / blockSize));
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): MemoryEntry | undefined {
    return this.entries.get(key);
  }

  /**
   * Records a read of block-relative bytes [lo, hi) of a resident entry. Under S3-FIFO a block is
   * re-referenced only when a read covers bytes already read since it was last counted: the
   * consecutive chunks of one range walking through a block are one reference, not several.
   */
  touch(e: MemoryEntry, lo: number, hi: number): void {
    if (this.policy === 'lru') {
      if (e.linked) {
        this.main.unlink(e);
        this.main.append(e);
      }
      return;
    }
    if (e.readLo >= e.readHi) {
      e.readLo = lo;
      e.readHi = hi;
    } else if (lo < e.readHi && hi > e.readLo) {
      if (e.freq < MAX_FREQ) e.freq++;
      e.readLo = lo;
      e.readHi = hi;
    } else {
      if (lo < e.readLo) e.readLo = lo;
      if (hi > e.readHi) e.readHi = hi;
    }
  }

  /** Whether a block of `size` bytes could be kept by evicting only unpinned blocks. */
  canAdmit(size: number): boolean {
    return this.pinnedBytes + size <= this.capacity;
  }

  /**
   * Keeps a block, evicting unpinned blocks as needed; returns null (and keeps nothing) if even
   * evicting every unpinned block would not make room. `lo..hi` is what the first reader read.
   */
  insert(key: string, data: Buffer, lo: number, hi: number, prefetched: boolean): MemoryEntry | null {
    const existing = this.entries.get(key);
    if (existing) return existing;
    const size = data.length;
    if (!this.canAdmit(size)) {
      this.notRetained++;
      return null;
    }
    while (this.bytes + size > this.capacity) this.evictOne();
    let home = this.main;
    if (this.policy === 's3-fifo') {
      if (this.ghost.delete(key)) home = this.main;
      else home = this.small;
    }
    const e: MemoryEntry = { key, data, freq: 0, home, linked: false, readLo: lo, readHi: hi, prefetched, prev: null, next: null };
    this.entries.set(key, e);
    this.bytes += size;
    if (this.pins.has(key)) this.pinnedBytes += size;
    else home.append(e);
    return e;
  }

  pin(key: string): void {
    const n = this.pins.get(key) ?? 0;
    this.pins.set(key, n + 1);
    if (n > 0) return;
    const e = this.entries.get(key);
    if (e?.linked) {
      e.home.unlink(e);
      this.pinnedBytes += e.data.length;
    }
  }

  unpin(key: string): void {
    const n = this.pins.get(key);
    if (n === undefined) return;
    if (n > 1) {
      this.pins.set(key, n - 1);
      return;
    }
    this.pins.delete(key);
    const e = this.entries.get(key);
    if (e && !e.linked) {
      this.pinnedBytes -= e.data.length;
      e.home.append(e);
    }
  }

  isPinned(key: string): boolean {
    return this.pins.has(key);
  }

  /** Number of distinct blocks pinned (resident or not). */
  get pinCount(): number {
    return this.pins.size;
  }

  private evictOne(): void {
    for (;;) {
      if (this.policy === 's3-fifo' && this.small.head && (this.small.bytes >= this.smallTarget || !this.main.head)) {
        const t = this.small.head;
        this.small.unlink(t);
        if (t.freq > 0) {
          // Re-read while on probation: promote.
          this.main.append(t);
          continue;
        }
        this.drop(t);
        this.ghost.delete(t.key);
        this.ghost.set(t.key, true);
        if (this.ghost.size > this.maxGhost) {
          const oldest = this.ghost.keys().next();
          if (!oldest.done) this.ghost.delete(oldest.value);
        }
        return;
      }
      const t = this.main.head;
      if (!t) throw new Error('memory tier: nothing evictable (caller must check canAdmit)');
      this.main.unlink(t);
      if (this.policy === 's3-fifo' && t.freq > 0) {
        t.freq--;
        this.main.append(t);
        continue;
      }
      this.drop(t);
      return;
    }
  }

  private drop(e: MemoryEntry): void {
    this.entries.delete(e.key);
    this.bytes -= e.data.length;
    this.evictions++;
  }
}
