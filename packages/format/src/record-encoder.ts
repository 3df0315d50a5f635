/**
 * The pieces of generated event records that are laid out by hand around the shared
 * MsgpackWriter (msgpack-writer.ts): pre-encoded map keys and the bin field that pads a record to its
 * exact size. See docs/FORMAT.md.
 */

/** Pre-encodes an ASCII map key as a fixstr (keys are short: < 32 bytes), for MsgpackWriter.raw. */
export function encodeKey(key: string): Buffer {
  const body = Buffer.from(key, 'latin1');
  if (body.length >= 32) throw new Error(`key too long for a fixstr: ${key}`);
  return Buffer.concat([Buffer.from([0xa0 | body.length]), body]);
}

/**
 * Size of the bin header {@link binHeader} writes for a payload that makes the bin field
 * (header + data) exactly `fieldSize` bytes, fieldSize >= 2.
 */
export function binLayout(fieldSize: number): { header: number; length: number } {
  // bin 8 (2-byte header) covers fields of 2..257 bytes, bin 16 (3) the next 65536 sizes,
  // bin 32 (5) the rest. bin 16 with 255 bytes and bin 32 with 65534 or 65535 bytes are not
  // the shortest encodings of those lengths, but they are valid MessagePack and let every
  // record size be hit exactly.
  if (fieldSize - 2 <= 0xff) return { header: 2, length: fieldSize - 2 };
  if (fieldSize - 3 <= 0xffff) return { header: 3, length: fieldSize - 3 };
  return { header: 5, length: fieldSize - 5 };
}

/** Writes a bin header of the given size (2, 3 or 5 bytes) for `length` bytes at `at`. */
export function writeBinHeader(buf: Buffer, at: number, header: number, length: number): void {
  if (header === 2) {
    buf[at] = 0xc4;
    buf[at + 1] = length;
  } else if (header === 3) {
    buf[at] = 0xc5;
    buf.writeUInt16BE(length, at + 1);
  } else {
    buf[at] = 0xc6;
    buf.writeUInt32BE(length, at + 1);
  }
}
