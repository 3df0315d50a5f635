/**
 * The `virtual` source: events generated on request instead of read, byte-identical to what
 * `ess gen` writes for the same generator parameters (@ess/format VirtualFile). URLs are
 * `virtual:<scope>/<name>/<fileIndex>`; the dataset's GenParams are registered up front.
 *
 * Generation is CPU work on the event loop, so a read is cut into slices of whole events
 * (about `sliceBytes` each) with a yield between slices; `costPerEventUs` adds busy work per
 * generated event to model an expensive generator.
 */
import { LRUCache } from 'lru-cache';
import { VirtualFile, normalizeGenParams, type GenParams } from '@ess/format';
import { SourceError, SourceStats, type ReadOptions, type Source } from './Source.js';

export interface VirtualSourceOptions {
  /** Busy CPU time per generated event, in microseconds (default 0). */
  costPerEventUs?: number;
  /** Bytes generated between two yields to the event loop (default 4 MiB, whole events). */
  sliceBytes?: number;
  /** File layouts kept (default 256). */
  maxFiles?: number;
}

const URL_RE = /^virtual:([^/]+)\/([^/]+)\/(\d+)$/;

/** What a catalogue needs to list one virtual file. */
export interface VirtualFileInfo {
  readonly url: string;
  readonly lfn: string;
  readonly guid: string;
  readonly size: number;
  readonly events: number;
}

export class VirtualSource implements Source {
  readonly kind = 'virtual' as const;
  readonly abortable = true;
  readonly stats: SourceStats;
  costPerEventUs: number;
  private readonly sliceBytes: number;
  private readonly params = new Map<string, GenParams & { sizeSigma: number }>();
  private readonly files: LRUCache<string, Promise<VirtualFile>>;

  constructor(
    readonly id: string = 'virtual',
    readonly endpoint: string = 'generator',
    o: VirtualSourceOptions = {},
  ) {
    this.stats = new SourceStats(id, 'virtual', endpoint);
    this.costPerEventUs = o.costPerEventUs ?? 0;
    this.sliceBytes = o.sliceBytes ?? 4 * 1024 * 1024;
    if (!(this.costPerEventUs >= 0)) throw new RangeError(`costPerEventUs must be >= 0 (got ${this.costPerEventUs})`);
    if (!(this.sliceBytes >= 1)) throw new RangeError(`sliceBytes must be >= 1 (got ${this.sliceBytes})`);
    this.files = new LRUCache({ max: o.maxFiles ?? 256 });
  }

  /** The URL of file `fileIndex` of a dataset. */
  static url(params: Pick<GenParams, 'scope' | 'name'>, fileIndex: number): string {
    return `virtual:${params.scope}/${params.name}/${fileIndex}`;
  }

  /** Makes a generated dataset readable here (validates the parameters; re-registering the same ones is a no-op). */
  register(params: GenParams): void {
    const p = normalizeGenParams(params);
    const id = `${p.scope}:${p.name}`;
    const known = this.params.get(id);
    if (known !== undefined) {
      if (JSON.stringify(known) === JSON.stringify(p)) return;
      throw new Error(`${this.id}: dataset ${id} is already registered with other generator parameters`);
    }
    this.params.set(id, p);
  }

  /** Registered generator parameters of `scope:name`. */
  lookup(dataset: string): GenParams | undefined {
    return this.params.get(dataset);
  }

  /** Every file of a registered dataset with its URL and exact size (builds each layout). */
  async describe(dataset: string): Promise<VirtualFileInfo[]> {
    const p = this.params.get(dataset);
    if (p === undefined) throw new SourceError('not_found', `${this.id}: no virtual dataset ${dataset}`);
    const out: VirtualFileInfo[] = [];
    for (let i = 0; i < p.files; i++) {
      const url = VirtualSource.url(p, i);
      const f = await this.file(url);
      out.push({ url, lfn: f.lfn, guid: f.guid, size: f.size, events: f.count });
    }
    return out;
  }

  /** The layout of the file at `url`, built on first use (yielding while it builds) and kept. */
  file(url: string): Promise<VirtualFile> {
    let p = this.files.get(url);
    if (p === undefined) {
      const m = URL_RE.exec(url);
      if (m === null) return Promise.reject(new SourceError('not_found', `${this.id}: not a virtual URL (virtual:<scope>/<name>/<fileIndex>): ${url}`));
      const params = this.params.get(`${m[1]}:${m[2]}`);
      if (params === undefined) return Promise.reject(new SourceError('not_found', `${this.id}: no virtual dataset ${m[1]}:${m[2]} (${url})`));
      const index = Number(m[3]);
      if (index >= params.files) return Promise.reject(new SourceError('not_found', `${this.id}: ${url}: the dataset has ${params.files} files`));
      p = VirtualFile.build(params, index);
      p.catch(() => this.files.delete(url));
      this.files.set(url, p);
    }
    return p;
  }

  async size(url: string): Promise<number> {
    return (await this.file(url)).size;
  }

  async read(url: string, offset: number, length: number, into?: Buffer, options: ReadOptions = {}): Promise<Buffer> {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw new RangeError(`invalid read of ${length} bytes at ${offset}`);
    }
    const dest = into ?? Buffer.allocUnsafe(length);
    if (dest.length < length) throw new RangeError(`buffer of ${dest.length} bytes is too small for ${length}`);
    const start = this.stats.begin();
    const signal = options.signal;
    try {
      const f = await this.file(url);
      const end = offset + length;
      if (end > f.size) throw new SourceError('io', `${this.id}: ${url}: read of ${length} bytes at ${offset} goes past the end (${f.size} bytes)`);
      let firstByteAt = 0;
      let pos = offset;
      while (pos < end || firstByteAt === 0) {
        if (signal?.aborted) throw abortError(signal, this.id);
        const sliceEnd = this.sliceEnd(f, pos, end);
        f.read(pos, sliceEnd - pos, dest.subarray(pos - offset, sliceEnd - offset));
        const [a, b] = f.eventsIn(pos, sliceEnd - pos);
        this.burn(b - a);
        if (firstByteAt === 0) firstByteAt = performance.now();
        pos = sliceEnd;
        if (pos < end) await new Promise<void>((r) => setImmediate(r));
      }
      this.stats.success(start, firstByteAt, length);
      return dest;
    } catch (e) {
      const err = e instanceof SourceError ? e : new SourceError('io', `${this.id}: ${url}: ${(e as Error).message}`);
      this.stats.failure(err.code, err.message);
      throw err;
    }
  }

  /** End of the slice starting at `pos`: about sliceBytes, rounded up to the end of an event. */
  private sliceEnd(f: VirtualFile, pos: number, end: number): number {
    const target = pos + this.sliceBytes;
    if (target >= end) return end;
    const [, last] = f.eventsIn(target - 1, 1);
    const eventEnd = last > 0 ? f.offsets[last]! : target;
    return Math.min(end, Math.max(eventEnd, target));
  }

  /** Busy work standing in for an expensive generator. */
  private burn(events: number): void {
    if (this.costPerEventUs <= 0 || events <= 0) return;
    const until = performance.now() + (events * this.costPerEventUs) / 1000;
    while (performance.now() < until) {
      // spin
    }
  }

  async close(): Promise<void> {
    this.files.clear();
  }
}

function abortError(signal: AbortSignal, id: string): SourceError {
  const r: unknown = signal.reason;
  if (r instanceof SourceError) return r;
  return new SourceError('io', `${id}: read aborted${r instanceof Error ? `: ${r.message}` : ''}`);
}
