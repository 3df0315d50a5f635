/**
 * The disk tier's on-disk format: one file per block, a self-describing header (file id, block,
 * block size, length, CRC-32 of the data and of the header), and the hashed file names.
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';

/*
 * Layout (little endian):
 *   0  "ESSB"           magic
 *   4  u16 version (1)
 *   6  u16 id length    bytes of the UTF-8 file id that follow the fixed header
 *   8  u32 block size   the cache's block size when the block was written
 *  12  u32 data length
 *  16  f64 block       block index in the file (a safe integer)
 *  24  u32 data CRC-32
 *  28  u32 header CRC-32 over bytes 0..27 and the id
 *  32  id bytes, then the data
 */
const MAGIC = 0x42535345; // "ESSB" read as u32 LE
const VERSION = 1;
export const FIXED_HEADER = 32;
const MAX_ID_BYTES = 0xffff;

export interface BlockHeader {
  readonly id: string;
  readonly block: number;
  readonly blockSize: number;
  readonly dataLength: number;
  readonly dataCrc: number;
  /** Fixed header plus id: where the data starts. */
  readonly headerLength: number;
}

/** Name of a block's file: a hash of (block size, file id, block), so any id is safe as a file name. */
export function blockHash(blockSize: number, id: string, block: number): string {
  return createHash('sha256').update(`${blockSize}\0${id}\0${block}`).digest('hex').slice(0, 40);
}

/** Path of a block file relative to the tier's directory: 256 fan-out directories by the hash's first byte. */
export function blockRelPath(hash: string): string {
  return `${hash.slice(0, 2)}/${hash}.blk`;
}

export const BLOCK_FILE = /^([0-9a-f]{40})\.blk$/;

/** The header to write before `data`. */
export function encodeHeader(id: string, block: number, blockSize: number, data: Buffer): Buffer {
  const idBytes = Buffer.from(id, 'utf8');
  if (idBytes.length > MAX_ID_BYTES) throw new RangeError(`file id longer than ${MAX_ID_BYTES} bytes`);
  const h = Buffer.alloc(FIXED_HEADER + idBytes.length);
  h.writeUInt32LE(MAGIC, 0);
  h.writeUInt16LE(VERSION, 4);
  h.writeUInt16LE(idBytes.length, 6);
  h.writeUInt32LE(blockSize, 8);
  h.writeUInt32LE(data.length, 12);
  h.writeDoubleLE(block, 16);
  h.writeUInt32LE(crc32(data), 24);
  idBytes.copy(h, FIXED_HEADER);
  h.writeUInt32LE(headerCrc(h), 28);
  return h;
}

function headerCrc(h: Buffer): number {
  return crc32(h.subarray(FIXED_HEADER), crc32(h.subarray(0, 28)));
}

/** Length of the whole header given its fixed part, or null if that part is not a block header. */
export function headerLength(fixed: Buffer): number | null {
  if (fixed.length < FIXED_HEADER || fixed.readUInt32LE(0) !== MAGIC || fixed.readUInt16LE(4) !== VERSION) return null;
  return FIXED_HEADER + fixed.readUInt16LE(6);
}

/** Decodes and checks a complete header (fixed part and id); null if damaged. */
export function decodeHeader(h: Buffer): BlockHeader | null {
  const length = headerLength(h);
  if (length === null || h.length < length) return null;
  const full = h.subarray(0, length);
  if (full.readUInt32LE(28) !== headerCrc(full)) return null;
  const block = full.readDoubleLE(16);
  if (!Number.isSafeInteger(block) || block < 0) return null;
  return {
    id: full.toString('utf8', FIXED_HEADER, length),
    block,
    blockSize: full.readUInt32LE(8),
    dataLength: full.readUInt32LE(12),
    dataCrc: full.readUInt32LE(24),
    headerLength: length,
  };
}

/** Whether `data` is what the header says it is. */
export function dataMatches(header: BlockHeader, data: Buffer): boolean {
  return data.length === header.dataLength && crc32(data) === header.dataCrc;
}
