/**
 * Virtual event files: the exact bytes `ess gen` (generateDataset) would write for one file of
 * a generated dataset, produced on request instead of read from storage. The layout (event
 * sizes, offsets, footer, trailer) is computed once per file without generating payloads;
 * a read generates only the events that overlap the requested span.
 *
 * Why sizes are cheap: the generator draws a target size first, then builds the record
 * without payload ("head") and pads it with a bin payload to the target, so a record is
 * exactly max(target, head + 2) bytes. The head depends only on the physics draws, never on
 * sizeMean, so generating the event with sizeMean = 1 (an empty payload) gives head + 2; the
 * target needs one or two draws from the same stream. No payload is ever generated for the
 * index. Any generated record whose length disagrees with the layout makes read() throw,
 * so a generator change that breaks this reasoning cannot go unnoticed.
 */
import { packStandard } from '@ess/protocol';
import { DATA_START, FILE_MAGIC, FOOTER_FORMAT, FORMAT_VERSION, TRAILER_MAGIC, TRAILER_SIZE } from './constants.js';
import { generatedFileMeta } from './dataset.js';
import { FileIndex, type Footer } from './file-index.js';
import { MAX_SIZE_FACTOR, eventIds, fileGuid, fileLfn, generateEvent, normalizeGenParams, type GenParams } from './generator.js';
import { Xoshiro128, exp, ln, splitUint53 } from './prng.js';

/** The generator's physics PRNG stream number (generator.ts, STREAM_PHYSICS). */
const STREAM_PHYSICS = 1;

type Params = GenParams & { sizeSigma: number };

/** The generator's target record size of one event (generator.ts, drawTargetSize), drawn alone. */
function targetSize(p: Params, fileIndex: number, entry: number): number {
  const mean = p.sizeMean;
  if (p.sizeDist === 'fixed') return mean;
  const [sLo, sHi] = splitUint53(p.seed);
  const [eLo, eHi] = splitUint53(entry);
  const rng = Xoshiro128.fromKey([sLo, sHi, fileIndex, eLo, eHi, STREAM_PHYSICS]);
  let t: number;
  if (p.sizeDist === 'exp') t = rng.exponential(mean);
  else {
    const sigma = p.sizeSigma;
    t = exp(ln(mean) - (sigma * sigma) / 2 + sigma * rng.normal());
  }
  return Math.min(Math.round(t), MAX_SIZE_FACTOR * mean);
}

/** Layout of one virtual file: everything but the event payloads. */
export interface VirtualLayout {
  offsets: number[];
  runs: number[];
  events: number[];
}

/** Computes sizes, ids and offsets of events [from, to) into `l` (offsets[from] must be set). */
function layoutSlice(p: Params, headParams: Params, fileIndex: number, from: number, to: number, l: VirtualLayout): void {
  for (let e = from; e < to; e++) {
    const target = targetSize(p, fileIndex, e);
    // With sizeMean = 1 the record is the head plus an empty bin field (2 bytes).
    const minimal = generateEvent(headParams, fileIndex, e).length;
    const ids = eventIds(p, fileIndex, e);
    l.runs[e] = ids.run;
    l.events[e] = ids.event;
    l.offsets[e + 1] = l.offsets[e]! + Math.max(target, minimal);
  }
}

function newLayout(count: number): VirtualLayout {
  const offsets = new Array<number>(count + 1);
  offsets[0] = DATA_START;
  return { offsets, runs: new Array<number>(count), events: new Array<number>(count) };
}

/** Events computed between two yields to the event loop in {@link VirtualFile.build}. */
const BUILD_SLICE = 2048;

const CACHE_MAX = 64;
const cache = new Map<string, VirtualFile>();

/**
 * One file of a generated dataset, byte-identical to `generateDataset`'s output for the same
 * parameters, readable at any offset without storage.
 */
export class VirtualFile {
  readonly params: Readonly<Params>;
  readonly fileIndex: number;
  readonly dataset: string;
  readonly lfn: string;
  readonly guid: string;
  /** Number of events. */
  readonly count: number;
  /** count + 1 absolute offsets, as in the footer. */
  readonly offsets: readonly number[];
  /** Where the footer starts (= end of the event data). */
  readonly footerOffset: number;
  /** The footer bytes, exactly as the writer packs them. */
  readonly footer: Buffer;
  readonly trailer: Buffer;
  /** Total file size in bytes. */
  readonly size: number;
  private readonly footerValue: Footer;
  private fileIdx: FileIndex | undefined;

  /**
   * Computes the layout synchronously (about 2 to 10 µs per event, see docs); use
   * {@link VirtualFile.build} for large files to keep the event loop responsive, or
   * {@link VirtualFile.get} for a cached instance.
   */
  constructor(params: GenParams, fileIndex: number, layout?: VirtualLayout) {
    const p = normalizeGenParams(params);
    if (!Number.isSafeInteger(fileIndex) || fileIndex < 0 || fileIndex >= p.files) {
      throw new RangeError(`fileIndex ${fileIndex} is outside the dataset (0..${p.files - 1})`);
    }
    this.params = p;
    this.fileIndex = fileIndex;
    this.dataset = `${p.scope}:${p.name}`;
    this.lfn = fileLfn(p, fileIndex);
    this.guid = fileGuid(p, fileIndex);
    this.count = p.eventsPerFile;
    let l = layout;
    if (l === undefined) {
      l = newLayout(this.count);
      layoutSlice(p, { ...p, sizeMean: 1 }, fileIndex, 0, this.count, l);
    }
    this.offsets = l.offsets;
    this.footerOffset = l.offsets[this.count]!;
    // Same keys, same order, same absent keys as EventFileWriter.buildFooter for a generated file.
    this.footerValue = {
      format: FOOTER_FORMAT,
      version: FORMAT_VERSION,
      scope: p.scope,
      dataset: this.dataset,
      lfn: this.lfn,
      guid: this.guid,
      count: this.count,
      offsets: l.offsets,
      firstEntry: 0,
      entries: undefined,
      runs: l.runs,
      events: l.events,
      meta: generatedFileMeta(p, fileIndex),
    };
    this.footer = packStandard(this.footerValue);
    this.trailer = Buffer.alloc(TRAILER_SIZE);
    this.trailer.writeBigUInt64LE(BigInt(this.footerOffset), 0);
    TRAILER_MAGIC.copy(this.trailer, 8);
    this.size = this.footerOffset + this.footer.length + TRAILER_SIZE;
  }

  /** Builds the layout in slices, yielding to the event loop between them. */
  static async build(params: GenParams, fileIndex: number): Promise<VirtualFile> {
    const p = normalizeGenParams(params);
    if (!Number.isSafeInteger(fileIndex) || fileIndex < 0 || fileIndex >= p.files) {
      throw new RangeError(`fileIndex ${fileIndex} is outside the dataset (0..${p.files - 1})`);
    }
    const l = newLayout(p.eventsPerFile);
    const head = { ...p, sizeMean: 1 };
    for (let from = 0; from < p.eventsPerFile; from += BUILD_SLICE) {
      if (from > 0) await new Promise<void>((r) => setImmediate(r));
      layoutSlice(p, head, fileIndex, from, Math.min(p.eventsPerFile, from + BUILD_SLICE), l);
    }
    return new VirtualFile(p, fileIndex, l);
  }

  /** A cached instance (the last 64 files used, process-wide), built synchronously on a miss. */
  static get(params: GenParams, fileIndex: number): VirtualFile {
    const key = `${JSON.stringify(normalizeGenParams(params))}#${fileIndex}`;
    let f = cache.get(key);
    if (f !== undefined) {
      cache.delete(key);
    } else {
      f = new VirtualFile(params, fileIndex);
      if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
    }
    cache.set(key, f);
    return f;
  }

  /** The event index (what EventFile.open would read from the footer), without any read. */
  index(): FileIndex {
    this.fileIdx ??= new FileIndex(this.footerValue);
    return this.fileIdx;
  }

  /** Size in bytes of the event at position i. */
  eventSize(i: number): number {
    return this.offsets[i + 1]! - this.offsets[i]!;
  }

  /**
   * Positions [first, end) of the events overlapping bytes [offset, offset + length)
   * (first === end when the span holds no event data).
   */
  eventsIn(offset: number, length: number): [number, number] {
    const lo = Math.max(offset, DATA_START);
    const hi = Math.min(offset + length, this.footerOffset);
    if (lo >= hi) return [0, 0];
    return [this.positionAt(lo), this.positionAt(hi - 1) + 1];
  }

  /** Position of the event holding absolute byte `at` (DATA_START <= at < footerOffset). */
  private positionAt(at: number): number {
    const o = this.offsets;
    let lo = 0;
    let hi = this.count - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (o[mid]! <= at) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /**
   * Exactly `length` bytes at `offset`, written into `into` (or a new buffer), generating only
   * the events that overlap the span. Throws a RangeError for a span outside the file.
   */
  read(offset: number, length: number, into?: Buffer): Buffer {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new RangeError(`${this.lfn}: read of ${length} bytes at ${offset} is outside the file (${this.size} bytes)`);
    }
    const dest = into ?? Buffer.allocUnsafe(length);
    if (dest.length < length) throw new RangeError(`${this.lfn}: buffer of ${dest.length} bytes is too small for ${length}`);
    const end = offset + length;
    // Copies the part of `src` (which starts at absolute `at`) that lies in [offset, end).
    const put = (src: Uint8Array, at: number): void => {
      const from = Math.max(offset, at);
      const to = Math.min(end, at + src.length);
      if (from < to) dest.set(src.subarray(from - at, to - at), from - offset);
    };
    if (offset < DATA_START) put(FILE_MAGIC, 0);
    const [first, last] = this.eventsIn(offset, length);
    const p = this.params;
    for (let i = first; i < last; i++) {
      const rec = generateEvent(p, this.fileIndex, i);
      if (rec.length !== this.eventSize(i)) {
        throw new Error(`${this.lfn}: generated event ${i} has ${rec.length} bytes but the virtual layout says ${this.eventSize(i)} (generator and virtual.ts out of step)`);
      }
      put(rec, this.offsets[i]!);
    }
    if (end > this.footerOffset) {
      put(this.footer, this.footerOffset);
      put(this.trailer, this.footerOffset + this.footer.length);
    }
    return dest;
  }
}
