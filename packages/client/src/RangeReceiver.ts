/**
 * One range arriving: checks that chunks come in order and contiguous, writes them to the range
 * file as they arrive, and at the end marker checks counts and the CRC-32 before closing the file.
 */
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { EventFileWriter, type WrittenFile } from '@ess/format';
import type { Chunk, End, EventRange } from '@ess/protocol';

export class RangeIntegrityError extends Error {}

/** What a receiver counted of a range's chunks. */
export interface Received {
  readonly chunks: number;
  readonly bytes: number;
  readonly events: number;
  readonly crc32: number;
}

/** How the end marker disagrees with what arrived (empty when it agrees), in words a person can act on. */
export function endMismatches(end: End, got: Received): string[] {
  const problems: string[] = [];
  if (end.chunks !== got.chunks) problems.push(`${got.chunks} chunks arrived, the server sent ${end.chunks}`);
  if (end.bytes !== got.bytes) problems.push(`${got.bytes} bytes arrived, the server sent ${end.bytes}`);
  if (end.events !== got.events) problems.push(`${got.events} events arrived, the server sent ${end.events}`);
  if (end.crc32 !== got.crc32 >>> 0) problems.push(`CRC-32 ${got.crc32 >>> 0} differs from the server's ${end.crc32}`);
  return problems;
}

/** Where a range's file goes: `<outDir>/<eventRangeID>.ess`. */
export function rangeFilePath(outDir: string, eventRangeID: string): string {
  return join(outDir, `${eventRangeID}.ess`);
}

export class RangeReceiver {
  readonly path: string;
  private readonly writer: Promise<EventFileWriter>;
  private nextSeq = 0;
  private nextOffset = 0;
  private crc = 0;
  private events = 0;
  private chain: Promise<void> = Promise.resolve();
  private failed: Error | null = null;

  constructor(
    readonly range: EventRange,
    readonly token: string,
    outDir: string,
  ) {
    this.path = rangeFilePath(outDir, range.eventRangeID);
    this.writer = EventFileWriter.create(this.path, {
      dataset: range.dataset,
      lfn: range.LFN,
      guid: range.GUID,
      meta: {
        eventRangeID: range.eventRangeID,
        taskID: range.taskID,
        scope: range.scope,
        startEvent: range.startEvent,
        lastEvent: range.lastEvent,
        attempt: range.attempt,
      },
    });
    this.writer.catch((e: unknown) => {
      this.failed = e as Error;
    });
  }

  /** What arrived so far (whole chunks), as a reconnecting worker tells the server in `hello.resume`. */
  progress(): { bytes: number; chunks: number; crc32: number } {
    return { bytes: this.nextOffset, chunks: this.nextSeq, crc32: this.crc >>> 0 };
  }

  /**
   * Takes a chunk: checks its place in the range, then queues its write. The returned promise
   * resolves once the bytes are written (the moment to release their credit).
   */
  accept(chunk: Chunk): Promise<void> {
    if (chunk.seq !== this.nextSeq || chunk.offset !== this.nextOffset) {
      throw new RangeIntegrityError(
        `${this.range.eventRangeID}: chunk ${chunk.seq} at offset ${chunk.offset}, expected chunk ${this.nextSeq} at ${this.nextOffset}`,
      );
    }
    if (chunk.entries.length !== chunk.sizes.length) throw new RangeIntegrityError(`${this.range.eventRangeID}: chunk ${chunk.seq} index is malformed`);
    this.nextSeq++;
    this.nextOffset += chunk.data.length;
    this.crc = crc32(chunk.data, this.crc);
    this.events += chunk.entries.length;
    const write = this.chain.then(async () => {
      const w = await this.writer;
      if (chunk.entries.length > 0) w.addEntries(chunk.entries, chunk.sizes);
      await w.writeData(chunk.data);
    });
    this.chain = write.catch((e: unknown) => {
      this.failed ??= e as Error;
    });
    return write;
  }

  /** Checks the end marker against what arrived and closes the file. */
  async finish(end: End): Promise<WrittenFile> {
    await this.chain;
    if (this.failed) throw this.failed;
    const problems = endMismatches(end, { chunks: this.nextSeq, bytes: this.nextOffset, events: this.events, crc32: this.crc });
    if (problems.length > 0) {
      await this.abort();
      throw new RangeIntegrityError(`${this.range.eventRangeID}: ${problems.join('; ')}`);
    }
    return (await this.writer).close();
  }

  /** Drops what arrived and removes the partial file. */
  async abort(): Promise<void> {
    await this.chain;
    try {
      await (await this.writer).abort();
    } catch {
      // The file may not exist (creation failed); nothing to clean.
    }
  }
}
