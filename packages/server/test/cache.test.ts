/**
 * The block cache without its disk tier: exact bytes for any reads, one fetch per block however
 * many readers, the memory budget, S3-FIFO's scan resistance against LRU, pins, prefetch, failures.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BlockCache, type BlockCacheOptions, type BlockFetcher, type CacheFile } from '../src/cache/index.js';
import { createLogger } from '../src/log.js';

const log = createLogger('silent');

/** An origin in memory whose fetcher counts calls per block and can be slowed, held or made to fail. */
class FakeOrigin {
  readonly file: CacheFile;
  readonly calls = new Map<number, number>();
  fetches = 0;
  delayMs = 0;
  failing = new Set<number>();
  private gate: Promise<void> | null = null;
  private openGate: (() => void) | null = null;

  constructor(
    readonly data: Buffer,
    id = 'file-1',
  ) {
    this.file = { id, size: data.length };
  }

  static random(size: number, id?: string, seed = size): FakeOrigin {
    const b = Buffer.allocUnsafe(size);
    let x = seed * 2654435761 + 1;
    for (let i = 0; i < size; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      b[i] = x >>> 24;
    }
    return new FakeOrigin(b, id);
  }

  /** Fetches wait until `release()`. */
  hold(): void {
    this.gate = new Promise((r) => (this.openGate = r));
  }

  release(): void {
    this.openGate?.();
    this.gate = null;
  }

  readonly fetch: BlockFetcher = async (block, offset, length) => {
    this.fetches++;
    this.calls.set(block, (this.calls.get(block) ?? 0) + 1);
    if (this.gate) await this.gate;
    if (this.delayMs) await sleep(this.delayMs);
    if (this.failing.has(block)) throw new Error(`origin failed block ${block}`);
    return Buffer.from(this.data.subarray(offset, offset + length));
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function open(o: Partial<BlockCacheOptions> & { blockSize: number; memoryBytes: number }): Promise<BlockCache> {
  return BlockCache.open({ diskBytes: 0, diskDir: null, log, ...o });
}

async function readAll(c: BlockCache, origin: FakeOrigin, offset: number, length: number) {
  const into = Buffer.alloc(length);
  const receipt = await c.read(origin.file, offset, length, into, origin.fetch);
  expect(into.equals(origin.data.subarray(offset, offset + length))).toBe(true);
  return receipt;
}

const tier = (c: BlockCache, name: 'memory' | 'disk') => c.stats().tiers.find((t) => t.tier === name)!;

/** Reads `blocks` of `origin` in `chunk`-byte reads, one pass (the way a range streams). */
async function pass(c: BlockCache, origin: FakeOrigin, fromBlock: number, blocks: number, chunk: number): Promise<void> {
  const start = fromBlock * c.blockSize;
  const end = Math.min(origin.data.length, start + blocks * c.blockSize);
  for (let at = start; at < end; at += chunk) await readAll(c, origin, at, Math.min(chunk, end - at));
}

describe('BlockCache (memory tier)', () => {
  it('property: random reads, concurrent, any block size and budget, return the origin bytes and keep the books', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          blockSize: fc.integer({ min: 1, max: 300 }),
          size: fc.integer({ min: 1, max: 5000 }),
          budgetBlocks: fc.integer({ min: 0, max: 12 }),
          policy: fc.constantFrom('s3-fifo' as const, 'lru' as const),
          readConcurrency: fc.integer({ min: 1, max: 8 }),
          batches: fc.array(fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })), { minLength: 1, maxLength: 8 }), {
            minLength: 1,
            maxLength: 6,
          }),
        }),
        async (p) => {
          const origin = FakeOrigin.random(p.size);
          origin.delayMs = p.size % 3; // sometimes a tick, sometimes a little longer
          const c = await open({ blockSize: p.blockSize, memoryBytes: p.budgetBlocks * p.blockSize + (p.size % 7), memoryPolicy: p.policy, readConcurrency: p.readConcurrency });
          let blockReads = 0;
          let length = 0;
          let hitBytes = 0;
          for (const batch of p.batches) {
            await Promise.all(
              batch.map(async ([a, b]) => {
                const offset = Math.floor(a * p.size);
                const len = Math.floor(b * (p.size - offset));
                const r = await readAll(c, origin, offset, len);
                expect(r.hitBytes + r.missBytes).toBe(len);
                if (len > 0) blockReads += Math.floor((offset + len - 1) / p.blockSize) - Math.floor(offset / p.blockSize) + 1;
                length += len;
                hitBytes += r.hitBytes;
                const m = tier(c, 'memory');
                expect(m.bytes).toBeLessThanOrEqual(m.capacity);
              }),
            );
          }
          const s = c.stats();
          const [m, d] = [tier(c, 'memory'), tier(c, 'disk')];
          expect(m.hits + m.misses).toBe(blockReads);
          // Every memory miss joined a load or started one; every load is one disk lookup (the tier is off: a miss).
          expect(m.misses).toBe(s.coalesced + d.hits + d.misses);
          expect(d.misses).toBe(origin.fetches);
          expect(m.hitBytes + d.hitBytes).toBe(hitBytes);
          expect(c.diagnostics().loadsInFlight).toBe(0);
          await c.close();
        },
      ),
      { numRuns: 150 },
    );
  });

  it('property: with pins and prefetches mixed in, pinned data stays resident and the budget holds', async () => {
    type Op = { kind: 'read' | 'pin' | 'prefetch' | 'release'; a: number; b: number };
    const op = fc.record({ kind: fc.constantFrom('read' as const, 'read' as const, 'pin' as const, 'prefetch' as const, 'release' as const), a: fc.nat(), b: fc.nat() });
    await fc.assert(
      fc.asyncProperty(
        fc.record({ blockSize: fc.integer({ min: 1, max: 200 }), size: fc.integer({ min: 1, max: 3000 }), budgetBlocks: fc.integer({ min: 1, max: 16 }), ops: fc.array(op, { minLength: 1, maxLength: 40 }) }),
        async (p) => {
          const origin = FakeOrigin.random(p.size);
          const c = await open({ blockSize: p.blockSize, memoryBytes: p.budgetBlocks * p.blockSize });
          const refuse: BlockFetcher = async (block) => {
            throw new Error(`block ${block} should be resident`);
          };
          /** Spans that must read as all hits while their handle is held. */
          const held: { offset: number; length: number; release: () => void; resident: boolean }[] = [];
          const span = (o: Op) => {
            const offset = o.a % p.size;
            return { offset, length: o.b % Math.min(p.size - offset + 1, 4 * p.blockSize) };
          };
          for (const o of p.ops as Op[]) {
            const { offset, length } = span(o);
            if (o.kind === 'read') await readAll(c, origin, offset, length);
            else if (o.kind === 'pin') {
              const pin = c.pin(origin.file, offset, length);
              await readAll(c, origin, offset, length);
              // Served, but retained only if the pinned blocks fit beside the others already pinned.
              const r = await c.read(origin.file, offset, length, Buffer.alloc(length), refuse).catch(() => null);
              held.push({ offset, length, release: () => pin.release(), resident: r !== null });
            } else if (o.kind === 'prefetch') {
              const h = c.prefetch(origin.file, offset, length, origin.fetch);
              const { bytes } = await h.done;
              expect(bytes).toBeLessThanOrEqual(length);
              held.push({ offset, length, release: () => h.release(), resident: bytes === length });
            } else held.splice(o.a % (held.length + 1), 1)[0]?.release();
            const m = tier(c, 'memory');
            expect(m.bytes).toBeLessThanOrEqual(m.capacity);
            for (const x of held) {
              if (!x.resident) continue;
              const into = Buffer.alloc(x.length);
              expect(await c.read(origin.file, x.offset, x.length, into, refuse)).toEqual({ hitBytes: x.length, missBytes: 0 });
              expect(into.equals(origin.data.subarray(x.offset, x.offset + x.length))).toBe(true);
            }
          }
          for (const x of held) x.release();
          expect(c.diagnostics()).toMatchObject({ pinnedBlocks: 0, memoryPinnedBytes: 0, prefetchReservedBytes: 0 });
          await c.close();
        },
      ),
      { numRuns: 150 },
    );
  });

  it('16 concurrent readers of one span cost one fetch per block', async () => {
    const origin = FakeOrigin.random(10 * 1000);
    const c = await open({ blockSize: 1000, memoryBytes: 64 * 1000 });
    origin.hold();
    const readers = Array.from({ length: 16 }, () => readAll(c, origin, 1500, 6000)); // blocks 1..7
    await sleep(5);
    origin.release();
    const receipts = await Promise.all(readers);
    expect([...origin.calls.entries()].sort((a, b) => a[0] - b[0])).toEqual([1, 2, 3, 4, 5, 6, 7].map((b) => [b, 1]));
    expect(c.stats().coalesced).toBe(15 * 7);
    // Everyone waited for the origin: all of it was a miss for all of them.
    for (const r of receipts) expect(r).toEqual({ hitBytes: 0, missBytes: 6000 });
    // Now it is resident: a 17th reader is all hits.
    expect(await readAll(c, origin, 1500, 6000)).toEqual({ hitBytes: 6000, missBytes: 0 });
    expect(origin.fetches).toBe(7);
    await c.close();
  });

  it('a read spanning many blocks loads the missing ones concurrently, at most readConcurrency at once', async () => {
    const origin = FakeOrigin.random(40 * 100);
    let running = 0;
    let peak = 0;
    const fetch: BlockFetcher = async (block, offset, length) => {
      peak = Math.max(peak, ++running);
      await sleep(2);
      running--;
      return origin.fetch(block, offset, length);
    };
    const c = await open({ blockSize: 100, memoryBytes: 100 * 100, readConcurrency: 8 });
    const into = Buffer.alloc(4000);
    await c.read(origin.file, 0, 4000, into, fetch);
    expect(into.equals(origin.data)).toBe(true);
    expect(peak).toBe(8);
    await c.close();
  });

  it('scan resistance: a working set survives a one-off scan larger than the cache under S3-FIFO, not under LRU', async () => {
    const bs = 1024;
    const hot = FakeOrigin.random(16 * bs, 'hot');
    const scan = FakeOrigin.random(256 * bs, 'scan');
    const result: Record<string, { hits: number; fetches: number }> = {};
    for (const policy of ['s3-fifo', 'lru'] as const) {
      const c = await open({ blockSize: bs, memoryBytes: 64 * bs, memoryPolicy: policy });
      hot.fetches = 0;
      // Three tasks over the popular data, each one pass in chunks (300 B: not aligned to blocks).
      for (let task = 0; task < 3; task++) await pass(c, hot, 0, 16, 300);
      // A one-off task over 4x the cache.
      await pass(c, scan, 0, 256, 256);
      const before = { hits: tier(c, 'memory').hits, fetches: hot.fetches };
      await pass(c, hot, 0, 16, 1024);
      result[policy] = { hits: tier(c, 'memory').hits - before.hits, fetches: hot.fetches - before.fetches };
      await c.close();
    }
    // 16 block reads in the last pass: all hits with S3-FIFO, none with LRU.
    expect(result).toEqual({ 's3-fifo': { hits: 16, fetches: 0 }, lru: { hits: 0, fetches: 16 } });
  });

  it('a loop over more data than the cache: LRU refetches everything every pass, S3-FIFO keeps part of it', async () => {
    const bs = 1000;
    const origin = FakeOrigin.random(12 * bs);
    const perPass: Record<string, number[]> = {};
    for (const policy of ['s3-fifo', 'lru'] as const) {
      const c = await open({ blockSize: bs, memoryBytes: 8 * bs, memoryPolicy: policy });
      perPass[policy] = [];
      for (let i = 0; i < 6; i++) {
        const before = origin.fetches;
        await pass(c, origin, 0, 12, 250); // chunked: one reference per block per pass
        perPass[policy].push(origin.fetches - before);
        expect(tier(c, 'memory').bytes).toBeLessThanOrEqual(8 * bs);
      }
      await c.close();
    }
    expect(perPass['lru']).toEqual([12, 12, 12, 12, 12, 12]);
    // First two passes: all misses (the second finds them in the ghost and sends them to main),
    // then main keeps a good part of the loop.
    const s3 = perPass['s3-fifo']!;
    expect(s3.slice(0, 2)).toEqual([12, 12]);
    expect(s3.slice(2).reduce((a, b) => a + b)).toBeLessThanOrEqual(0.75 * 4 * 12);
  });

  it('pinned blocks are never evicted; when everything is pinned new blocks are served but not retained', async () => {
    const bs = 100;
    const a = FakeOrigin.random(4 * bs, 'a');
    const b = FakeOrigin.random(50 * bs, 'b');
    const c = await open({ blockSize: bs, memoryBytes: 4 * bs });
    const pin = c.pin(a.file, 0, 4 * bs); // pinned before the data arrives
    await readAll(c, a, 0, 4 * bs);
    for (let i = 0; i < 5; i++) await pass(c, b, 0, 50, 60);
    expect(tier(c, 'memory').bytes).toBe(4 * bs);
    expect(c.diagnostics().memoryNotRetained).toBeGreaterThan(0);
    a.fetches = 0;
    expect(await readAll(c, a, 0, 4 * bs)).toEqual({ hitBytes: 4 * bs, missBytes: 0 });
    expect(a.fetches).toBe(0);
    // Prefetch declines rather than evict a pinned block.
    const h = c.prefetch(b.file, 0, 3 * bs, b.fetch);
    expect(await h.done).toEqual({ bytes: 0 });
    h.release();
    pin.release();
    expect(c.diagnostics().pinnedBlocks).toBe(0);
    // Unpinned, they are ordinary blocks again and can go.
    await pass(c, b, 0, 50, 100);
    expect(c.stats().tiers[0]!.evictions).toBeGreaterThan(0);
    a.fetches = 0;
    await readAll(c, a, 0, 4 * bs);
    expect(a.fetches).toBeGreaterThan(0);
    await c.close();
  });

  it('prefetch warms and pins a span; reading it is all hits and counts as used', async () => {
    const bs = 1000;
    const origin = FakeOrigin.random(20 * bs + 123);
    const c = await open({ blockSize: bs, memoryBytes: 10 * bs, prefetchMaxBytes: 8 * bs });
    const h = c.prefetch(origin.file, 2500, 5000, origin.fetch); // blocks 2..7
    expect(c.stats().prefetch.inFlight).toBeGreaterThan(0);
    expect(await h.done).toEqual({ bytes: 5000 });
    expect(origin.fetches).toBe(6);
    expect(c.stats().prefetch).toEqual({ issued: 6, bytes: 6 * bs, used: 0, inFlight: 0 });
    // Other traffic cannot push the prefetched blocks out (the cache holds 10 blocks).
    const other = FakeOrigin.random(30 * bs, 'other');
    await pass(c, other, 0, 30, bs);
    expect(await readAll(c, origin, 2500, 5000)).toEqual({ hitBytes: 5000, missBytes: 0 });
    expect(origin.fetches).toBe(6);
    expect(c.stats().prefetch.used).toBe(6);
    // Read again: not "used" twice.
    await readAll(c, origin, 2500, 5000);
    expect(c.stats().prefetch.used).toBe(6);
    h.release();
    expect(c.diagnostics().pinnedBlocks).toBe(0);
    expect(c.diagnostics().prefetchReservedBytes).toBe(0);
    await c.close();
  });

  it('prefetch respects its byte budget and concurrency, and says how much it warmed', async () => {
    const bs = 100;
    const origin = FakeOrigin.random(50 * bs);
    let running = 0;
    let peak = 0;
    const fetch: BlockFetcher = async (block, offset, length) => {
      peak = Math.max(peak, ++running);
      await sleep(2);
      running--;
      return origin.fetch(block, offset, length);
    };
    const c = await open({ blockSize: bs, memoryBytes: 40 * bs, prefetchMaxBytes: 10 * bs, prefetchConcurrency: 3 });
    const h1 = c.prefetch(origin.file, 0, 8 * bs, fetch);
    const h2 = c.prefetch(origin.file, 8 * bs, 8 * bs, fetch); // only 2 blocks left in the budget
    expect(await h1.done).toEqual({ bytes: 8 * bs });
    expect(await h2.done).toEqual({ bytes: 2 * bs });
    expect(peak).toBe(3);
    expect(origin.fetches).toBe(10);
    h1.release();
    const h3 = c.prefetch(origin.file, 10 * bs, 8 * bs, fetch);
    expect(await h3.done).toEqual({ bytes: 8 * bs });
    h2.release();
    h3.release();
    await c.close();
  });

  it('a read joining a prefetch in flight shares its fetch', async () => {
    const bs = 100;
    const origin = FakeOrigin.random(10 * bs);
    const c = await open({ blockSize: bs, memoryBytes: 10 * bs });
    origin.hold();
    const h = c.prefetch(origin.file, 0, 4 * bs, origin.fetch);
    const r = readAll(c, origin, 0, 4 * bs);
    await sleep(5);
    origin.release();
    expect(await r).toEqual({ hitBytes: 0, missBytes: 4 * bs });
    expect(await h.done).toEqual({ bytes: 4 * bs });
    expect(origin.fetches).toBe(4);
    expect(c.stats().coalesced).toBe(4);
    expect(c.stats().prefetch.used).toBe(0); // it arrived too late to be a hit
    h.release();
    await c.close();
  });

  it('prefetch pins expire after their TTL', async () => {
    const bs = 100;
    const origin = FakeOrigin.random(10 * bs);
    const other = FakeOrigin.random(20 * bs, 'other');
    const c = await open({ blockSize: bs, memoryBytes: 4 * bs, prefetchMaxBytes: 4 * bs });
    const h = c.prefetch(origin.file, 0, 4 * bs, origin.fetch, { ttlMs: 40 });
    expect(await h.done).toEqual({ bytes: 4 * bs });
    await pass(c, other, 0, 20, bs);
    expect(c.diagnostics().memoryNotRetained).toBe(20); // all pinned
    await sleep(60);
    expect(c.diagnostics().pinnedBlocks).toBe(0);
    expect(c.diagnostics().prefetchReservedBytes).toBe(0);
    await pass(c, other, 0, 20, bs);
    expect(tier(c, 'memory').evictions).toBeGreaterThan(0);
    h.release(); // harmless after expiry
    await c.close();
  });

  it('a failed fetch fails every waiter, caches nothing, and the next read tries again', async () => {
    const bs = 100;
    const origin = FakeOrigin.random(10 * bs);
    const c = await open({ blockSize: bs, memoryBytes: 10 * bs });
    origin.failing.add(2);
    origin.hold();
    const readers = Array.from({ length: 16 }, () => c.read(origin.file, 150, 300, Buffer.alloc(300), origin.fetch)); // blocks 1..4
    const prefetch = c.prefetch(origin.file, 200, 100, origin.fetch);
    await sleep(5);
    origin.release();
    const settled = await Promise.allSettled(readers);
    for (const s of settled) {
      expect(s.status).toBe('rejected');
      expect((s as PromiseRejectedResult).reason.message).toBe('origin failed block 2');
    }
    expect(origin.calls.get(2)).toBe(1);
    expect(await prefetch.done).toEqual({ bytes: 0 });
    expect(c.diagnostics()).toMatchObject({ loadsInFlight: 0, fetchErrors: 1, pinnedBlocks: 0 });
    origin.failing.clear();
    expect(await readAll(c, origin, 150, 300)).toEqual({ hitBytes: 200, missBytes: 100 }); // block 2 is 100 of the 300 bytes
    expect(origin.calls.get(2)).toBe(2);
    await c.close();
  });

  it('rejects a fetcher that returns the wrong length, and spans outside the file', async () => {
    const origin = FakeOrigin.random(1000);
    const c = await open({ blockSize: 100, memoryBytes: 1000 });
    const short: BlockFetcher = async () => Buffer.alloc(10);
    await expect(c.read(origin.file, 0, 50, Buffer.alloc(50), short)).rejects.toThrow(/returned 10 bytes for block 0/);
    await expect(c.read(origin.file, 990, 20, Buffer.alloc(20), origin.fetch)).rejects.toThrow(RangeError);
    await expect(c.read(origin.file, 0, 20, Buffer.alloc(10), origin.fetch)).rejects.toThrow(RangeError);
    expect(() => c.prefetch(origin.file, -1, 5, origin.fetch)).toThrow(RangeError);
    expect(await c.read(origin.file, 1000, 0, Buffer.alloc(0), origin.fetch)).toEqual({ hitBytes: 0, missBytes: 0 });
    await c.close();
    await expect(c.read(origin.file, 0, 1, Buffer.alloc(1), origin.fetch)).rejects.toThrow(/closed/);
  });

  it('stats add up over a mixed workload', async () => {
    const bs = 100;
    const origin = FakeOrigin.random(30 * bs + 7);
    const c = await open({ blockSize: bs, memoryBytes: 8 * bs });
    const h = c.prefetch(origin.file, 0, 3 * bs, origin.fetch);
    await h.done;
    await readAll(c, origin, 0, 3 * bs); // 3 hits, used 3
    await Promise.all(Array.from({ length: 4 }, () => readAll(c, origin, 1000, 250))); // blocks 10..12: 3 loads, 9 joins
    await readAll(c, origin, 2950, 57); // blocks 29, 30 (the last, 7 bytes)
    h.release();
    const s = c.stats();
    const [m, d] = [s.tiers[0]!, s.tiers[1]!];
    expect(s.blockSize).toBe(bs);
    expect(m).toMatchObject({ tier: 'memory', hits: 3, misses: 14, hitBytes: 300, capacity: 8 * bs });
    expect(s.coalesced).toBe(9);
    expect(d).toMatchObject({ tier: 'disk', hits: 0, misses: 3 + 3 + 2, hitBytes: 0, bytes: 0, capacity: 0 });
    expect(s.prefetch).toEqual({ issued: 3, bytes: 300, used: 3, inFlight: 0 });
    expect(m.bytes).toBe(7 * bs + 7); // blocks 0-2, 10-12, 29 and the 7-byte block 30
    expect(origin.fetches).toBe(d.misses);
    expect(c.diagnostics().fetchedBytes).toBe(3 * 100 + 3 * 100 + 100 + 7);
    await c.close();
  });
});
