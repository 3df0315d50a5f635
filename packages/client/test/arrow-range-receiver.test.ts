// The Arrow range file a worker writes for ROOT entries: one column per branch (list columns for
// jagged ones), every type of the protocol, events split over chunks, the metadata, the checks.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { packStandard, type EventRange, type RangeContent } from '@ess/protocol';
import { ArrowRangeReceiver, RangeIntegrityError, readArrowRangeFile } from '../src/index.js';

const range: EventRange = { eventRangeID: '9-0-2-1', taskID: 9, scope: 'cms', LFN: 'f.root', GUID: 'd48060b2-6a57-11ed-8e14-0600a8c0beef', startEvent: 100, lastEvent: 104, attempt: 1, dataset: 'cms:f', bytes: null };
const columns: RangeContent['columns'] = [
  { name: 'ok', type: 'bool' },
  { name: 'i8', type: 'int8' },
  { name: 'u8', type: 'uint8' },
  { name: 'i16', type: 'int16' },
  { name: 'u16', type: 'uint16' },
  { name: 'i32', type: 'int32' },
  { name: 'u32', type: 'uint32' },
  { name: 'i64', type: 'int64' },
  { name: 'u64', type: 'uint64' },
  { name: 'f32', type: 'float32' },
  { name: 'f64', type: 'float64' },
  { name: 's', type: 'string' },
  { name: 'pt', type: 'list<float32>' },
  { name: 'ids', type: 'list<bool>' },
  { name: 'big', type: 'list<int64>' },
];
const content: RangeContent = { records: 'root', file: 'arrow', tree: 'Events', columns, skim: 'i32 > 0', slim: ['*'] };

function record(k: number): Record<string, unknown> {
  return {
    ok: k % 2 === 0,
    i8: -(k + 1),
    u8: 200 + k,
    i16: -300 * (k + 1),
    u16: 60_000 + k,
    i32: -70_000 * (k + 1),
    u32: 4_000_000_000 + k,
    i64: -(2 ** 40) * (k + 1),
    u64: 2 ** 50 + k,
    f32: Math.fround(1.1 * k),
    f64: 0.1 * k,
    s: `GT${k}`,
    pt: Array.from({ length: k }, (_, i) => Math.fround(i + 0.5)),
    ids: Array.from({ length: k }, (_, i) => i % 2 === 1),
    big: k === 3 ? [2 ** 45, -7] : [],
  };
}

describe('ArrowRangeReceiver', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ess-arrow-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes one row per event and one column per branch, from chunks that split events; skimmed entries in the metadata', async () => {
    const entries = [100, 101, 103, 104];
    const events = entries.map((e) => packStandard(record(e - 100)));
    const payload = Buffer.concat(events);
    const sizes = events.map((e) => e.length);
    const r = new ArrowRangeReceiver(range, 'tok', join(dir, 'out'), content);
    // Chunk 0: event 100 and the first half of 101; chunk 1: the rest.
    const cut = sizes[0]! + Math.floor(sizes[1]! / 2);
    await r.accept({ type: 'chunk', range: range.eventRangeID, seq: 0, offset: 0, entries: [100, 101], sizes: sizes.slice(0, 2), data: payload.subarray(0, cut) });
    expect(r.progress()).toEqual({ bytes: cut, chunks: 1, crc32: crc32(payload.subarray(0, cut)) });
    await r.accept({ type: 'chunk', range: range.eventRangeID, seq: 1, offset: cut, entries: [103, 104], sizes: sizes.slice(2), data: payload.subarray(cut) });
    const written = await r.finish({ type: 'end', range: range.eventRangeID, chunks: 2, bytes: payload.length, events: 4, eventsRead: 5, crc32: crc32(payload) });
    expect(written).toMatchObject({ path: join(dir, 'out', '9-0-2-1.arrow'), count: 4 });
    expect(await readdir(join(dir, 'out'))).toEqual(['9-0-2-1.arrow']);

    const f = await readArrowRangeFile(await readFile(written.path));
    expect(f.rows).toBe(4);
    expect(f.columns).toEqual(columns);
    expect(f.entries).toEqual(entries);
    expect(Object.fromEntries(f.metadata)).toEqual({
      'ess.format': 'ess-range-arrow',
      'ess.version': '1',
      'ess.dataset': 'cms:f',
      'ess.lfn': 'f.root',
      'ess.guid': range.GUID,
      'ess.tree': 'Events',
      'ess.eventRangeID': '9-0-2-1',
      'ess.taskID': '9',
      'ess.attempt': '1',
      'ess.startEvent': '100',
      'ess.lastEvent': '104',
      'ess.eventsRead': '5',
      'ess.entries': '[100,101,103,104]',
      'ess.skim': 'i32 > 0',
      'ess.slim': '["*"]',
    });
    for (const [i, e] of entries.entries()) {
      const want = record(e - 100);
      for (const c of columns!) {
        const got = f.values.get(c.name)![i];
        const norm = (v: unknown): unknown => (typeof v === 'bigint' ? Number(v) : Array.isArray(v) ? v.map(norm) : v);
        expect(norm(got), `${c.name} of ${e}`).toEqual(want[c.name]);
      }
    }
  });

  it('writes firstEntry for a contiguous range and an empty file for a range whose every event was skimmed', async () => {
    const r = new ArrowRangeReceiver(range, 'tok', dir, content);
    const written = await r.finish({ type: 'end', range: range.eventRangeID, chunks: 0, bytes: 0, events: 0, eventsRead: 5, crc32: 0 });
    const f = await readArrowRangeFile(await readFile(written.path));
    expect(f.rows).toBe(0);
    expect(f.columns).toHaveLength(columns!.length);
    expect(f.metadata.get('ess.firstEntry')).toBe('100');

    const one = packStandard(record(2));
    const r2 = new ArrowRangeReceiver({ ...range, eventRangeID: '9-0-3-1' }, 'tok', dir, { ...content, skim: undefined } as RangeContent);
    await r2.accept({ type: 'chunk', range: '9-0-3-1', seq: 0, offset: 0, entries: [102], sizes: [one.length], data: new Uint8Array(one) });
    const w2 = await r2.finish({ type: 'end', range: '9-0-3-1', chunks: 1, bytes: one.length, events: 1, eventsRead: 1, crc32: crc32(one) });
    const f2 = await readArrowRangeFile(await readFile(w2.path));
    expect(f2.metadata.get('ess.firstEntry')).toBe('102');
    expect(f2.metadata.has('ess.skim')).toBe(false);
  });

  it('refuses chunks out of order, a bad end, a record missing a column, and leaves no file', async () => {
    const ev = packStandard(record(1));
    const r = new ArrowRangeReceiver(range, 'tok', dir, content);
    expect(() => r.accept({ type: 'chunk', range: range.eventRangeID, seq: 1, offset: 0, entries: [], sizes: [], data: new Uint8Array(ev) })).toThrow(RangeIntegrityError);
    await r.accept({ type: 'chunk', range: range.eventRangeID, seq: 0, offset: 0, entries: [100], sizes: [ev.length], data: new Uint8Array(ev) });
    await expect(r.finish({ type: 'end', range: range.eventRangeID, chunks: 1, bytes: ev.length, events: 1, eventsRead: 1, crc32: 1 })).rejects.toThrow(/CRC-32/);

    const bad = packStandard({ ok: true });
    const r2 = new ArrowRangeReceiver(range, 'tok', dir, content);
    await expect(r2.accept({ type: 'chunk', range: range.eventRangeID, seq: 0, offset: 0, entries: [100], sizes: [bad.length], data: new Uint8Array(bad) })).rejects.toThrow(/has no "i8"/);
    await expect(r2.finish({ type: 'end', range: range.eventRangeID, chunks: 1, bytes: bad.length, events: 1, eventsRead: 1, crc32: crc32(bad) })).rejects.toThrow(/has no "i8"/);
    expect(await readdir(dir)).toEqual([]);
  });
});
