/**
 * One range on its way to a worker: its chunk plan, frames read straight from the data path
 * into the wire buffer (one copy), and the running CRC-32 that the end marker carries.
 */
import { crc32 } from 'node:zlib';
import { allocChunkFrame, type End, type RangeContent } from '@ess/protocol';
import type { ChunkSpec } from './ChunkPlan.js';

/** Where a range's bytes come from: reads `length` bytes at `offset` of the range's span into `into`. */
export interface SpanReader {
  read(offset: number, length: number, into: Buffer): Promise<ReadReceipt>;
}

/** How a read was served, for per-worker cache figures. */
export interface ReadReceipt {
  readonly hitBytes: number;
  readonly missBytes: number;
}

export interface PreparedChunk {
  readonly spec: ChunkSpec;
  readonly frame: Buffer;
  /** View of the payload inside `frame`. */
  readonly data: Buffer;
  readonly receipt: ReadReceipt;
}

/** What a worker already holds of a range, when its stream resumes mid-range. */
export interface StreamResume {
  readonly bytes: number;
  readonly chunks: number;
  readonly crc32: number;
  /** Events that began in the bytes already held. */
  readonly events: number;
}

export class RangeStream {
  private crc: number;
  private sentChunks: number;
  private sentBytes: number;
  private sentEvents: number;
  /** Index in `chunks` of the next chunk to send. */
  private next = 0;

  constructor(
    readonly eventRangeID: string,
    /** The chunks still to send (all of them, or those after a resume point). */
    readonly chunks: readonly ChunkSpec[],
    private readonly reader: SpanReader,
    readonly totalBytes: number,
    /** Events read from the source for the range (all of them, before any skim). */
    readonly eventsRead: number,
    resume: StreamResume = { bytes: 0, chunks: 0, crc32: 0, events: 0 },
    /** What keeps the range's data at hand while it streams; released by `close`. */
    private readonly pin?: { release(): void },
    /** What the records are and which range file to write (for `assign`); absent for plain ESS records. */
    readonly content?: RangeContent,
    /** Memory for chunk frames (default: a fresh buffer each). */
    private readonly alloc?: (size: number) => Buffer,
  ) {
    this.crc = resume.crc32;
    this.sentChunks = resume.chunks;
    this.sentBytes = resume.bytes;
    this.sentEvents = resume.events;
  }

  /** Reads the chunk at position `i` of `chunks` into a ready-to-send frame. Chunks may be prepared out of order. */
  async prepare(i: number): Promise<PreparedChunk> {
    const spec = this.chunks[i];
    const seq = spec?.seq ?? -1;
    if (!spec) throw new Error(`${this.eventRangeID}: no chunk at ${i}`);
    const { frame, data } = allocChunkFrame(
      { range: this.eventRangeID, seq, offset: spec.offset, entries: [...spec.entries], sizes: [...spec.sizes] },
      spec.length,
      this.alloc,
    );
    const receipt = await this.reader.read(spec.offset, spec.length, data);
    return { spec, frame, data, receipt };
  }

  /** Records that a chunk went out; must be called in sequence order. */
  sent(chunk: PreparedChunk): void {
    if (chunk.spec !== this.chunks[this.next]) {
      throw new Error(`${this.eventRangeID}: chunk ${chunk.spec.seq} sent out of order (expected ${this.chunks[this.next]?.seq})`);
    }
    this.crc = crc32(chunk.data, this.crc);
    this.next++;
    this.sentChunks++;
    this.sentBytes += chunk.spec.length;
    this.sentEvents += chunk.spec.entries.length;
  }

  get allSent(): boolean {
    return this.next === this.chunks.length;
  }

  /** Position in `chunks` of the next chunk to send. */
  get nextIndex(): number {
    return this.next;
  }

  /** The stream is done with (sent, dropped, or its session ended): lets its data go. Idempotent. */
  close(): void {
    this.pin?.release();
  }

  /** The end marker, once every chunk is sent. */
  end(): End {
    return {
      type: 'end',
      range: this.eventRangeID,
      chunks: this.sentChunks,
      bytes: this.sentBytes,
      events: this.sentEvents,
      eventsRead: this.eventsRead,
      crc32: this.crc >>> 0,
    };
  }
}
