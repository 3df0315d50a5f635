import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { openEventFile } from '@ess/format';
import type { EventRange } from '@ess/protocol';
import { Backoff, RangeIntegrityError, RangeReceiver, shellQuote } from '../src/index.js';

const range: EventRange = { eventRangeID: '7-0-3-1', taskID: 7, scope: 's', LFN: 'f.ess', GUID: 'g', startEvent: 30, lastEvent: 32, attempt: 1, dataset: 's:n', bytes: 30 };

describe('RangeReceiver', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ess-rr-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const events = [Buffer.from([0x81, 0xa1, 0x61, 0x01]), Buffer.from([0x81, 0xa1, 0x62, 0x02]), Buffer.from([0x81, 0xa1, 0x63, 0x03])];
  const payload = Buffer.concat(events);

  it('writes a valid range file from chunks that split events, keeping original entries', async () => {
    const r = new RangeReceiver(range, 'tok', dir);
    await r.accept({ type: 'chunk', range: range.eventRangeID, seq: 0, offset: 0, entries: [30, 31], sizes: [4, 4], data: payload.subarray(0, 6) });
    await r.accept({ type: 'chunk', range: range.eventRangeID, seq: 1, offset: 6, entries: [32], sizes: [4], data: payload.subarray(6) });
    const written = await r.finish({ type: 'end', range: range.eventRangeID, chunks: 2, bytes: 12, events: 3, eventsRead: 3, crc32: crc32(payload) });
    const f = await openEventFile(written.path);
    expect(f.index.entries).toEqual([30, 31, 32]);
    expect(await f.readSpan(30, 32)).toEqual(payload);
    expect(f.index.meta).toMatchObject({ eventRangeID: '7-0-3-1', startEvent: 30 });
    await f.close();
  });

  it('refuses a chunk out of order', async () => {
    const r = new RangeReceiver(range, 'tok', dir);
    expect(() => r.accept({ type: 'chunk', range: range.eventRangeID, seq: 1, offset: 0, entries: [], sizes: [], data: payload })).toThrow(RangeIntegrityError);
    await r.abort();
  });

  it('refuses an end marker whose checksum disagrees, and leaves no file behind', async () => {
    const r = new RangeReceiver(range, 'tok', dir);
    await r.accept({ type: 'chunk', range: range.eventRangeID, seq: 0, offset: 0, entries: [30, 31, 32], sizes: [4, 4, 4], data: payload });
    await expect(r.finish({ type: 'end', range: range.eventRangeID, chunks: 1, bytes: 12, events: 3, eventsRead: 3, crc32: 12345 })).rejects.toThrow(/CRC-32/);
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('Backoff and shellQuote', () => {
  it('grows exponentially with jitter up to a cap, and resets', () => {
    const b = new Backoff(100, 1000, () => 1);
    expect([b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([100, 200, 400, 800, 1000]);
    b.reset();
    expect(b.next()).toBe(100);
    const half = new Backoff(100, 1000, () => 0);
    expect(half.next()).toBe(50);
  });

  it('quotes paths for the shell', () => {
    expect(shellQuote("/data/it's here.ess")).toBe(`'/data/it'\\''s here.ess'`);
  });
});
