/**
 * A minimal, fully specified MessagePack writer for generated event records, so their bytes
 * depend on nothing but this file (not on a library's encoding choices): see docs/FORMAT.md.
 */

/**
 * Growable output buffer with the handful of MessagePack types event records use. Every
 * choice is the smallest standard encoding, except that real-valued fields are always
 * float 32 (0xca), even when the value happens to be integral.
 */
export class RecordEncoder {
  private buf: Buffer;
  private view: DataView;
  pos = 0;

  constructor(initialSize = 16 * 1024) {
    this.buf = Buffer.allocUnsafe(initialSize);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  /** Starts a new record, reusing the buffer. */
  reset(): void {
    this.pos = 0;
  }

  /** The bytes written since the last reset (a view: copy before the next reset). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  /** fixmap / map 16 / map 32 header. */
  map(n: number): void {
    this.room(5);
    if (n < 16) this.buf[this.pos++] = 0x80 | n;
    else if (n < 0x10000) {
      this.buf[this.pos++] = 0xde;
      this.view.setUint16(this.pos, n);
      this.pos += 2;
    } else {
      this.buf[this.pos++] = 0xdf;
      this.view.setUint32(this.pos, n);
      this.pos += 4;
    }
  }

  /** fixarray / array 16 / array 32 header. */
  array(n: number): void {
    this.room(5);
    if (n < 16) this.buf[this.pos++] = 0x90 | n;
    else if (n < 0x10000) {
      this.buf[this.pos++] = 0xdc;
      this.view.setUint16(this.pos, n);
      this.pos += 2;
    } else {
      this.buf[this.pos++] = 0xdd;
      this.view.setUint32(this.pos, n);
      this.pos += 4;
    }
  }

  /** A pre-encoded string (see {@link encodeKey}). */
  raw(bytes: Uint8Array): void {
    this.room(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** Integer (safe range): positive fixint, uint 8/16/32/64, negative fixint, int 8/16/32/64. */
  int(n: number): void {
    this.room(9);
    const b = this.buf;
    if (n >= 0) {
      if (n < 0x80) b[this.pos++] = n;
      else if (n < 0x100) {
        b[this.pos++] = 0xcc;
        b[this.pos++] = n;
      } else if (n < 0x10000) {
        b[this.pos++] = 0xcd;
        this.view.setUint16(this.pos, n);
        this.pos += 2;
      } else if (n < 0x1_0000_0000) {
        b[this.pos++] = 0xce;
        this.view.setUint32(this.pos, n);
        this.pos += 4;
      } else {
        b[this.pos++] = 0xcf;
        this.view.setBigUint64(this.pos, BigInt(n));
        this.pos += 8;
      }
    } else if (n >= -32) b[this.pos++] = n & 0xff;
    else if (n >= -0x80) {
      b[this.pos++] = 0xd0;
      this.view.setInt8(this.pos++, n);
    } else if (n >= -0x8000) {
      b[this.pos++] = 0xd1;
      this.view.setInt16(this.pos, n);
      this.pos += 2;
    } else if (n >= -0x8000_0000) {
      b[this.pos++] = 0xd2;
      this.view.setInt32(this.pos, n);
      this.pos += 4;
    } else {
      b[this.pos++] = 0xd3;
      this.view.setBigInt64(this.pos, BigInt(n));
      this.pos += 8;
    }
  }

  /** float 32 (the value is rounded to single precision). */
  f32(x: number): void {
    this.room(5);
    this.buf[this.pos++] = 0xca;
    this.view.setFloat32(this.pos, x);
    this.pos += 4;
  }
}

/** Pre-encodes an ASCII map key as a fixstr (keys are short: < 32 bytes). */
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
