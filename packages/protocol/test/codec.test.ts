// The codec: every message of both channels round-trips through msgpackr, decodes to the same
// plain values with an independent MessagePack implementation (@msgpack/msgpack), carries no
// extension types, and bad input comes back as an error value with the documented codes.
import { ExtData, decode as refDecode, encode as refEncode } from '@msgpack/msgpack';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CloseCode,
  ErrorCode,
  MAX_EVENTS_PER_CHUNK,
  CHUNK_FRAME_OVERHEAD,
  allocChunkFrame,
  decodeClientMessage,
  decodeServerMessage,
  encode,
  encodeChunk,
  type ChunkHeader,
  type ClientMessage,
  type ProtocolError,
  type ServerMessage,
} from '../src/index.js';
import { bytes, clientExamples, clientTypes, plain, serverExamples, serverTypes } from './examples.js';

const clientList = Object.values(clientExamples);
const serverList = Object.values(serverExamples);

/** Walks a value decoded by @msgpack/msgpack; returns the paths of anything that is not plain MessagePack data. */
function nonStandard(v: unknown, path = '$'): string[] {
  if (v instanceof ExtData) return [`${path}: extension type ${v.type}`];
  if (v instanceof Date) return [`${path}: timestamp extension`];
  if (v instanceof Uint8Array || v === null || ['string', 'number', 'boolean'].includes(typeof v)) return [];
  if (typeof v === 'bigint') return [`${path}: bigint`];
  if (Array.isArray(v)) return v.flatMap((x, i) => nonStandard(x, `${path}[${i}]`));
  if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    return Object.entries(v as Record<string, unknown>).flatMap(([k, x]) => nonStandard(x, `${path}.${k}`));
  }
  return [`${path}: unexpected ${Object.prototype.toString.call(v)}`];
}

/** A frame is one MessagePack map: fixmap, map 16 or map 32. */
function isMapHeader(b: number): boolean {
  return (b & 0xf0) === 0x80 || b === 0xde || b === 0xdf;
}

function expectStandard(frame: Uint8Array, expected: unknown): void {
  expect(isMapHeader(frame[0]!)).toBe(true);
  const ref = refDecode(frame);
  expect(nonStandard(ref)).toEqual([]);
  expect(plain(ref)).toEqual(plain(expected));
}

describe('message examples', () => {
  it('cover every client message type', () => {
    expect(Object.keys(clientExamples).sort()).toEqual([...clientTypes].sort());
    for (const [type, m] of Object.entries(clientExamples)) expect(m.type).toBe(type);
  });

  it('cover every server message type (worker and monitor channel)', () => {
    expect(Object.keys(serverExamples).sort()).toEqual([...serverTypes].sort());
    for (const [type, m] of Object.entries(serverExamples)) expect(m.type).toBe(type);
  });

  it('include a chunk with data, and a snapshot and a delta with rows', () => {
    const c = serverExamples.chunk as Extract<ServerMessage, { type: 'chunk' }>;
    expect(c.data.length).toBeGreaterThan(64 * 1024);
    const s = serverExamples.snapshot as Extract<ServerMessage, { type: 'snapshot' }>;
    const d = serverExamples.delta as Extract<ServerMessage, { type: 'delta' }>;
    expect(s.workers.length).toBeGreaterThan(0);
    expect(s.tasks.length).toBeGreaterThan(0);
    expect(d.workers.length).toBeGreaterThan(0);
    expect(d.tasks.length).toBeGreaterThan(0);
    expect(d.gone.length).toBeGreaterThan(0);
  });
});

describe('round trip through msgpackr', () => {
  it.each(clientList.map((m) => [m.type, m] as const))('client message %s', (_type, m) => {
    const r = decodeClientMessage(encode(m));
    expect(r.ok).toBe(true);
    if (r.ok) expect(plain(r.value)).toEqual(plain(m));
  });

  it.each(serverList.map((m) => [m.type, m] as const))('server message %s', (_type, m) => {
    const r = decodeServerMessage(encode(m));
    expect(r.ok).toBe(true);
    if (r.ok) expect(plain(r.value)).toEqual(plain(m));
  });

  it('decodes chunk data as bytes (a Uint8Array), not as a string or array', () => {
    const r = decodeServerMessage(encode(serverExamples.chunk));
    expect(r.ok && r.value.type === 'chunk' && r.value.data instanceof Uint8Array).toBe(true);
  });

  it('leaves out absent optional fields instead of encoding undefined', () => {
    const hello: ClientMessage = { type: 'hello', protocol: 1, role: 'worker', token: undefined, worker: undefined, want: undefined, agent: undefined };
    const frame = encode(hello);
    expect(refDecode(frame)).toEqual({ type: 'hello', protocol: 1, role: 'worker' });
    expect(decodeClientMessage(frame)).toEqual({ ok: true, value: { type: 'hello', protocol: 1, role: 'worker' } });
  });

  it('ignores unknown fields (forward compatibility) and drops them from the decoded value', () => {
    const frame = refEncode({ type: 'credit', limit: 4096, future: { x: [1, 2] } });
    expect(decodeClientMessage(frame)).toEqual({ ok: true, value: { type: 'credit', limit: 4096 } });
  });

  it('accepts integers a stock encoder sends as uint 64 or as integral float 64', () => {
    const big = 2 ** 40;
    const asUint64 = Uint8Array.from([0x82, 0xa4, ...Buffer.from('type'), 0xa6, ...Buffer.from('credit'), 0xa5, ...Buffer.from('limit'), 0xcf, 0, 0, 1, 0, 0, 0, 0, 0]);
    expect(decodeClientMessage(asUint64)).toEqual({ ok: true, value: { type: 'credit', limit: big } });
    const asFloat = Buffer.from(asUint64);
    asFloat[asFloat.length - 9] = 0xcb;
    asFloat.writeDoubleBE(big, asFloat.length - 8);
    expect(refDecode(asFloat)).toEqual({ type: 'credit', limit: big });
    expect(decodeClientMessage(asFloat)).toEqual({ ok: true, value: { type: 'credit', limit: big } });
  });

  it('sends integers of 2^32 and above as 64-bit integers, never as float 64 (what a Python or C++ peer then sees)', () => {
    const int64 = [0xcf, 0xd3];
    const frame = encode({ type: 'credit', limit: 2 ** 32 });
    expect(int64).toContain(frame.subarray(-9)[0]);
    expect(refDecode(frame)).toEqual({ type: 'credit', limit: 2 ** 32 });
    const small = encode({ type: 'credit', limit: 2 ** 32 - 1 });
    expect(small.subarray(-5)[0]).toBe(0xce);
    const beat = encode({ type: 'heartbeat', t: 1_795_600_000_000 });
    expect(int64).toContain(beat.subarray(-9)[0]);
    expect(decodeClientMessage(beat)).toEqual({ ok: true, value: { type: 'heartbeat', t: 1_795_600_000_000 } });
  });
});

describe('independent decoder (@msgpack/msgpack)', () => {
  it.each([...clientList, ...serverList].map((m) => [m.type, m] as const))('%s decodes to the same plain values, with no extensions', (_type, m) => {
    expectStandard(encode(m), m);
  });

  const header: ChunkHeader = { range: '7-3-12-2', seq: 0, offset: 0, entries: [1200], sizes: [100] };
  it.each([0, 1, 70 * 1024])('encodeChunk with %i data bytes', (n) => {
    const data = bytes(n, n + 1);
    const frame = encodeChunk(header, data);
    expectStandard(frame, { type: 'chunk', ...header, data });
    const r = decodeServerMessage(frame);
    expect(r.ok).toBe(true);
    if (r.ok) expect(plain(r.value)).toEqual(plain({ type: 'chunk', ...header, data }));
  });

  it.each([0, 1, 70 * 1024])('allocChunkFrame with %i data bytes written in place', (n) => {
    const data = bytes(n, n + 2);
    const { frame, data: room } = allocChunkFrame(header, n);
    expect(room.length).toBe(n);
    expect(room.buffer).toBe(frame.buffer);
    room.set(data);
    expectStandard(frame, { type: 'chunk', ...header, data });
    // `data` is a bin 32 at the very end: 0xc6, big-endian length, payload.
    const at = frame.length - n - 5;
    expect(frame[at]).toBe(0xc6);
    expect(Buffer.from(frame).readUInt32BE(at + 1)).toBe(n);
  });

  it('a chunk header at the largest size stays within CHUNK_FRAME_OVERHEAD', () => {
    const entries = Array.from({ length: MAX_EVENTS_PER_CHUNK }, (_, i) => Number.MAX_SAFE_INTEGER - MAX_EVENTS_PER_CHUNK + i);
    const sizes = entries.map(() => 2 ** 40);
    const { frame } = allocChunkFrame({ range: 'x'.repeat(128), seq: 2 ** 40, offset: Number.MAX_SAFE_INTEGER, entries, sizes }, 0);
    expect(frame.length).toBeLessThanOrEqual(CHUNK_FRAME_OVERHEAD);
  });

  it('frames encoded one after another do not overwrite each other', () => {
    const frames = serverList.map((m) => encode(m));
    frames.forEach((f, i) => expect(plain(refDecode(f))).toEqual(plain(serverList[i])));
  });
});

describe('property: chunks', () => {
  const rangeId = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).filter((s) => s.length <= 128);
  const index = fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 64 });
  const chunk = fc.record({
    range: rangeId,
    seq: fc.nat(),
    offset: fc.maxSafeNat(),
    index,
    data: fc.uint8Array({ maxLength: 2048 }),
  });

  it('random headers and data round-trip through encodeChunk and both decoders', () => {
    fc.assert(
      fc.property(chunk, ({ range, seq, offset, index: idx, data }) => {
        const header: ChunkHeader = { range, seq, offset, entries: idx.map(([e]) => e), sizes: idx.map(([, s]) => s) };
        const expected = { type: 'chunk', ...header, data };
        const frame = encodeChunk(header, data);
        const r = decodeServerMessage(frame);
        expect(r.ok).toBe(true);
        if (r.ok) expect(plain(r.value)).toEqual(plain(expected));
        const ref = refDecode(frame);
        expect(nonStandard(ref)).toEqual([]);
        expect(plain(ref)).toEqual(plain(expected));
      }),
      { numRuns: 300 },
    );
  });
});

// ---- bad input ---------------------------------------------------------------------------------

/** The error codes decodeClientMessage may answer, and whether each ends the session. */
const DECODE_ERRORS: Record<string, CloseCode | undefined> = {
  [ErrorCode.badFrame]: CloseCode.protocolError,
  [ErrorCode.unknownType]: CloseCode.protocolError,
  [ErrorCode.badMessage]: undefined,
};

function expectDecodeError(error: ProtocolError): void {
  expect(Object.keys(DECODE_ERRORS)).toContain(error.code);
  expect(error.close).toBe(DECODE_ERRORS[error.code]);
  expect(error.message.length).toBeGreaterThan(0);
}

function decodeError(frame: Uint8Array): ProtocolError {
  const r = decodeClientMessage(frame);
  if (r.ok) throw new Error(`expected an error, decoded ${JSON.stringify(r.value)}`);
  return r.error;
}

describe('bad frames', () => {
  const good = encode(clientExamples.hello);

  it('truncated MessagePack is bad_frame, closed with 1002', () => {
    for (const cut of [0, 1, 5, good.length - 1]) {
      expect(decodeError(good.subarray(0, cut))).toMatchObject({ code: ErrorCode.badFrame, close: CloseCode.protocolError });
    }
  });

  it('trailing bytes after the map are bad_frame', () => {
    expect(decodeError(Buffer.concat([good, Buffer.from([0xc0])]))).toMatchObject({ code: 'bad_frame', close: 1002 });
  });

  it.each([
    ['an array', [{ type: 'hello' }]],
    ['a string', 'hello'],
    ['an integer', 42],
    ['nil', null],
    ['bin', new Uint8Array([0x81, 0xa4])],
  ])('a non-map value (%s) is bad_frame', (_what, value) => {
    expect(decodeError(refEncode(value))).toMatchObject({ code: ErrorCode.badFrame, close: CloseCode.protocolError });
  });

  it.each([
    ['no type', { protocol: 1, role: 'worker' }],
    ['a numeric type', { type: 1 }],
    ['a bin type', { type: new Uint8Array([0x68]) }],
    ['a type that is a timestamp extension', { type: new Date(0) }],
  ])('a map with %s is bad_frame', (_what, value) => {
    expect(decodeError(refEncode(value))).toMatchObject({ code: ErrorCode.badFrame, close: CloseCode.protocolError });
  });

  it('a map with non-string keys is bad_frame', () => {
    const frame = refEncode(new Map<unknown, unknown>([[1, 'x'], ['type', 'heartbeat'], ['t', 1]]));
    expect(decodeError(frame)).toMatchObject({ code: ErrorCode.badFrame });
  });

  it('an unknown type is unknown_type, closed with 1002', () => {
    expect(decodeError(refEncode({ type: 'subscribe_all' }))).toMatchObject({ code: ErrorCode.unknownType, close: CloseCode.protocolError });
  });

  it('a server message sent by a client is unknown_type (and the reverse)', () => {
    expect(decodeError(encode(serverExamples.ack))).toMatchObject({ code: ErrorCode.unknownType });
    const r = decodeServerMessage(encode(clientExamples.credit));
    expect(r.ok ? null : r.error).toMatchObject({ code: ErrorCode.unknownType, close: CloseCode.protocolError });
  });

  it.each([
    ['hello without protocol', { type: 'hello', role: 'worker' }],
    ['hello with an unknown role', { type: 'hello', protocol: 1, role: 'admin' }],
    ['hello with a string protocol', { type: 'hello', protocol: '1', role: 'worker' }],
    ['hello with want.prefetch 0', { type: 'hello', protocol: 1, role: 'worker', want: { prefetch: 0 } }],
    ['hello with an empty worker id', { type: 'hello', protocol: 1, role: 'worker', worker: { id: '' } }],
    ['subscribe without task', { type: 'subscribe' }],
    ['subscribe with a negative task', { type: 'subscribe', task: -1 }],
    ['report without token', { type: 'report', range: '1-0-0-1', status: 'finished' }],
    ['report with status fatal', { type: 'report', range: '1-0-0-1', token: 't', status: 'fatal' }],
    ['report with a fractional eventsDone', { type: 'report', range: '1-0-0-1', token: 't', status: 'failed', eventsDone: 1.5 }],
    ['heartbeat without t', { type: 'heartbeat' }],
    ['credit without limit', { type: 'credit' }],
    ['credit with a string limit', { type: 'credit', limit: '4096' }],
  ])('%s is bad_message, not fatal by itself', (_what, value) => {
    const e = decodeError(refEncode(value));
    expect(e.code).toBe(ErrorCode.badMessage);
    expect(e.close).toBeUndefined();
    expect(e.message).toContain(`"${value.type}"`);
  });

  it.each([
    ['negative', -1],
    ['fractional', 4096.5],
    ['above 2^53 - 1', 2 ** 60],
    ['NaN', Number.NaN],
    ['infinite', Number.POSITIVE_INFINITY],
  ])('an out-of-range credit limit (%s) is bad_message', (_what, limit) => {
    const e = decodeError(refEncode({ type: 'credit', limit }));
    expect(e.code).toBe(ErrorCode.badMessage);
    expect(e.close).toBeUndefined();
  });

  it('a credit limit of exactly 2^53 - 1 passes the codec (the session then refuses it as credit abuse)', () => {
    expect(decodeClientMessage(refEncode({ type: 'credit', limit: Number.MAX_SAFE_INTEGER })).ok).toBe(true);
  });

  it('pathologically nested input is an error value, not a thrown stack overflow', () => {
    const deep = Buffer.concat([Buffer.from('81a474797065', 'hex'), Buffer.alloc(50_000, 0x91), Buffer.from([1])]);
    expect(decodeError(deep)).toMatchObject({ code: ErrorCode.badFrame });
  });

  it('a msgpackr record definition in one frame does not change how later frames decode', () => {
    // ext 0x72 defines record 0x40 = [type, t]; 0x40 is otherwise the positive fixint 64.
    const record = Buffer.from('d4724092a474797065a174a968656172746265617405', 'hex');
    decodeClientMessage(record);
    const standard = refEncode({ type: 'subscribe', task: 64 });
    expect(decodeClientMessage(standard)).toEqual({ ok: true, value: { type: 'subscribe', task: 64 } });
  });
});

describe('property: garbage', () => {
  it('random bytes never throw and come back as a decode error with the right close code', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (frame) => {
        const r = decodeClientMessage(frame);
        if (!r.ok) expectDecodeError(r.error);
        const s = decodeServerMessage(frame);
        if (!s.ok) expectDecodeError(s.error);
      }),
      { numRuns: 1000 },
    );
  });

  it('random MessagePack values (mostly maps, often with a known type) never throw', () => {
    const anyType = fc.oneof(fc.constantFrom(...clientTypes, ...serverTypes), fc.string(), fc.integer(), fc.constant(null));
    const value = fc.oneof(
      fc.jsonValue(),
      fc.dictionary(fc.string(), fc.jsonValue()).chain((d) => anyType.map((type) => ({ ...d, type }))),
      fc.record({ type: fc.constantFrom(...clientTypes), limit: fc.oneof(fc.integer(), fc.double()), t: fc.double(), task: fc.oneof(fc.integer(), fc.constant(null)) }, { requiredKeys: ['type'] }),
    );
    fc.assert(
      fc.property(value, (v) => {
        const r = decodeClientMessage(refEncode(v));
        if (!r.ok) expectDecodeError(r.error);
        else expect(clientTypes).toContain(r.value.type);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('welcome on the monitor channel', () => {
  // The monitor's welcome has no limits (no credit, no leases): `limits` is nil.
  const welcome: ServerMessage = {
    type: 'welcome',
    protocol: 1,
    role: 'monitor',
    server: { id: 'ess-1:7400', version: '0.1.0' },
    session: 'm-17',
    worker: null,
    limits: null,
  };

  it('round-trips with limits and worker as nil', () => {
    const frame = encode(welcome);
    expectStandard(frame, welcome);
    expect(decodeServerMessage(frame)).toEqual({ ok: true, value: welcome });
  });

  it('refuses limits that are present but incomplete (e.g. leaseMs 0)', () => {
    const frame = encode({ ...welcome, limits: { maxChunk: 0, window: 0, prefetch: 1, heartbeatMs: 250, leaseMs: 0, maxFrame: 4096 } });
    const r = decodeServerMessage(frame);
    expect(r.ok ? null : r.error.code).toBe(ErrorCode.badMessage);
  });
});
