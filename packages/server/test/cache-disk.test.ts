/**
 * The block cache's disk tier: persistence across close/open, damaged block files discarded and
 * never served, the disk budget and its LRU across restarts, the write-behind queue, hashed names.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlockCache, type BlockCacheOptions, type BlockFetcher, type CacheFile } from '../src/cache/index.js';
import { createLogger } from '../src/log.js';

const log = createLogger('silent');

/** An origin in memory whose fetcher counts its calls and can be held. */
class FakeOrigin {
  readonly file: CacheFile;
  fetches = 0;
  private gate: Promise<void> | null = null;
  private openGate: (() => void) | null = null;

  constructor(size: number, id = 'guid-1', seed = 7) {
    const b = Buffer.allocUnsafe(size);
    let x = seed;
    for (let i = 0; i < size; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      b[i] = x >>> 24;
    }
    this.data = b;
    this.file = { id, size };
  }

  readonly data: Buffer;

  hold(): void {
    this.gate = new Promise((r) => (this.openGate = r));
  }

  release(): void {
    this.openGate?.();
    this.gate = null;
  }

  readonly fetch: BlockFetcher = async (_block, offset, length) => {
    this.fetches++;
    if (this.gate) await this.gate;
    return Buffer.from(this.data.subarray(offset, offset + length));
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const HEADER = 32; // fixed block-file header; plus the id's bytes

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ess-cache-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function open(o: Partial<BlockCacheOptions> = {}): Promise<BlockCache> {
  return BlockCache.open({ blockSize: 1000, memoryBytes: 4000, diskBytes: 1 << 20, diskDir: join(dir, 'cache'), log, ...o });
}

async function readAll(c: BlockCache, origin: FakeOrigin, offset: number, length: number) {
  const into = Buffer.alloc(length);
  const receipt = await c.read(origin.file, offset, length, into, origin.fetch);
  expect(into.equals(origin.data.subarray(offset, offset + length))).toBe(true);
  return receipt;
}

/** Block files under the tier's directory, by path. */
async function blockFiles(): Promise<string[]> {
  const root = join(dir, 'cache');
  const out: string[] = [];
  for (const d of await readdir(root)) {
    if (d === 'tmp') continue;
    for (const f of await readdir(join(root, d))) out.push(join(root, d, f));
  }
  return out.sort();
}

/** Path of the file holding `block` of `origin` (found by its header's id and block fields). */
async function fileOfBlock(origin: FakeOrigin, block: number): Promise<string> {
  for (const p of await blockFiles()) {
    const b = await readFile(p);
    const idLen = b.readUInt16LE(6);
    if (b.toString('utf8', HEADER, HEADER + idLen) === origin.file.id && b.readDoubleLE(16) === block) return p;
  }
  throw new Error(`no file for block ${block}`);
}

const disk = (c: BlockCache) => c.stats().tiers[1]!;

describe('BlockCache (disk tier)', () => {
  it('survives close/open: a new cache over the same directory serves without fetching', async () => {
    const origin = new FakeOrigin(10_500);
    const c1 = await open();
    expect(await readAll(c1, origin, 0, 10_500)).toEqual({ hitBytes: 0, missBytes: 10_500 });
    expect(origin.fetches).toBe(11);
    await c1.close(); // flushes the write-behind queue
    expect(await blockFiles()).toHaveLength(11);

    const c2 = await open();
    expect(disk(c2)).toMatchObject({ bytes: 11 * (HEADER + origin.file.id.length) + 10_500, evictions: 0 });
    origin.fetches = 0;
    expect(await readAll(c2, origin, 0, 10_500)).toEqual({ hitBytes: 10_500, missBytes: 0 });
    expect(origin.fetches).toBe(0);
    expect(disk(c2)).toMatchObject({ hits: 11, misses: 0, hitBytes: 10_500 });
    // Promoted into memory: the next read of the last blocks is a memory hit.
    const memHits = c2.stats().tiers[0]!.hits;
    await readAll(c2, origin, 9000, 1500);
    expect(c2.stats().tiers[0]!.hits).toBe(memHits + 2);
    await c2.close();
  });

  it('concurrent readers of a block on disk share one disk read', async () => {
    const origin = new FakeOrigin(3000);
    const c1 = await open();
    await readAll(c1, origin, 0, 3000);
    await c1.close();
    const c2 = await open();
    const receipts = await Promise.all(Array.from({ length: 16 }, () => readAll(c2, origin, 500, 1000)));
    for (const r of receipts) expect(r).toEqual({ hitBytes: 1000, missBytes: 0 });
    expect(disk(c2)).toMatchObject({ hits: 2, misses: 0 });
    expect(c2.stats().coalesced).toBe(30);
    expect(origin.fetches).toBe(3);
    await c2.close();
  });

  it('discards corrupt, truncated and foreign block files and interrupted writes at open, and never serves them', async () => {
    const origin = new FakeOrigin(6000);
    const c1 = await open();
    await readAll(c1, origin, 0, 6000);
    await c1.close();
    const flipped = await fileOfBlock(origin, 0);
    const b = await readFile(flipped);
    b[b.length - 10]! ^= 0x40;
    await writeFile(flipped, b);
    await truncate(await fileOfBlock(origin, 1), 500);
    await truncate(await fileOfBlock(origin, 2), 10); // not even a header
    const header = await fileOfBlock(origin, 3);
    const h = await readFile(header);
    h[20]! ^= 1; // the block number: header CRC fails
    await writeFile(header, h);
    await writeFile(join(dir, 'cache', 'tmp', 'left-over.tmp'), 'partial');

    const c2 = await open();
    expect(c2.diagnostics().diskDiscarded).toBe(4);
    expect(await blockFiles()).toHaveLength(2);
    expect(await readdir(join(dir, 'cache', 'tmp'))).toEqual([]);
    origin.fetches = 0;
    expect(await readAll(c2, origin, 0, 6000)).toEqual({ hitBytes: 2000, missBytes: 4000 });
    expect(origin.fetches).toBe(4);
    await c2.close();
  });

  it('with verification at open off, a corrupt block is caught by its checksum when read, deleted and refetched', async () => {
    const origin = new FakeOrigin(2000);
    const c1 = await open({ diskVerifyOnOpen: false });
    await readAll(c1, origin, 0, 2000);
    await c1.close();
    const p = await fileOfBlock(origin, 1);
    const b = await readFile(p);
    b[b.length - 1]! ^= 0xff;
    await writeFile(p, b);

    const c2 = await open({ diskVerifyOnOpen: false });
    expect(c2.diagnostics().diskDiscarded).toBe(0);
    origin.fetches = 0;
    expect(await readAll(c2, origin, 0, 2000)).toEqual({ hitBytes: 1000, missBytes: 1000 });
    expect(origin.fetches).toBe(1);
    expect(c2.diagnostics().diskDiscarded).toBe(1);
    await c2.close();
    // Refetched and written again, good this time.
    const c3 = await open();
    expect(c3.diagnostics().diskDiscarded).toBe(0);
    expect(await readAll(c3, origin, 0, 2000)).toEqual({ hitBytes: 2000, missBytes: 0 });
    await c3.close();
  });

  it('keeps the disk within its budget, evicting the least recently used blocks', async () => {
    const origin = new FakeOrigin(20_000);
    const perBlock = HEADER + origin.file.id.length + 1000;
    const c = await open({ diskBytes: 5 * perBlock + 100, memoryBytes: 1000 });
    for (let b = 0; b < 20; b++) {
      await readAll(c, origin, b * 1000, 1000);
      await c.flush();
      expect(disk(c).bytes).toBeLessThanOrEqual(disk(c).capacity);
    }
    expect(disk(c)).toMatchObject({ bytes: 5 * perBlock, evictions: 15 });
    await c.close();
    const files = await blockFiles();
    expect(files).toHaveLength(5);
    let total = 0;
    for (const f of files) total += (await stat(f)).size;
    expect(total).toBe(5 * perBlock);
  });

  it('the LRU order survives a restart (mtime is the persisted last access)', async () => {
    const origin = new FakeOrigin(6000);
    const perBlock = HEADER + origin.file.id.length + 1000;
    const o = { diskBytes: 5 * perBlock, memoryBytes: 1000, diskTouchIntervalMs: 0 };
    const c1 = await open(o);
    for (let b = 0; b < 5; b++) await readAll(c1, origin, b * 1000, 1000);
    await c1.close();
    await sleep(20);
    const c2 = await open(o);
    await readAll(c2, origin, 0, 1000); // a disk hit: block 0 becomes the most recent
    await c2.close();
    const c3 = await open(o);
    await readAll(c3, origin, 5000, 1000); // needs room: evicts the oldest, not block 0
    await c3.close();
    const c4 = await open(o);
    origin.fetches = 0;
    await readAll(c4, origin, 0, 1000);
    expect(origin.fetches).toBe(0);
    await c4.close();
  });

  it('a budget shrunk since the last run is enforced at open', async () => {
    const origin = new FakeOrigin(8000);
    const perBlock = HEADER + origin.file.id.length + 1000;
    const c1 = await open();
    await readAll(c1, origin, 0, 8000);
    await c1.close();
    const c2 = await open({ diskBytes: 3 * perBlock });
    expect(disk(c2)).toMatchObject({ bytes: 3 * perBlock, evictions: 5 });
    await c2.close();
    expect(await blockFiles()).toHaveLength(3);
  });

  it('a full write queue skips caching on disk rather than wait; reads never wait for writes', async () => {
    const origin = new FakeOrigin(40_000);
    const c = await open({ diskWriteQueue: 1, memoryBytes: 40_000 });
    expect(await readAll(c, origin, 0, 40_000)).toEqual({ hitBytes: 0, missBytes: 40_000 });
    await c.flush();
    const d = c.diagnostics();
    expect(d.diskWritesSkipped).toBeGreaterThan(0);
    expect((await blockFiles()).length).toBe(40 - d.diskWritesSkipped);
    await c.close();
  });

  it('a block waiting in the write queue is served from it, not fetched again', async () => {
    const origin = new FakeOrigin(2000);
    const c = await open({ memoryBytes: 0 }); // nothing retained in memory
    await readAll(c, origin, 0, 1000);
    expect(await readAll(c, origin, 0, 1000)).toEqual({ hitBytes: 1000, missBytes: 0 });
    expect(origin.fetches).toBe(1);
    await c.close();
  });

  it('any file id is safe: names are hashed, and the header id is checked on read', async () => {
    const ids = ['../../etc/passwd', '/abs/path', 'C:\\x', '\0nul', 'ünï©ødé 文件', 'a'.repeat(2000)];
    const c1 = await open({ memoryBytes: 0 });
    for (const id of ids) await readAll(c1, new FakeOrigin(1500, id, id.length), 0, 1500);
    await c1.close();
    const files = await blockFiles();
    expect(files).toHaveLength(ids.length * 2);
    for (const f of files) expect(f).toMatch(/\/cache\/[0-9a-f]{2}\/[0-9a-f]{40}\.blk$/);
    const c2 = await open({ memoryBytes: 0 });
    for (const id of ids) {
      const origin = new FakeOrigin(1500, id, id.length);
      expect(await readAll(c2, origin, 0, 1500)).toEqual({ hitBytes: 1500, missBytes: 0 });
      expect(origin.fetches).toBe(0);
    }
    await c2.close();
  });

  it('a changed block size starts the tier afresh', async () => {
    const origin = new FakeOrigin(4000);
    const c1 = await open({ blockSize: 1000 });
    await readAll(c1, origin, 0, 4000);
    await c1.close();
    const c2 = await open({ blockSize: 2000 });
    expect(c2.diagnostics().diskDiscarded).toBe(4);
    expect(await readAll(c2, origin, 0, 4000)).toEqual({ hitBytes: 0, missBytes: 4000 });
    await c2.close();
  });

  it('diskDir null or diskBytes 0 disables the tier', async () => {
    const origin = new FakeOrigin(3000);
    for (const o of [{ diskDir: null }, { diskBytes: 0 }]) {
      const c = await open({ ...o, memoryBytes: 0 });
      await readAll(c, origin, 0, 3000);
      await readAll(c, origin, 0, 3000);
      expect(disk(c)).toMatchObject({ hits: 0, misses: 6, bytes: 0, capacity: 0 });
      await c.close();
    }
    expect(existsSync(join(dir, 'cache'))).toBe(false);
    expect(origin.fetches).toBe(6 * 2);
  });

  it('prefetch from the disk tier warms memory without fetching', async () => {
    const origin = new FakeOrigin(5000);
    const c1 = await open();
    await readAll(c1, origin, 0, 5000);
    await c1.close();
    const c2 = await open({ memoryBytes: 5000 });
    origin.fetches = 0;
    const h = c2.prefetch(origin.file, 0, 5000, origin.fetch);
    expect(await h.done).toEqual({ bytes: 2000 }); // prefetchMaxBytes defaults to half the memory tier
    expect(c2.stats().prefetch).toMatchObject({ issued: 2, bytes: 2000 });
    expect(disk(c2).hits).toBe(2);
    expect(await readAll(c2, origin, 0, 2000)).toEqual({ hitBytes: 2000, missBytes: 0 });
    expect(c2.stats().tiers[0]!.hits).toBe(2);
    expect(origin.fetches).toBe(0);
    h.release();
    await c2.close();
  });

  it('property: random reads across restarts with small budgets return the origin bytes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          blockSize: fc.integer({ min: 16, max: 400 }),
          size: fc.integer({ min: 1, max: 4000 }),
          memBlocks: fc.integer({ min: 0, max: 6 }),
          diskBlocks: fc.integer({ min: 0, max: 12 }),
          rounds: fc.array(fc.array(fc.tuple(fc.nat(4000), fc.nat(4000)), { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 3 }),
        }),
        async (p) => {
          const sub = await mkdtemp(join(dir, 'p-'));
          const origin = new FakeOrigin(p.size, 'prop', p.size);
          const o = { blockSize: p.blockSize, memoryBytes: p.memBlocks * p.blockSize, diskBytes: p.diskBlocks * (p.blockSize + HEADER + 4), diskDir: sub };
          for (const round of p.rounds) {
            const c = await open(o);
            await Promise.all(
              round.map(async ([a, b]) => {
                const offset = a % p.size;
                const len = b % (p.size - offset + 1);
                const r = await readAll(c, origin, offset, len);
                expect(r.hitBytes + r.missBytes).toBe(len);
              }),
            );
            const s = c.stats();
            expect(s.tiers[1]!.bytes).toBeLessThanOrEqual(s.tiers[1]!.capacity);
            expect(s.tiers[0]!.bytes).toBeLessThanOrEqual(s.tiers[0]!.capacity);
            await c.close();
          }
          await rm(sub, { recursive: true, force: true });
        },
      ),
      { numRuns: 25 },
    );
  });
});
