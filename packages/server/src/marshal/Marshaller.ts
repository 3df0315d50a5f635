/**
 * Turns an event range into a RangeStream: resolves (file, first..last) to one byte span
 * through the catalogue's event index, plans the chunks, and wires the span to the data path.
 * Ranges of ROOT files, and of ESS files with a skim or slim, are built in memory instead
 * (RecordRanges.ts) from what the data path reads.
 */
import type { Catalogue, CatalogueFile, Dataset } from '../catalogue/index.js';
import { planChunks } from './ChunkPlan.js';
import type { FramePool } from './FramePool.js';
import { RangeStream, type ReadReceipt, type StreamResume } from './RangeStream.js';
import { ESS_SCHEMA, rootSchema, type RecordSchema } from './RecordSchema.js';
import { BuiltSpan, buildEssRange, buildRootRange, rangeContent, type BuiltRange } from './RecordRanges.js';
import { RootTrees } from './RootTrees.js';
import { compileSelection, type Selection, type SelectionSpec } from './Selection.js';

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
  /** When only parts of the span are read (the baskets of a ROOT range): those parts, sorted. */
  readonly parts?: readonly { readonly offset: number; readonly length: number }[];
}

export interface RangeRequest {
  readonly eventRangeID: string;
  readonly dataset: string;
  readonly file: number;
  readonly startEvent: number;
  readonly lastEvent: number;
  /** The task's skim and slim (always set for ROOT files: it names the branches); null or absent: plain records. */
  readonly selection?: Selection | null | undefined;
}

export class Marshaller {
  /** ROOT files' trees, read through the data path. */
  readonly roots: RootTrees;
  /** Memory for chunk frames, or undefined for fresh buffers. */
  private readonly alloc: ((size: number) => Buffer) | undefined;
  /** Compiled selections by task. */
  private readonly selections = new Map<number, Promise<Selection | null>>();

  constructor(
    private readonly catalogue: Catalogue,
    private readonly reader: DataReader,
    /** Where chunk frames come from (the node's frame pool); fresh buffers without one. */
    frames?: FramePool,
  ) {
    this.roots = new RootTrees(reader);
    this.alloc = frames && ((size) => frames.take(size));
  }

  /** What a dataset's records hold: the ESS record fields, or the branches of its first file's TTree. */
  async schema(dataset: Dataset): Promise<RecordSchema> {
    const first = dataset.files[0];
    if (!first?.root) return ESS_SCHEMA;
    return rootSchema(await this.roots.open(first));
  }

  /**
   * Compiles a task's skim and slim against the dataset (SelectionError when they do not fit it).
   * Null for plain ESS records; for ROOT datasets always a selection (it names the branches read).
   */
  async compile(dataset: Dataset, spec: SelectionSpec): Promise<Selection | null> {
    const plain = (spec.skim ?? null) === null && (spec.slim ?? null) === null;
    if (plain && !dataset.files[0]?.root) return null;
    return compileSelection(await this.schema(dataset), spec);
  }

  /** The task's compiled selection, kept per task (tasks are immutable). */
  selectionFor(task: number, spec: SelectionSpec & { readonly dataset: string }): Promise<Selection | null> {
    let p = this.selections.get(task);
    if (!p) {
      p = this.compile(this.catalogue.require(spec.dataset), spec);
      p.catch(() => this.selections.delete(task));
      this.selections.set(task, p);
    }
    return p;
  }

  /** Where a range's bytes are, from the event index alone (for prefetch); for ROOT, the baskets of the branches read. */
  async locate(req: Omit<RangeRequest, 'eventRangeID'>): Promise<RangeSpan> {
    const file = this.catalogue.file(req.dataset, req.file);
    if (file.root) {
      const tree = await this.roots.open(file);
      const names = (req.selection?.reads ?? rootSchema(tree).fields.filter((f) => !f.refused)).map((f) => f.name);
      const parts = tree.basketSpans(names, req.startEvent, req.lastEvent);
      const offset = parts[0]?.offset ?? 0;
      const end = parts.reduce((n, p) => Math.max(n, p.offset + p.length), offset);
      return { file, offset, length: end - offset, parts };
    }
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
    if (file.root) {
      const sel = req.selection ?? (await this.compile(this.catalogue.require(req.dataset), {}))!;
      const built = await buildRootRange(await this.roots.open(file), sel, req.startEvent, req.lastEvent);
      return this.builtStream(req, built, sel, maxChunk, resume);
    }
    const { index } = await this.catalogue.eventFile(file);
    if (req.selection) {
      const built = await buildEssRange(this.reader, file, index, req.selection, req.startEvent, req.lastEvent);
      return this.builtStream(req, built, req.selection, maxChunk, resume);
    }
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
    return new RangeStream(req.eventRangeID, chunks, reader, span.length, entries.length, resume && { ...resume, events: eventsHeld }, pin, undefined, this.alloc);
  }

  /** A stream over a payload built in memory (the same bytes again after a resume: building is deterministic). */
  private builtStream(req: RangeRequest, built: BuiltRange, sel: Selection, maxChunk: number, resume?: Omit<StreamResume, 'events'>): RangeStream {
    const total = built.payload.length;
    if (resume && resume.bytes > total) throw new RangeError(`${req.eventRangeID}: cannot resume at byte ${resume.bytes} of ${total}`);
    let eventsHeld = 0;
    let at = 0;
    for (const size of built.sizes) {
      if (resume && at < resume.bytes) eventsHeld++;
      at += size;
    }
    const chunks = planChunks(built.entries, built.sizes, maxChunk, { byte: resume?.bytes ?? 0, seq: resume?.chunks ?? 0 });
    return new RangeStream(req.eventRangeID, chunks, new BuiltSpan(built), total, built.eventsRead, resume && { ...resume, events: eventsHeld }, undefined, rangeContent(sel), this.alloc);
  }
}
