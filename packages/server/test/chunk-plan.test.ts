import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MAX_EVENTS_PER_CHUNK } from '@ess/protocol';
import { planChunks } from '../src/marshal/index.js';

describe('planChunks', () => {
  it('covers every byte once, in order, never over maxChunk, each event indexed once where it starts', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 300_000 }), { maxLength: 300 }), fc.integer({ min: 1024, max: 256 * 1024 }), (sizes, maxChunk) => {
        const entries = sizes.map((_, i) => 1000 + 2 * i);
        const chunks = planChunks(entries, sizes, maxChunk);
        const total = sizes.reduce((a, b) => a + b, 0);
        let offset = 0;
        const indexed: number[] = [];
        chunks.forEach((c, i) => {
          expect(c.seq).toBe(i);
          expect(c.offset).toBe(offset);
          expect(c.length).toBeGreaterThan(0);
          expect(c.length).toBeLessThanOrEqual(maxChunk);
          expect(c.entries.length).toBeLessThanOrEqual(MAX_EVENTS_PER_CHUNK);
          offset += c.length;
          indexed.push(...c.entries);
        });
        expect(offset).toBe(total);
        expect(indexed).toEqual(entries);
        // An event's recorded size is its real size, and it starts in the chunk that lists it.
        let start = 0;
        const starts = new Map<number, number>();
        sizes.forEach((s, i) => {
          starts.set(entries[i]!, start);
          start += s;
        });
        for (const c of chunks) {
          c.entries.forEach((e, k) => {
            const at = starts.get(e)!;
            expect(at).toBeGreaterThanOrEqual(c.offset);
            expect(at).toBeLessThan(c.offset + c.length);
            expect(c.sizes[k]).toBe(sizes[entries.indexOf(e)]);
          });
        }
      }),
    );
  });

  it('packs small events together and splits a large one over several chunks', () => {
    const chunks = planChunks([0, 1, 2, 3], [100, 100, 250, 100], 200);
    expect(chunks.map((c) => [c.offset, c.length, c.entries])).toEqual([
      [0, 200, [0, 1]],
      [200, 200, [2]],
      [400, 50, []],
      [450, 100, [3]],
    ]);
  });

  it('caps the events of one chunk', () => {
    const n = MAX_EVENTS_PER_CHUNK + 10;
    const chunks = planChunks(Array.from({ length: n }, (_, i) => i), Array(n).fill(1), 1 << 20);
    expect(chunks.map((c) => c.entries.length)).toEqual([MAX_EVENTS_PER_CHUNK, 10]);
  });

  it('refuses mismatched inputs', () => {
    expect(() => planChunks([1], [], 10)).toThrow();
    expect(() => planChunks([1], [1], 0)).toThrow();
  });
});
