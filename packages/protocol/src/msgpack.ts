/**
 * Standard MessagePack through msgpackr, for the wire and for files alike: plain maps, no
 * records or extensions, integers beyond 32 bits written as (u)int 64 and read as numbers.
 */
import { Packr, type Options } from 'msgpackr';

// `skipValues` is implemented by msgpackr 2 but missing from its typings.
const options: Options & { skipValues: unknown[] } = {
  useRecords: false,
  moreTypes: false,
  mapsAsObjects: true,
  int64AsType: 'number',
  // Leave out absent optional fields rather than encoding `undefined` as an extension.
  skipValues: [undefined],
};

const packr = new Packr(options);

/**
 * Encodes a value as standard MessagePack. msgpackr writes integers beyond 32 bits as float 64;
 * this first turns every safe integer >= 2^32 or < -2^31 into a BigInt so that it is written as
 * a (u)int 64 instead, which every MessagePack library reads back as an integer.
 */
export function packStandard(value: unknown): Buffer {
  return packr.pack(widenIntegers(value));
}

/** Decodes one MessagePack value. */
export function unpackStandard(bytes: Uint8Array): unknown {
  return packr.unpack(bytes);
}

/** Decodes a sequence of back-to-back MessagePack values. */
export function unpackStandardAll(bytes: Uint8Array): unknown[] {
  return packr.unpackMultiple(bytes) as unknown[];
}

function isWide(v: number): boolean {
  return (v >= 0x1_0000_0000 || v < -0x8000_0000) && Number.isSafeInteger(v);
}

function widenIntegers(value: unknown): unknown {
  if (typeof value === 'number') return isWide(value) ? BigInt(value) : value;
  if (Array.isArray(value)) {
    // Fast path for the footer's long integer arrays: copy only when something must change.
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      const w = typeof v === 'number' ? (isWide(v) ? BigInt(v) : v) : widenIntegers(v);
      if (w !== v) {
        copy ??= value.slice();
        copy[i] = w;
      }
    }
    return copy ?? value;
  }
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    let copy: Record<string, unknown> | undefined;
    for (const [k, v] of Object.entries(value)) {
      const w = widenIntegers(v);
      if (w !== v) {
        copy ??= { ...(value as Record<string, unknown>) };
        copy[k] = w;
      }
    }
    return copy ?? value;
  }
  return value;
}
