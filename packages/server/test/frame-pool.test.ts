import { describe, expect, it } from 'vitest';
import { FramePool } from '../src/marshal/index.js';

const KiB = 1024;

describe('FramePool', () => {
  it('hands a given-back slot out again, sized to the request', () => {
    const pool = new FramePool(64 * KiB, 4);
    const a = pool.take(60 * KiB);
    expect(a.length).toBe(60 * KiB);
    a.fill(1);
    pool.give(a);
    const b = pool.take(50 * KiB);
    expect(b.buffer).toBe(a.buffer);
    expect(b.length).toBe(50 * KiB);
    expect(pool.stats).toEqual({ reused: 1, allocated: 1, unpooled: 0 });
  });

  it('never lends one slot to two holders: a frame given twice, or a foreign one, is ignored', () => {
    const pool = new FramePool(64 * KiB, 4);
    const a = pool.take(64 * KiB);
    pool.give(a);
    pool.give(a);
    pool.give(Buffer.alloc(64 * KiB));
    pool.give(new Uint8Array(64 * KiB));
    expect(pool.idle).toBe(1);
    const b = pool.take(64 * KiB);
    const c = pool.take(64 * KiB);
    expect(b.buffer).toBe(a.buffer);
    expect(c.buffer).not.toBe(a.buffer);
  });

  it('keeps at most maxFree slots', () => {
    const pool = new FramePool(32 * KiB, 2);
    const frames = [0, 1, 2, 3].map(() => pool.take(32 * KiB));
    for (const f of frames) pool.give(f);
    expect(pool.idle).toBe(2);
    expect(pool.stats.allocated).toBe(4);
  });

  it('allocates frames too small or too large for a slot on their own, and never takes them back', () => {
    const pool = new FramePool(64 * KiB, 4);
    const small = pool.take(KiB);
    const big = pool.take(65 * KiB);
    expect([small.length, big.length]).toEqual([KiB, 65 * KiB]);
    pool.give(small);
    pool.give(big);
    expect(pool.idle).toBe(0);
    expect(pool.stats).toEqual({ reused: 0, allocated: 0, unpooled: 2 });
  });

  it('refuses a pool that cannot work', () => {
    expect(() => new FramePool(0, 4)).toThrow(RangeError);
    expect(() => new FramePool(KiB, -1)).toThrow(RangeError);
  });
});
