/**
 * A small, fully specified MessagePack writer: the generator's event records and the server's
 * records built from ROOT entries or slimmed from ESS records are written with it, so their
 * bytes depend on nothing but this file (not on a library's encoding choices): see
 * docs/FORMAT.md. Every choice is the smallest standard encoding; reals are written in the
 * width the caller asks for (f32 or f64), even when the value happens to be integral.
 */

/** A growable buffer of back-to-back MessagePack values. */
export class MsgpackWriter {
  private buf: Buffer;
  private view: DataView;
  pos = 0;

  constructor(initialSize = 16 * 1024) {
    this.buf = Buffer.allocUnsafe(Math.max(1, initialSize));
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  /** Starts over, reusing the buffer. */
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

  private header(n: number, fix: number, fixMax: number, m16: number, m32: number): void {
    this.room(5);
    if (n <= fixMax) this.buf[this.pos++] = fix | n;
    else if (n <= 0xffff) {
      this.buf[this.pos++] = m16;
      this.view.setUint16(this.pos, n);
      this.pos += 2;
    } else {
      this.buf[this.pos++] = m32;
      this.view.setUint32(this.pos, n);
      this.pos += 4;
    }
  }

  /** fixmap / map 16 / map 32 header for `n` key/value pairs. */
  map(n: number): void {
    this.header(n, 0x80, 15, 0xde, 0xdf);
  }

  /** fixarray / array 16 / array 32 header for `n` values. */
  array(n: number): void {
    this.header(n, 0x90, 15, 0xdc, 0xdd);
  }

  /** fixstr / str 8 / str 16 / str 32 holding `s` as UTF-8. */
  str(s: string): void {
    const n = Buffer.byteLength(s);
    this.room(5 + n);
    if (n < 32) this.buf[this.pos++] = 0xa0 | n;
    else if (n <= 0xff) {
      this.buf[this.pos++] = 0xd9;
      this.buf[this.pos++] = n;
    } else if (n <= 0xffff) {
      this.buf[this.pos++] = 0xda;
      this.view.setUint16(this.pos, n);
      this.pos += 2;
    } else {
      this.buf[this.pos++] = 0xdb;
      this.view.setUint32(this.pos, n);
      this.pos += 4;
    }
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  bool(b: boolean): void {
    this.room(1);
    this.buf[this.pos++] = b ? 0xc3 : 0xc2;
  }

  /** Integer (safe range): positive fixint, uint 8/16/32/64, negative fixint, int 8/16/32/64. */
  int(n: number): void {
    this.room(9);
    const b = this.buf;
    if (n >= 0) {
      if (n < 0x80) b[this.pos++] = n;
      else if (n <= 0xff) {
        b[this.pos++] = 0xcc;
        b[this.pos++] = n;
      } else if (n <= 0xffff) {
        b[this.pos++] = 0xcd;
        this.view.setUint16(this.pos, n);
        this.pos += 2;
      } else if (n <= 0xffff_ffff) {
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

  /** float 64. */
  f64(x: number): void {
    this.room(9);
    this.buf[this.pos++] = 0xcb;
    this.view.setFloat64(this.pos, x);
    this.pos += 8;
  }

  /** Bytes that already are MessagePack (a pre-encoded key, a copied map entry). */
  raw(bytes: Uint8Array): void {
    this.room(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }
}
