/**
 * One range on its way to a worker: its chunk plan, frames read straight from the data path
 * into the wire buffer (one copy), and the running CRC-32 that the end marker carries.
 */
import { crc32 } from 'node:zlib';
import { allocChunkFrame, type End } from '@ess/protocol';
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

export class RangeStream {
  private crc = 0;
  private sentChunks = 0;
  private sentBytes = 0;
  private sentEvents = 0;

  constructor(
    readonly eventRangeID: string,
    readonly chunks: readonly ChunkSpec[],
    private readonly reader: SpanReader,
    readonly totalBytes: number,
    /** Events read from the source for the range (all of them, before any skim). */
    readonly eventsRead: number,
  ) {}

  /** Reads chunk `seq` into a ready-to-send frame. Chunks may be prepared out of order. */
  async prepare(seq: number): Promise<PreparedChunk> {
    const spec = this.chunks[seq];
    if (!spec) throw new Error(`${this.eventRangeID}: no chunk ${seq}`);
    const { frame, data } = allocChunkFrame(
      { range: this.eventRangeID, seq, offset: spec.offset, entries: [...spec.entries], sizes: [...spec.sizes] },
      spec.length,
    );
    const receipt = await this.reader.read(spec.offset, spec.length, data);
    return { spec, frame, data, receipt };
  }

  /** Records that a chunk went out; must be called in sequence order. */
  sent(chunk: PreparedChunk): void {
    if (chunk.spec.seq !== this.sentChunks) {
      throw new Error(`${this.eventRangeID}: chunk ${chunk.spec.seq} sent out of order (expected ${this.sentChunks})`);
    }
    this.crc = crc32(chunk.data, this.crc);
    this.sentChunks++;
    this.sentBytes += chunk.spec.length;
    this.sentEvents += chunk.spec.entries.length;
  }

  get allSent(): boolean {
    return this.sentChunks === this.chunks.length;
  }

  get nextSeq(): number {
    return this.sentChunks;
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
