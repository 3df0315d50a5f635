// Shared test helpers: temp dirs, an in-memory ByteSource that counts reads, hand-built files,
// and normalisation so msgpackr and @msgpack/msgpack decodings compare equal.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packStandard as encodeMsgpack } from '@ess/protocol';
import { FILE_MAGIC, TRAILER_MAGIC, type ByteSource } from '../src/index.js';

export async function makeTempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'ess-format-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A ByteSource over a buffer, recording every read. */
export function memorySource(buf: Buffer): ByteSource & { reads: { offset: number; length: number }[] } {
  const reads: { offset: number; length: number }[] = [];
  return {
    size: buf.length,
    reads,
    async read(offset, length) {
      reads.push({ offset, length });
      if (offset < 0 || offset + length > buf.length) throw new RangeError(`read past end: ${offset}+${length} > ${buf.length}`);
      return Buffer.from(buf.subarray(offset, offset + length));
    },
  };
}

/** Builds a file by hand: magic, records, any footer value, trailer pointing at it. */
export function buildFile(records: Buffer[], footer: unknown, opts: { footerOffset?: number } = {}): Buffer {
  const data = Buffer.concat(records);
  const footerBytes = Buffer.isBuffer(footer) ? footer : encodeMsgpack(footer);
  const trailer = Buffer.alloc(16);
  trailer.writeBigUInt64LE(BigInt(opts.footerOffset ?? 8 + data.length));
  TRAILER_MAGIC.copy(trailer, 8);
  return Buffer.concat([FILE_MAGIC, data, footerBytes, trailer]);
}

/** A footer for `records` with contiguous entries from 0. */
export function footerFor(records: Buffer[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  const offsets = [8];
  for (const r of records) offsets.push(offsets[offsets.length - 1]! + r.length);
  return {
    format: 'ess-events',
    version: 1,
    scope: 'user.t',
    dataset: 'user.t:ds',
    lfn: 'ds._000001.ess',
    guid: '00000000-0000-4000-8000-000000000000',
    count: records.length,
    offsets,
    firstEntry: 0,
    ...extra,
  };
}

/** Replaces every byte array by a Buffer so decodings from different libraries compare equal. */
export function normalize(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
  if (Array.isArray(v)) return v.map(normalize);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalize(x)]));
  return v;
}

/** Deterministic small PRNG for tests (mulberry32). */
export function testRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
