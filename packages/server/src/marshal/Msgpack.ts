/**
 * The MessagePack the marshaller writes and rewrites itself, on the shared MsgpackWriter of
 * @ess/format: records built from ROOT entries (reals in the width of their branch), and
 * slimmed ESS records (kept fields copied byte for byte).
 */
import type { MsgpackWriter } from '@ess/format';
import type { ScalarType } from '../root/RootFile.js';

/** Writes one value of a ROOT column of scalar type `t` (a list element, or a scalar branch's value). */
export function writeScalar(w: MsgpackWriter, t: ScalarType, v: unknown): void {
  switch (t) {
    case 'float32':
      return w.f32(Number(v));
    case 'float64':
      return w.f64(Number(v));
    case 'bool':
      return w.bool(v === true || (typeof v === 'number' && v !== 0));
    case 'string':
      return w.str(String(v));
    default:
      return w.int(Number(v));
  }
}

// ---- reading the structure of a record without decoding it -----------------------------------

class ScanError extends Error {}

/** Position just after the MessagePack value starting at `p`. */
export function skipValue(b: Uint8Array, p: number): number {
  const need = (n: number) => {
    if (p + n > b.length) throw new ScanError('record ends inside a value');
  };
  need(1);
  const t = b[p]!;
  const u16 = (at: number) => (b[at]! << 8) | b[at + 1]!;
  const u32 = (at: number) => ((b[at]! << 24) >>> 0) + ((b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!);
  const many = (n: number, from: number, per: number) => {
    let q = from;
    for (let i = 0; i < n * per; i++) q = skipValue(b, q);
    return q;
  };
  if (t <= 0x7f || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) return p + 1;
  if (t >= 0x80 && t <= 0x8f) return many(t & 0x0f, p + 1, 2);
  if (t >= 0x90 && t <= 0x9f) return many(t & 0x0f, p + 1, 1);
  if (t >= 0xa0 && t <= 0xbf) return check(b, p + 1 + (t & 0x1f));
  switch (t) {
    case 0xcc:
    case 0xd0:
      return check(b, p + 2);
    case 0xcd:
    case 0xd1:
      return check(b, p + 3);
    case 0xca:
    case 0xce:
    case 0xd2:
      return check(b, p + 5);
    case 0xcb:
    case 0xcf:
    case 0xd3:
      return check(b, p + 9);
    case 0xc4:
    case 0xd9:
      need(2);
      return check(b, p + 2 + b[p + 1]!);
    case 0xc5:
    case 0xda:
      need(3);
      return check(b, p + 3 + u16(p + 1));
    case 0xc6:
    case 0xdb:
      need(5);
      return check(b, p + 5 + u32(p + 1));
    case 0xdc:
      need(3);
      return many(u16(p + 1), p + 3, 1);
    case 0xdd:
      need(5);
      return many(u32(p + 1), p + 5, 1);
    case 0xde:
      need(3);
      return many(u16(p + 1), p + 3, 2);
    case 0xdf:
      need(5);
      return many(u32(p + 1), p + 5, 2);
    case 0xd4:
      return check(b, p + 3);
    case 0xd5:
      return check(b, p + 4);
    case 0xd6:
      return check(b, p + 6);
    case 0xd7:
      return check(b, p + 10);
    case 0xd8:
      return check(b, p + 18);
    case 0xc7:
      need(2);
      return check(b, p + 3 + b[p + 1]!);
    case 0xc8:
      need(3);
      return check(b, p + 4 + u16(p + 1));
    case 0xc9:
      need(5);
      return check(b, p + 6 + u32(p + 1));
    default:
      throw new ScanError(`0x${t.toString(16)} is not a MessagePack type`);
  }
}

function check(b: Uint8Array, end: number): number {
  if (end > b.length) throw new ScanError('record ends inside a value');
  return end;
}

/** The entries of a record (one MessagePack map): each key and the byte span of the whole key/value pair. */
export function mapEntries(b: Uint8Array): { key: string; start: number; end: number }[] {
  if (b.length === 0) throw new ScanError('empty record');
  const t = b[0]!;
  let n: number;
  let p: number;
  if (t >= 0x80 && t <= 0x8f) {
    n = t & 0x0f;
    p = 1;
  } else if (t === 0xde) {
    n = (b[1]! << 8) | b[2]!;
    p = 3;
  } else if (t === 0xdf) {
    n = ((b[1]! << 24) >>> 0) + ((b[2]! << 16) | (b[3]! << 8) | b[4]!);
    p = 5;
  } else throw new ScanError('a record must be a MessagePack map');
  const out: { key: string; start: number; end: number }[] = [];
  for (let i = 0; i < n; i++) {
    const start = p;
    const k = b[p]!;
    let key: string;
    if (k >= 0xa0 && k <= 0xbf) key = Buffer.from(b.buffer, b.byteOffset + p + 1, k & 0x1f).toString('utf8');
    else if (k === 0xd9) key = Buffer.from(b.buffer, b.byteOffset + p + 2, b[p + 1]!).toString('utf8');
    else key = '';
    p = skipValue(b, skipValue(b, p));
    out.push({ key, start, end: p });
  }
  return out;
}

/** Writes the map of `record` keeping only the entries whose key is in `keep`, bytes unchanged. */
export function slimRecord(record: Uint8Array, keep: ReadonlySet<string>, out: MsgpackWriter): void {
  const entries = mapEntries(record).filter((e) => keep.has(e.key));
  out.map(entries.length);
  for (const e of entries) out.raw(record.subarray(e.start, e.end));
}
