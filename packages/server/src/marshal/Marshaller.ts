/**
 * Turns an event range into a RangeStream: resolves (file, first..last) to one byte span
 * through the catalogue's event index, plans the chunks, and wires the span to the data path.
 */
import type { Catalogue, CatalogueFile } from '../catalogue/index.js';
import { planChunks } from './ChunkPlan.js';
import { RangeStream, type ReadReceipt, type StreamResume } from './RangeStream.js';

/** The data path below the marshaller: reads bytes of a file (from the replicas, or through the cache). */
export interface DataReader {
  read(file: CatalogueFile, offset: number, length: number, into: Buffer): Promise<ReadReceipt>;
  /** Keeps a span's data at hand while a range streams (the cache pins it); absent without a cache. */
  pin?(file: CatalogueFile, offset: number, length: number): { release(): void };
}

/** Where a range's bytes are: its file and one contiguous span in it. */
export interface RangeSpan {
  readonly file: CatalogueFile;
  readonly offset: number;
  readonly length: number;
}

export interface RangeRequest {
  readonly eventRangeID: string;
  readonly dataset: string;
  readonly file: number;
  readonly startEvent: number;
  readonly lastEvent: number;
}

export class Marshaller {
  constructor(
    private readonly catalogue: Catalogue,
    private readonly reader: DataReader,
  ) {}

  /** Where a range's bytes are, from the event index alone (for prefetch). */
  async locate(req: Omit<RangeRequest, 'eventRangeID'>): Promise<RangeSpan> {
    const file = this.catalogue.file(req.dataset, req.file);
    const { index } = await this.catalogue.eventFile(file);
    const span = index.span(req.startEvent, req.lastEvent);
    return { file, offset: span.offset, length: span.length };
  }

  /**
   * Opens a range's stream; with `resume`, only what follows the bytes the worker already holds
   * (which must end on a chunk boundary of the earlier plan, as whole chunks do).
   */
  async open(req: RangeRequest, maxChunk: number, resume?: Omit<StreamResume, 'events'>): Promise<RangeStream> {
    const file = this.catalogue.file(req.dataset, req.file);
    const { index } = await this.catalogue.eventFile(file);
    const span = index.span(req.startEvent, req.lastEvent);
    const entries: number[] = [];
    const sizes: number[] = [];
    let eventsHeld = 0;
    let at = 0;
    for (let i = span.firstIndex; i <= span.lastIndex; i++) {
      entries.push(index.entryAt(i));
      sizes.push(index.sizeOf(i));
      if (resume && at < resume.bytes) eventsHeld++;
      at += index.sizeOf(i);
    }
    if (resume && resume.bytes > span.length) throw new RangeError(`${req.eventRangeID}: cannot resume at byte ${resume.bytes} of ${span.length}`);
    const chunks = planChunks(entries, sizes, maxChunk, { byte: resume?.bytes ?? 0, seq: resume?.chunks ?? 0 });
    const reader = {
      read: (offset: number, length: number, into: Buffer) => this.reader.read(file, span.offset + offset, length, into),
    };
    // Pinned from now until the stream closes, so nothing evicts it between prefetch and send.
    const pin = this.reader.pin?.(file, span.offset + (resume?.bytes ?? 0), span.length - (resume?.bytes ?? 0));
    return new RangeStream(req.eventRangeID, chunks, reader, span.length, entries.length, resume && { ...resume, events: eventsHeld }, pin);
  }
}
