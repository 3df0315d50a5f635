// Writer -> reader round trips: both writer paths, big events, big footers, explicit entries,
// spans, and cross-decoding of every record and footer with an independent MessagePack library.
import { packStandard as encodeMsgpack, unpackStandard as decodeMsgpack } from '@ess/protocol';
import { readFile, stat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { decode as msgpackDecode, decodeMulti } from '@msgpack/msgpack';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DATA_START,
  EventFile,
  EventFileWriter,
  TRAILER_SIZE,
  decodeEvents,
  openEventFile,
  openFileByteSource,
} from '../src/index.js';
import { makeTempDir, memorySource, normalize, testRng } from './helpers.js';

const info = { dataset: 'user.t:roundtrip', lfn: 'roundtrip._000001.ess', guid: '11111111-2222-4333-8444-555555555555', meta: { note: 'test', n: 3 } };

let tmp: { dir: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  tmp = await makeTempDir();
});
afterEach(async () => {
  await tmp.cleanup();
});

/** A valid record (a MessagePack map) of about `size` bytes. */
function makeRecord(entry: number, size: number, rnd: () => number): Buffer {
  const blob = Buffer.alloc(Math.max(0, size - 30));
  for (let i = 0; i < blob.length; i += 97) blob[i] = Math.floor(rnd() * 256);
  return encodeMsgpack({ entry, x: rnd(), tag: `e${entry}`, blob });
}

interface Plan {
  entries: number[];
  sizes: number[];
  ids: boolean;
  cuts: number[];
  seed: number;
}

const planArb: fc.Arbitrary<Plan> = fc
  .record({
    n: fc.integer({ min: 0, max: 40 }),
    contiguous: fc.boolean(),
    start: fc.integer({ min: 0, max: 1_000_000 }),
    big: fc.boolean(),
    ids: fc.boolean(),
    seed: fc.integer(),
  })
  .chain(({ n, contiguous, start, big, ids, seed }) =>
    fc.record({
      gaps: fc.array(fc.integer({ min: 1, max: contiguous ? 1 : 50 }), { minLength: n, maxLength: n }),
      sizes: fc.array(big ? fc.oneof(fc.integer({ min: 30, max: 2000 }), fc.integer({ min: 60_000, max: 200_000 })) : fc.integer({ min: 30, max: 5000 }), {
        minLength: n,
        maxLength: n,
      }),
      cuts: fc.array(fc.integer({ min: 1, max: 150_000 }), { maxLength: 60 }),
      start: fc.constant(start),
      ids: fc.constant(ids),
      seed: fc.constant(seed),
    }),
  )
  .map(({ gaps, sizes, cuts, start, ids, seed }) => {
    const entries: number[] = [];
    let at = start - 1;
    for (const g of gaps) entries.push((at += g));
    return { entries, sizes, ids, cuts, seed };
  });

async function checkFile(path: string, records: Buffer[], entries: number[], ids: boolean, rnd: () => number): Promise<void> {
  const whole = await readFile(path);
  const file = await openEventFile(path);
  try {
    const idx = file.index;
    expect(idx.count).toBe(records.length);
    expect(idx.dataset).toBe(info.dataset);
    expect(idx.scope).toBe('user.t');
    expect(idx.lfn).toBe(info.lfn);
    expect(idx.guid).toBe(info.guid);
    expect(idx.meta).toEqual(info.meta);
    expect([...idx.entries]).toEqual(entries);
    expect(file.footerOffset).toBe(DATA_START + records.reduce((a, r) => a + r.length, 0));
    if (ids && entries.length > 0) {
      expect(idx.runs).toEqual(entries.map((e) => 100 + (e % 3)));
      expect(idx.events).toEqual(entries.map((e) => e * 7 + 1));
    } else {
      expect(idx.runs).toBeUndefined();
    }
    for (let i = 0; i < records.length; i++) {
      expect(idx.entryAt(i)).toBe(entries[i]);
      expect(idx.indexOf(entries[i]!)).toBe(i);
      expect(idx.sizeOf(i)).toBe(records[i]!.length);
      const got = await file.readEvent(entries[i]!);
      expect(got.equals(records[i]!)).toBe(true);
      // Independent decoder agrees with ours.
      expect(normalize(msgpackDecode(got))).toEqual(normalize(file.decodeEvent(got)));
      if (ids) expect(idx.findEvent(100 + (entries[i]! % 3), entries[i]! * 7 + 1)).toBe(i);
    }
    // Random entry ranges are one contiguous span holding exactly those events.
    for (let k = 0; k < 10 && records.length > 0; k++) {
      const a = Math.floor(rnd() * records.length);
      const b = a + Math.floor(rnd() * (records.length - a));
      const first = entries[a]! - (a > 0 && rnd() < 0.5 ? Math.floor(rnd() * (entries[a]! - entries[a - 1]!)) : 0);
      const span = file.span(first, entries[b]!);
      expect(span.firstIndex).toBe(a);
      expect(span.lastIndex).toBe(b);
      const bytes = await file.readSpan(first, entries[b]!);
      expect(bytes.equals(Buffer.concat(records.slice(a, b + 1)))).toBe(true);
      expect(decodeEvents(bytes).map(normalize)).toEqual(records.slice(a, b + 1).map((r) => normalize(decodeMsgpack(r))));
      expect([...decodeMulti(bytes)].map(normalize)).toEqual(decodeEvents(bytes).map(normalize));
    }
    // The footer decodes identically with the independent library.
    const footerBytes = whole.subarray(file.footerOffset, whole.length - TRAILER_SIZE);
    expect(normalize(msgpackDecode(footerBytes))).toEqual(normalize(decodeMsgpack(footerBytes)));
    expect((msgpackDecode(footerBytes) as { offsets: number[] }).offsets).toEqual(idx.offsets);
  } finally {
    await file.close();
  }
}

describe('writer/reader round trip', () => {
  it('appendEvent: the reader returns exactly the records written', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(planArb, async (plan) => {
        const rnd = testRng(plan.seed);
        const path = join(tmp.dir, `a${run++}.ess`);
        const records = plan.entries.map((e, i) => makeRecord(e, plan.sizes[i]!, rnd));
        const w = await EventFileWriter.create(path, info, { bufferSize: 64 * 1024 });
        for (let i = 0; i < records.length; i++) {
          const e = plan.entries[i]!;
          await w.appendEvent(records[i]!, e, plan.ids ? { run: 100 + (e % 3), event: e * 7 + 1 } : undefined);
        }
        const written = await w.close();
        expect(written.count).toBe(records.length);
        expect((await stat(path)).size).toBe(written.size);
        await checkFile(path, records, plan.entries, plan.ids, rnd);
      }),
      { numRuns: 15 },
    );
    // No .part files left behind.
    expect((await readdir(tmp.dir)).filter((f) => f.endsWith('.part'))).toEqual([]);
  });

  it('writeData/addEntries: slices that split events at random points', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(planArb, async (plan) => {
        const rnd = testRng(plan.seed);
        const path = join(tmp.dir, `b${run++}.ess`);
        const records = plan.entries.map((e, i) => makeRecord(e, plan.sizes[i]!, rnd));
        const stream = Buffer.concat(records);
        const w = await EventFileWriter.create(path, info, { bufferSize: 16 * 1024 });
        // Index in batches of random size, data in slices cut at random points.
        let indexed = 0;
        let pos = 0;
        let cut = 0;
        while (pos < stream.length || indexed < records.length) {
          if (indexed < records.length && rnd() < 0.5) {
            const n = 1 + Math.floor(rnd() * 5);
            const es = plan.entries.slice(indexed, indexed + n);
            const ss = records.slice(indexed, indexed + n).map((r) => r.length);
            w.addEntries(es, ss, plan.ids ? { runs: es.map((e) => 100 + (e % 3)), events: es.map((e) => e * 7 + 1) } : undefined);
            indexed += es.length;
          } else if (pos < stream.length) {
            const len = Math.min(stream.length - pos, plan.cuts[cut++ % Math.max(1, plan.cuts.length)] ?? 1000);
            // Hand over a copy, as a network client would, and do not await every call.
            const p = w.writeData(Buffer.from(stream.subarray(pos, pos + len)));
            if (rnd() < 0.7) await p;
            pos += len;
          }
        }
        await w.close();
        await checkFile(path, records, plan.entries, plan.ids, rnd);
      }),
      { numRuns: 15 },
    );
  });

  it('handles a footer larger than the 64 KiB tail read (two reads) and a small one (one read)', async () => {
    const rnd = testRng(7);
    const path = join(tmp.dir, 'many.ess');
    const n = 30_000;
    const entries = Array.from({ length: n }, (_, i) => i * 3 + (i % 2));
    const records = entries.map((e) => encodeMsgpack({ e }));
    const w = await EventFileWriter.create(path, info);
    for (let i = 0; i < n; i++) await w.appendEvent(records[i]!, entries[i]!, { run: 1, event: entries[i]! });
    await w.close();
    const whole = await readFile(path);
    const src = memorySource(whole);
    const file = await EventFile.open(src);
    expect(whole.length - file.footerOffset).toBeGreaterThan(64 * 1024);
    expect(src.reads.length).toBe(2);
    expect(file.index.count).toBe(n);
    expect(file.index.contiguous).toBe(false);
    for (let k = 0; k < 50; k++) {
      const i = Math.floor(rnd() * n);
      expect((await file.readEvent(entries[i]!)).equals(records[i]!)).toBe(true);
    }
    expect(file.index.indexOf(entries[5]! + 1)).toBe(-1);

    const small = memorySource(await readFile(await writeSimple(join(tmp.dir, 'small.ess'), 10)));
    await EventFile.open(small);
    expect(small.reads).toEqual([{ offset: 0, length: small.size }]);
  });

  it('reads a large file with one tail read and checks the magic when a span starts at the first event', async () => {
    const path = await writeSimple(join(tmp.dir, 'large.ess'), 40, 4000);
    const src = memorySource(await readFile(path));
    const file = await EventFile.open(src);
    expect(src.reads).toEqual([{ offset: src.size - 64 * 1024, length: 64 * 1024 }]);
    await file.readSpan(0, 3);
    expect(src.reads[1]).toEqual({ offset: 0, length: DATA_START + file.span(0, 3).length });
    await file.readSpan(0, 3);
    expect(src.reads[2]).toEqual({ offset: DATA_START, length: file.span(0, 3).length });
  });

  it('span(): contiguous entries, explicit entries with gaps, and out-of-range requests', async () => {
    const path = join(tmp.dir, 'gaps.ess');
    const entries = [10, 11, 15, 20, 21, 22];
    const records = entries.map((e) => encodeMsgpack({ e, pad: 'x'.repeat(e) }));
    const w = await EventFileWriter.create(path, info);
    for (let i = 0; i < entries.length; i++) await w.appendEvent(records[i]!, entries[i]!);
    await w.close();
    const file = await openEventFile(path);
    try {
      const idx = file.index;
      expect(idx.firstEntry).toBe(10);
      expect(idx.lastEntry).toBe(22);
      expect(file.span(12, 19)).toMatchObject({ firstIndex: 2, lastIndex: 2, length: records[2]!.length });
      expect(file.span(12, 14)).toMatchObject({ firstIndex: 2, lastIndex: 1, length: 0 });
      expect(await file.readSpan(12, 14)).toHaveLength(0);
      expect(file.span(10, 22)).toMatchObject({ offset: DATA_START, firstIndex: 0, lastIndex: 5, length: file.footerOffset - DATA_START });
      expect(() => file.span(9, 12)).toThrow(RangeError);
      expect(() => file.span(20, 23)).toThrow(/outside the file/);
      expect(() => file.span(15, 11)).toThrow(RangeError);
      await expect(file.readEvent(12)).rejects.toThrow(RangeError);
    } finally {
      await file.close();
    }

    const cpath = await writeSimple(join(tmp.dir, 'contig.ess'), 5, 100, 1000);
    const cfile = await openEventFile(cpath);
    try {
      expect(cfile.index.contiguous).toBe(true);
      expect(cfile.index.firstEntry).toBe(1000);
      expect(cfile.index.lastEntry).toBe(1004);
      expect(cfile.span(1001, 1003)).toMatchObject({ firstIndex: 1, lastIndex: 3 });
      expect(() => cfile.span(999, 1001)).toThrow(RangeError);
      expect(() => cfile.span(1004, 1005)).toThrow(RangeError);
      expect(cfile.index.indexOf(1005)).toBe(-1);
    } finally {
      await cfile.close();
    }
  });

  it('writes an empty file that reads back with no events', async () => {
    const path = join(tmp.dir, 'empty.ess');
    const w = await EventFileWriter.create(path, info);
    const res = await w.close();
    expect(res.count).toBe(0);
    const file = await openEventFile(path);
    expect(file.index.count).toBe(0);
    expect(file.index.offsets).toEqual([DATA_START]);
    expect(() => file.span(0, 0)).toThrow(RangeError);
    await file.close();
  });

  it('writes offsets beyond 4 GiB as MessagePack integers, not floats', () => {
    const footer = encodeMsgpack({ offsets: [8, 2 ** 32 + 5, 2 ** 40] });
    const decoded = msgpackDecode(footer) as { offsets: number[] };
    expect(decoded.offsets).toEqual([8, 2 ** 32 + 5, 2 ** 40]);
    expect(footer.includes(0xcb)).toBe(false);
  });

  it('openFileByteSource reads exact ranges and rejects reads past the end', async () => {
    const path = await writeSimple(join(tmp.dir, 's.ess'), 3);
    const src = await openFileByteSource(path);
    try {
      const whole = await readFile(path);
      expect(src.size).toBe(whole.length);
      expect((await src.read(3, 10)).equals(whole.subarray(3, 13))).toBe(true);
      await expect(src.read(whole.length - 2, 10)).rejects.toMatchObject({ code: 'truncated' });
    } finally {
      await src.close();
    }
  });
});

/** Writes `n` contiguous events of about `size` bytes starting at `first`. */
async function writeSimple(path: string, n: number, size = 50, first = 0): Promise<string> {
  const rnd = testRng(n);
  const w = await EventFileWriter.create(path, info);
  for (let i = 0; i < n; i++) await w.appendEvent(makeRecord(first + i, size, rnd), first + i);
  await w.close();
  return path;
}
