/**
 * The disk tier: one checksummed file per block under a directory, an in-memory LRU index rebuilt
 * at open from the files (mtime = last access), a byte budget, and the bounded write-behind queue.
 */
import { mkdir, open, readdir, readFile, rename, rm, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { BLOCK_FILE, FIXED_HEADER, blockHash, blockRelPath, dataMatches, decodeHeader, encodeHeader, headerLength } from './BlockFile.js';

/** A block as the disk tier addresses it. */
export interface DiskBlockRef {
  readonly hash: string;
  readonly id: string;
  readonly block: number;
}

interface DiskEntry {
  readonly hash: string;
  /** Bytes of the block file, header included. */
  readonly size: number;
  /** When the file's mtime (its persisted last access) was last set, ms since the epoch. */
  touchedAt: number;
}

interface PendingWrite {
  readonly ref: DiskBlockRef;
  readonly data: Buffer;
}

export interface DiskTierOptions {
  readonly dir: string;
  readonly capacity: number;
  readonly blockSize: number;
  readonly writeQueue: number;
  readonly writeConcurrency: number;
  readonly verifyOnOpen: boolean;
  readonly touchIntervalMs: number;
  readonly log: Logger;
}

/** Files checked at once while the index is rebuilt. */
const OPEN_CONCURRENCY = 16;
const FANOUT_DIR = /^[0-9a-f]{2}$/;

export class DiskTier {
  /** Resident blocks by hash, least recently used first (Map order). */
  private readonly index = new Map<string, DiskEntry>();
  /** Blocks queued or being written, by hash: bounded by `writeQueue`. */
  private readonly pending = new Map<string, PendingWrite>();
  private readonly queue: PendingWrite[] = [];
  private running = 0;
  private readonly idleWaiters: (() => void)[] = [];
  private readonly background = new Set<Promise<unknown>>();
  private tmpSeq = 0;
  /** Fan-out directories known to exist. */
  private readonly madeDirs = new Set<string>();
  private closed = false;

  /** Bytes of block files on disk plus those being written; never above `capacity`. */
  bytes = 0;
  evictions = 0;
  /** Blocks not written because the queue was full. */
  writesSkipped = 0;
  writeErrors = 0;
  /** Block files found damaged (at open or on read) and deleted. */
  discarded = 0;

  private constructor(private readonly o: DiskTierOptions) {}

  get capacity(): number {
    return this.o.capacity;
  }

  get blockCount(): number {
    return this.index.size;
  }

  ref(id: string, block: number): DiskBlockRef {
    return { hash: blockHash(this.o.blockSize, id, block), id, block };
  }

  /** Creates the directory if needed and rebuilds the index from the block files in it. */
  static async open(o: DiskTierOptions): Promise<DiskTier> {
    const t = new DiskTier(o);
    await t.load();
    return t;
  }

  private async load(): Promise<void> {
    const started = performance.now();
    const { dir } = this.o;
    await mkdir(dir, { recursive: true });
    // Temp files are writes a crash interrupted.
    await rm(join(dir, 'tmp'), { recursive: true, force: true });
    await mkdir(join(dir, 'tmp'));
    // Fan-out directories are made on first write; only those that exist are scanned.
    const fanout = (await readdir(dir)).filter((d) => FANOUT_DIR.test(d));
    for (const d of fanout) this.madeDirs.add(d);
    const candidates: string[] = [];
    for (const d of fanout) {
      for (const name of await readdir(join(dir, d))) {
        const m = BLOCK_FILE.exec(name);
        if (m && name.startsWith(d)) candidates.push(m[1]!);
      }
    }
    const found: { hash: string; size: number; mtimeMs: number }[] = [];
    let next = 0;
    const lane = async () => {
      while (next < candidates.length) {
        const hash = candidates[next++]!;
        const checked = await this.check(hash);
        if (checked) found.push(checked);
        else {
          this.discarded++;
          await unlink(this.path(hash)).catch(() => undefined);
        }
      }
    };
    await Promise.all(Array.from({ length: OPEN_CONCURRENCY }, lane));
    found.sort((a, b) => a.mtimeMs - b.mtimeMs);
    for (const f of found) {
      this.index.set(f.hash, { hash: f.hash, size: f.size, touchedAt: f.mtimeMs });
      this.bytes += f.size;
    }
    // The budget may have shrunk since the last run.
    while (this.bytes > this.o.capacity) this.evictOldest();
    this.o.log.info(
      { dir, blocks: this.index.size, bytes: this.bytes, discarded: this.discarded, evicted: this.evictions, ms: Math.round(performance.now() - started) },
      'disk cache tier opened',
    );
  }

  /** Checks one block file: header, name, size and (if asked) the data's checksum. */
  private async check(hash: string): Promise<{ hash: string; size: number; mtimeMs: number } | null> {
    let fh;
    try {
      fh = await open(this.path(hash), 'r');
      const st = await fh.stat();
      const fixed = Buffer.alloc(FIXED_HEADER);
      if ((await fh.read(fixed, 0, FIXED_HEADER, 0)).bytesRead < FIXED_HEADER) return null;
      const hl = headerLength(fixed);
      if (hl === null || hl > st.size) return null;
      const head = Buffer.alloc(hl);
      if ((await fh.read(head, 0, hl, 0)).bytesRead < hl) return null;
      const h = decodeHeader(head);
      if (!h || h.blockSize !== this.o.blockSize || h.dataLength === 0 || h.dataLength > h.blockSize) return null;
      if (st.size !== h.headerLength + h.dataLength || blockHash(h.blockSize, h.id, h.block) !== hash) return null;
      if (this.o.verifyOnOpen) {
        const data = Buffer.allocUnsafe(h.dataLength);
        if ((await fh.read(data, 0, h.dataLength, h.headerLength)).bytesRead < h.dataLength || !dataMatches(h, data)) return null;
      }
      return { hash, size: st.size, mtimeMs: st.mtimeMs };
    } catch (e) {
      this.o.log.warn({ err: e, hash }, 'disk cache: unreadable block file');
      return null;
    } finally {
      await fh?.close().catch(() => undefined);
    }
  }

  has(hash: string): boolean {
    return this.index.has(hash) || this.pending.has(hash);
  }

  /**
   * The block's data, or null if the tier does not hold it (or held a damaged copy, now deleted).
   * A block still waiting in the write queue is served from there.
   */
  async read(ref: DiskBlockRef, length: number): Promise<Buffer | null> {
    const queued = this.pending.get(ref.hash);
    if (queued) return queued.data;
    const entry = this.index.get(ref.hash);
    if (!entry) return null;
    this.index.delete(ref.hash);
    this.index.set(ref.hash, entry);
    const path = this.path(ref.hash);
    let buf: Buffer;
    try {
      buf = await readFile(path);
    } catch (e) {
      // Evicted meanwhile, or removed behind our back.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.o.log.warn({ err: e, path }, 'disk cache: read failed');
      this.forget(entry);
      return null;
    }
    const h = decodeHeader(buf);
    const data = h ? buf.subarray(h.headerLength) : null;
    if (!h || !data || h.id !== ref.id || h.block !== ref.block || h.dataLength !== length || !dataMatches(h, data)) {
      this.o.log.warn({ path, id: ref.id, block: ref.block }, 'disk cache: damaged block file discarded');
      this.discarded++;
      if (this.forget(entry)) this.track(unlink(path));
      return null;
    }
    const now = Date.now();
    if (now - entry.touchedAt >= this.o.touchIntervalMs) {
      entry.touchedAt = now;
      this.track(utimes(path, now / 1000, now / 1000));
    }
    return data;
  }

  /** Queues a block to be written; skipped (counted) when the queue is full. Never blocks. */
  write(ref: DiskBlockRef, data: Buffer): void {
    if (this.closed || this.index.has(ref.hash) || this.pending.has(ref.hash)) return;
    if (this.pending.size >= this.o.writeQueue) {
      this.writesSkipped++;
      return;
    }
    const w = { ref, data };
    this.pending.set(ref.hash, w);
    this.queue.push(w);
    this.pump();
  }

  /** Resolves once no write is queued or running. */
  flush(): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    await Promise.all([...this.background]);
  }

  private pump(): void {
    while (this.running < this.o.writeConcurrency) {
      const w = this.queue.shift();
      if (!w) return;
      this.running++;
      void this.writeOne(w).finally(() => {
        this.running--;
        this.pending.delete(w.ref.hash);
        this.pump();
        if (this.pending.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
      });
    }
  }

  private async writeOne({ ref, data }: PendingWrite): Promise<void> {
    const header = encodeHeader(ref.id, ref.block, this.o.blockSize, data);
    const size = header.length + data.length;
    if (size > this.o.capacity) return;
    while (this.bytes + size > this.o.capacity && this.index.size > 0) this.evictOldest();
    if (this.bytes + size > this.o.capacity) return; // the rest is reserved by writes in progress
    this.bytes += size;
    const tmp = join(this.o.dir, 'tmp', `${ref.hash}.${process.pid}.${++this.tmpSeq}`);
    try {
      const fh = await open(tmp, 'w');
      try {
        const { bytesWritten } = await fh.writev([header, data]);
        if (bytesWritten !== size) throw new Error(`short write: ${bytesWritten} of ${size} bytes`);
      } finally {
        await fh.close();
      }
      const sub = ref.hash.slice(0, 2);
      if (!this.madeDirs.has(sub)) {
        await mkdir(join(this.o.dir, sub), { recursive: true });
        this.madeDirs.add(sub);
      }
      await rename(tmp, this.path(ref.hash));
      this.index.set(ref.hash, { hash: ref.hash, size, touchedAt: Date.now() });
    } catch (e) {
      this.bytes -= size;
      this.writeErrors++;
      this.o.log.warn({ err: e, id: ref.id, block: ref.block }, 'disk cache: write failed');
      await unlink(tmp).catch(() => undefined);
    }
  }

  private evictOldest(): void {
    const oldest = this.index.values().next();
    if (oldest.done) return;
    this.forget(oldest.value);
    this.evictions++;
    this.track(unlink(this.path(oldest.value.hash)));
  }

  /** Drops an entry from the index (and the budget) if it is still the current one; says whether it was. */
  private forget(entry: DiskEntry): boolean {
    if (this.index.get(entry.hash) !== entry) return false;
    this.index.delete(entry.hash);
    this.bytes -= entry.size;
    return true;
  }

  private track(p: Promise<unknown>): void {
    const q = p.catch(() => undefined);
    this.background.add(q);
    void q.finally(() => this.background.delete(q));
  }

  private path(hash: string): string {
    return join(this.o.dir, blockRelPath(hash));
  }
}
