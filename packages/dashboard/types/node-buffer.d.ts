/**
 * @ess/protocol's codec is compiled from source into this browser app, and its server-side helpers
 * name Node's Buffer in their signatures. The app is checked without Node's types, so this declares the
 * few members the codec uses. The browser never calls them (chunk framing is the server's).
 */
interface Buffer extends Uint8Array {
  copy(target: Uint8Array, targetStart?: number, sourceStart?: number, sourceEnd?: number): number;
  writeUInt32BE(value: number, offset?: number): number;
  subarray(start?: number, end?: number): Buffer;
}

interface BufferConstructor {
  alloc(size: number): Buffer;
  allocUnsafe(size: number): Buffer;
}

declare var Buffer: BufferConstructor;
