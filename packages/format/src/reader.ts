/**
 * EventFile, the reader: opens an event file from any ByteSource with one tail read, validates
 * trailer, footer and index, and reads any entry range as one contiguous span.
 */
import { DATA_START, FILE_MAGIC, TAIL_READ_SIZE, TRAILER_MAGIC, TRAILER_SIZE } from './constants.js';
import { FormatError } from './errors.js';
import { FileIndex, validateFooter, type Span } from './file-index.js';
import { openFileByteSource, type ByteSource } from './byte-source.js';
import { unpackStandard as unpack, unpackStandardAll as unpackAll } from '@ess/protocol';
import type { EventRecord } from './event-record.js';

function checkFileMagic(head: Buffer, where: string): void {
  if (head.subarray(0, 6).equals(FILE_MAGIC.subarray(0, 6)) && head[6] === 0 && head[7] !== FILE_MAGIC[7]) {
    throw new FormatError('unsupported_version', `${where}: format version ${head[7]} is not supported (this reader knows version ${FILE_MAGIC[7]})`);
  }
  if (!head.subarray(0, 8).equals(FILE_MAGIC)) {
    throw new FormatError('bad_magic', `${where}: not an ESS event file (the first 8 bytes are not "ESSEVT\\0\\x01")`);
  }
}

/** Decodes one event record (raw bytes as returned by readEvent) into an object. */
export function decodeEvent(buf: Uint8Array): EventRecord {
  let value: unknown;
  try {
    value = unpack(buf);
  } catch (e) {
    throw new FormatError('bad_record', `event record is not valid MessagePack: ${(e as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw new FormatError('bad_record', 'an event record must be a MessagePack map');
  }
  return value as EventRecord;
}

/** Decodes back-to-back event records (a span as returned by readSpan). */
export function decodeEvents(buf: Uint8Array): EventRecord[] {
  let values: unknown[];
  try {
    values = unpackAll(buf);
  } catch (e) {
    throw new FormatError('bad_record', `event records are not valid MessagePack: ${(e as Error).message}`);
  }
  for (const v of values) {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) {
      throw new FormatError('bad_record', 'an event record must be a MessagePack map');
    }
  }
  return values as EventRecord[];
}

/** Options of {@link EventFile.open}. */
export interface OpenOptions {
  /** Names the file in error messages (default: the footer's LFN once known, else "event file"). */
  name?: string;
}

/** A read-only event file: its index plus span/event reads through a ByteSource. */
export class EventFile {
  private headChecked: boolean;

  private constructor(
    readonly source: ByteSource,
    readonly index: FileIndex,
    /** Absolute offset of the footer (= end of event data). */
    readonly footerOffset: number,
    headChecked: boolean,
    private readonly name: string,
  ) {
    this.headChecked = headChecked;
  }

  /**
   * Opens an event file: one read of the last min(size, 64 KiB) bytes (plus one more read only
   * when the footer is larger than that). Throws FormatError for anything malformed. The file
   * magic at offset 0 is checked here when the tail read covers it (files up to 64 KiB), and
   * otherwise on the first read of a span that starts at the first event (it then costs 8
   * more bytes in the same read).
   */
  static async open(src: ByteSource, options: OpenOptions = {}): Promise<EventFile> {
    const where = options.name ?? 'event file';
    const size = src.size;
    if (size < DATA_START + TRAILER_SIZE) {
      throw new FormatError('truncated', `${where}: ${size} bytes is too short for an ESS event file (at least ${DATA_START + TRAILER_SIZE})`);
    }
    const tailLength = Math.min(size, TAIL_READ_SIZE);
    const tailStart = size - tailLength;
    let tail = await src.read(tailStart, tailLength);
    if (tailStart === 0) checkFileMagic(tail, where);

    if (!tail.subarray(tailLength - 8).equals(TRAILER_MAGIC)) {
      throw new FormatError('truncated', `${where}: no ESS trailer at the end of the file: the file is truncated or incomplete (or not an ESS event file)`);
    }
    const footerOffsetBig = tail.readBigUInt64LE(tailLength - TRAILER_SIZE);
    const footerEnd = size - TRAILER_SIZE;
    if (footerOffsetBig < BigInt(DATA_START) || footerOffsetBig >= BigInt(footerEnd)) {
      throw new FormatError('bad_trailer', `${where}: the trailer's footer offset ${footerOffsetBig} is outside the file (expected ${DATA_START}..${footerEnd - 1})`);
    }
    const footerOffset = Number(footerOffsetBig);
    if (footerOffset < tailStart) {
      // The footer is larger than the tail read: fetch the part before it.
      const head = await src.read(footerOffset, tailStart - footerOffset);
      tail = Buffer.concat([head, tail]);
    }
    const base = Math.min(footerOffset, tailStart);
    const footerBytes = tail.subarray(footerOffset - base, footerEnd - base);
    let footer: unknown;
    try {
      footer = unpack(footerBytes);
    } catch (e) {
      throw new FormatError('bad_footer', `${where}: the footer (${footerBytes.length} bytes at ${footerOffset}) is not valid MessagePack: ${(e as Error).message}`);
    }
    const index = new FileIndex(validateFooter(footer, footerOffset, where));
    return new EventFile(src, index, footerOffset, tailStart === 0, options.name ?? index.lfn);
  }

  /** The span (bytes and positions) of entries first..last; see {@link FileIndex.span}. */
  span(firstEntry: number, lastEntry: number): Span {
    return this.index.span(firstEntry, lastEntry);
  }

  /** Reads raw bytes at an absolute offset, checking the file magic when the read starts the data. */
  private async readAt(offset: number, length: number): Promise<Buffer> {
    if (length === 0) return Buffer.alloc(0);
    if (!this.headChecked && offset === DATA_START) {
      const buf = await this.source.read(0, DATA_START + length);
      checkFileMagic(buf, this.name);
      this.headChecked = true;
      return buf.subarray(DATA_START);
    }
    return this.source.read(offset, length);
  }

  /** The raw records of entries first..last, back to back, in one read. */
  async readSpan(firstEntry: number, lastEntry: number): Promise<Buffer> {
    const s = this.span(firstEntry, lastEntry);
    return this.readAt(s.offset, s.length);
  }

  /** The raw record bytes of one event, by entry. Throws a RangeError if the file lacks it. */
  async readEvent(entry: number): Promise<Buffer> {
    const i = this.index.indexOf(entry);
    if (i < 0) throw new RangeError(`${this.name}: entry ${entry} is not in the file`);
    return this.readAt(this.index.offsetOf(i), this.index.sizeOf(i));
  }

  /** Decodes one raw record into an object. */
  decodeEvent(buf: Uint8Array): EventRecord {
    return decodeEvent(buf);
  }

  /** Closes the underlying source if it can be closed. */
  async close(): Promise<void> {
    const closable = this.source as Partial<{ close(): Promise<void> }>;
    if (typeof closable.close === 'function') await closable.close();
  }
}

/** Opens a local event file; `close()` the result when done. */
export async function openEventFile(path: string): Promise<EventFile> {
  const src = await openFileByteSource(path);
  try {
    return await EventFile.open(src, { name: path });
  } catch (e) {
    await src.close();
    throw e;
  }
}
