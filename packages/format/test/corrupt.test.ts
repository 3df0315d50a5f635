// Corrupt and truncated files are refused with a FormatError carrying the right code (never
// garbage), and the writer refuses to produce inconsistent files.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventFile, EventFileWriter, FormatError, openEventFile, type FormatErrorCode } from '../src/index.js';
import { packStandard as encodeMsgpack } from '@ess/protocol';
import { buildFile, footerFor, makeTempDir, memorySource } from './helpers.js';

const records = Array.from({ length: 5 }, (_, i) => encodeMsgpack({ i, pad: 'p'.repeat(10 * i) }));
const good = buildFile(records, footerFor(records));

async function openError(buf: Buffer): Promise<FormatError> {
  try {
    await EventFile.open(memorySource(buf));
  } catch (e) {
    expect(e).toBeInstanceOf(FormatError);
    return e as FormatError;
  }
  throw new Error('expected EventFile.open to fail');
}

async function expectCode(buf: Buffer, code: FormatErrorCode, message?: RegExp): Promise<void> {
  const e = await openError(buf);
  expect(e.code).toBe(code);
  if (message) expect(e.message).toMatch(message);
}

describe('corrupt files', () => {
  it('the hand-built reference file is valid', async () => {
    const f = await EventFile.open(memorySource(good));
    expect(f.index.count).toBe(5);
    expect((await f.readEvent(3)).equals(records[3]!)).toBe(true);
  });

  it('truncated anywhere: code "truncated"', async () => {
    for (const len of [0, 1, 8, 23, 30, good.length - 17, good.length - 16, good.length - 5, good.length - 1]) {
      await expectCode(good.subarray(0, len), 'truncated');
    }
  });

  it('bad file magic: code "bad_magic" (small file at open, large file on the first span read)', async () => {
    const bad = Buffer.from(good);
    bad.write('NOTESS', 0, 'latin1');
    await expectCode(bad, 'bad_magic', /not an ESS event file/);

    const big = Array.from({ length: 20 }, (_, i) => encodeMsgpack({ i, blob: Buffer.alloc(5000, i) }));
    const bigFile = buildFile(big, footerFor(big));
    bigFile[0] = 0x00;
    const f = await EventFile.open(memorySource(bigFile));
    await expect(f.readSpan(0, 2)).rejects.toMatchObject({ name: 'FormatError', code: 'bad_magic' });
    await expect(f.readEvent(0)).rejects.toMatchObject({ code: 'bad_magic' });
  });

  it('unknown format version: code "unsupported_version"', async () => {
    const v2 = Buffer.from(good);
    v2[7] = 2;
    await expectCode(v2, 'unsupported_version');
    await expectCode(buildFile(records, footerFor(records, { version: 2 })), 'unsupported_version');
  });

  it('bad trailer: damaged magic is "truncated", an impossible footer offset is "bad_trailer"', async () => {
    const damaged = Buffer.from(good);
    damaged[damaged.length - 1] = 0x30;
    await expectCode(damaged, 'truncated', /no ESS trailer/);
    for (const off of [0, 7, good.length - 16, good.length, 2 ** 40]) {
      const bad = Buffer.from(good);
      bad.writeBigUInt64LE(BigInt(off), bad.length - 16);
      await expectCode(bad, 'bad_trailer');
    }
    // An offset inside the data: the "footer" there is not a valid footer.
    const inside = Buffer.from(good);
    inside.writeBigUInt64LE(8n + BigInt(records[0]!.length), inside.length - 16);
    const e = await openError(inside);
    expect(['bad_footer', 'bad_index']).toContain(e.code);
  });

  it('bad footer: not MessagePack, not a map, wrong format, missing or mistyped keys', async () => {
    await expectCode(buildFile(records, Buffer.from([0xc1, 0xc1])), 'bad_footer');
    await expectCode(buildFile(records, Buffer.from([0xdc, 0xff])), 'bad_footer'); // cut-off array
    await expectCode(buildFile(records, [1, 2, 3]), 'bad_footer', /not a MessagePack map/);
    await expectCode(buildFile(records, footerFor(records, { format: 'other' })), 'bad_footer');
    const { lfn: _lfn, ...noLfn } = footerFor(records);
    await expectCode(buildFile(records, noLfn), 'bad_footer', /"lfn"/);
    await expectCode(buildFile(records, footerFor(records, { count: 'five' })), 'bad_footer');
    await expectCode(buildFile(records, footerFor(records, { entries: [0, 1, 2, 3, 4] })), 'bad_footer', /exactly one/);
    await expectCode(buildFile(records, footerFor(records, { meta: 'x' })), 'bad_footer');
  });

  it('bad index: offsets out of order, wrong length, wrong start/end; bad entries, runs, events', async () => {
    const f = footerFor(records);
    const offsets = f.offsets as number[];
    const swapped = [...offsets];
    [swapped[2], swapped[3]] = [swapped[3]!, swapped[2]!];
    await expectCode(buildFile(records, { ...f, offsets: swapped }), 'bad_index', /ascending/);
    await expectCode(buildFile(records, { ...f, offsets: offsets.slice(1) }), 'bad_index');
    await expectCode(buildFile(records, { ...f, offsets: [9, ...offsets.slice(1)] }), 'bad_index', /offsets\[0\]/);
    const shortEnd = [...offsets];
    shortEnd[shortEnd.length - 1]! -= 1;
    await expectCode(buildFile(records, { ...f, offsets: shortEnd }), 'bad_index', /footer offset/);
    await expectCode(buildFile(records, { ...f, offsets: offsets.map((o, i) => (i === 2 ? -1 : o)) }), 'bad_index');
    const noFirst = { ...f, firstEntry: undefined };
    await expectCode(buildFile(records, { ...noFirst, entries: [0, 1, 1, 2, 3] }), 'bad_index', /ascending/);
    await expectCode(buildFile(records, { ...noFirst, entries: [0, 1, 2] }), 'bad_index');
    await expectCode(buildFile(records, { ...f, runs: [1, 2] }), 'bad_index');
    await expectCode(buildFile(records, { ...f, events: [1, 2, 3, 4, 1.5] }), 'bad_index');
  });

  it('random byte damage never yields garbage: a FormatError, or an index that keeps its invariants', async () => {
    let seed = 1;
    const rnd = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    let refused = 0;
    for (let k = 0; k < 300; k++) {
      const bad = Buffer.from(good);
      const at = Math.floor(rnd() * bad.length);
      bad[at] = bad[at]! ^ (1 + Math.floor(rnd() * 255));
      let f: EventFile;
      try {
        f = await EventFile.open(memorySource(bad));
      } catch (e) {
        expect(e).toBeInstanceOf(FormatError);
        refused++;
        continue;
      }
      // Damage the index cannot see (event data, string contents, an offset that stays
      // ordered): the index must still be self-consistent and every span readable.
      const { offsets, count } = f.index;
      expect(offsets).toHaveLength(count + 1);
      expect(offsets[0]).toBe(8);
      expect(offsets[count]).toBe(f.footerOffset);
      for (let i = 0; i < count; i++) expect(offsets[i + 1]!).toBeGreaterThan(offsets[i]!);
      const all = await f.readSpan(f.index.firstEntry, f.index.lastEntry);
      expect(all.length).toBe(f.footerOffset - 8);
    }
    expect(refused).toBeGreaterThan(100);
  });
});

describe('writer refuses inconsistent files', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  beforeEach(async () => {
    tmp = await makeTempDir();
  });
  afterEach(async () => {
    await tmp.cleanup();
  });
  const info = { dataset: 'user.t:w', lfn: 'w.ess', guid: 'g' };

  it('close() with sizes that do not add up to the data: "size_mismatch", and no file left', async () => {
    const path = join(tmp.dir, 'w.ess');
    const w = await EventFileWriter.create(path, info);
    await w.writeData(Buffer.alloc(100, 1));
    w.addEntries([0, 1], [50, 49]);
    await expect(w.close()).rejects.toMatchObject({ name: 'FormatError', code: 'size_mismatch' });
    expect(await readdir(tmp.dir)).toEqual([]);
  });

  it('entries must ascend strictly and sizes be positive: "bad_index"', async () => {
    const w = await EventFileWriter.create(join(tmp.dir, 'w.ess'), info);
    w.addEntries([5, 6], [1, 1]);
    expect(() => w.addEntries([6], [1])).toThrow(expect.objectContaining({ code: 'bad_index' }) as Error);
    expect(() => w.addEntries([7], [0])).toThrow(FormatError);
    expect(() => w.addEntries([7, 8], [1])).toThrow(FormatError);
    await expect(w.appendEvent(Buffer.from([0x80]), 3)).rejects.toMatchObject({ code: 'bad_index' });
    await w.abort();
    expect(await readdir(tmp.dir)).toEqual([]);
  });

  it('ids for some events but not all: "bad_index"', async () => {
    const w = await EventFileWriter.create(join(tmp.dir, 'w.ess'), info);
    await w.appendEvent({ a: 1 }, 0, { run: 1, event: 1 });
    await w.appendEvent({ a: 2 }, 1);
    await expect(w.close()).rejects.toMatchObject({ code: 'bad_index' });
  });

  it('abort() removes the .part file; the writer refuses use after close', async () => {
    const path = join(tmp.dir, 'w.ess');
    const w = await EventFileWriter.create(path, info);
    await w.appendEvent({ a: 1 }, 0);
    expect(await readdir(tmp.dir)).toEqual(['w.ess.part']);
    await w.abort();
    await w.abort();
    expect(await readdir(tmp.dir)).toEqual([]);
    expect(() => w.addEntries([1], [1])).toThrow(/aborted/);

    const w2 = await EventFileWriter.create(path, info);
    await w2.appendEvent({ a: 1 }, 0);
    await w2.close();
    await w2.abort(); // no effect after a successful close
    expect(await readdir(tmp.dir)).toEqual(['w.ess']);
    await expect(w2.appendEvent({ a: 2 }, 1)).rejects.toThrow(/closed/);
  });

  it('a file truncated on disk is refused by openEventFile', async () => {
    const path = join(tmp.dir, 'w.ess');
    const w = await EventFileWriter.create(path, info);
    for (let i = 0; i < 10; i++) await w.appendEvent({ i, b: Buffer.alloc(100) }, i);
    await w.close();
    const whole = await readFile(path);
    await writeFile(path, whole.subarray(0, whole.length - 40));
    await expect(openEventFile(path)).rejects.toMatchObject({ code: 'truncated' });
  });

  it('rejects an invalid dataset name', async () => {
    await expect(EventFileWriter.create(join(tmp.dir, 'x.ess'), { ...info, dataset: 'nocolon' })).rejects.toThrow(/scope:name/);
  });
});
