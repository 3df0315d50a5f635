/**
 * Turns an event range into a RangeStream: resolves (file, first..last) to one byte span
 * through the catalogue's event index, plans the chunks, and wires the span to the data path.
 */
import type { Catalogue, CatalogueFile } from '../catalogue/index.js';
import { planChunks } from './ChunkPlan.js';
import { RangeStream, type ReadReceipt } from './RangeStream.js';

/** The data path below the marshaller: reads bytes of a file (from a source, or through the cache). */
export interface DataReader {
  read(file: CatalogueFile, offset: number, length: number, into: Buffer): Promise<ReadReceipt>;
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

  /** The payload bytes a range will carry (for `assign`), from the event index alone. */
  async rangeBytes(req: Omit<RangeRequest, 'eventRangeID'>): Promise<number> {
    const file = this.catalogue.file(req.dataset, req.file);
    const { index } = await this.catalogue.eventFile(file);
    return index.span(req.startEvent, req.lastEvent).length;
  }

  async open(req: RangeRequest, maxChunk: number): Promise<RangeStream> {
    const file = this.catalogue.file(req.dataset, req.file);
    const { index } = await this.catalogue.eventFile(file);
    const span = index.span(req.startEvent, req.lastEvent);
    const entries: number[] = [];
    const sizes: number[] = [];
    for (let i = span.firstIndex; i <= span.lastIndex; i++) {
      entries.push(index.entryAt(i));
      sizes.push(index.sizeOf(i));
    }
    const chunks = planChunks(entries, sizes, maxChunk);
    const reader = {
      read: (offset: number, length: number, into: Buffer) => this.reader.read(file, span.offset + offset, length, into),
    };
    return new RangeStream(req.eventRangeID, chunks, reader, span.length, entries.length);
  }
}
