/**
 * EventFileWriter: streams event records into `<path>.part` through a bounded buffer, then
 * writes footer and trailer, fsyncs and renames atomically to `<path>` on close().
 */
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DATA_START, FILE_MAGIC, FOOTER_FORMAT, FORMAT_VERSION, TRAILER_MAGIC, TRAILER_SIZE } from './constants.js';
import { FormatError } from './errors.js';
import type { Footer } from './file-index.js';
import { packStandard as pack } from '@ess/protocol';
import { parseDatasetName } from './dataset-names.js';

/** What a file's footer says about it besides the index. */
export interface EventFileInfo {
  /** "scope:name". */
  dataset: string;
  lfn: string;
  guid: string;
  /** Free-form metadata stored as the footer's `meta` map. */
  meta?: Record<string, unknown>;
}

export interface WriterOptions {
  /** Bytes buffered before a write to disk (default 1 MiB). Larger writes go straight through. */
  bufferSize?: number;
}

/** Result of a successful {@link EventFileWriter.close}. */
export interface WrittenFile {
  path: string;
  /** Total file size in bytes. */
  size: number;
  /** Number of events. */
  count: number;
  /** Bytes of event data (records only). */
  dataSize: number;
}

type State = 'open' | 'closing' | 'closed' | 'aborted';

/**
 * Writes one event file. Data arrives either as whole records ({@link appendEvent}) or as
 * arbitrary byte slices ({@link writeData}) described separately by {@link addEntries}; the
 * two may be mixed as long as, at close, the sizes add up to the bytes written.
 *
 * Calls are applied in call order. Await each returned promise to keep memory bounded: the
 * writer holds at most `bufferSize` bytes of its own, and a Uint8Array handed to writeData
 * must stay unchanged until the promise returned by that call resolves.
 */
export class EventFileWriter {
  readonly partPath: string;
  private state: State = 'open';
  private readonly buf: Buffer;
  private fill = 0;
  /** File position of buf[0]. */
  private filePos = 0;
  private dataBytes = 0;
  private readonly entries: number[] = [];
  private readonly sizes: number[] = [];
  private readonly runs: number[] = [];
  private readonly events: number[] = [];
  private withIds = 0;
  private chain: Promise<void> = Promise.resolve();
  private failure: unknown;

  private constructor(
    readonly path: string,
    private readonly info: EventFileInfo & { scope: string },
    private fh: FileHandle | undefined,
    bufferSize: number,
  ) {
    this.partPath = `${path}.part`;
    this.buf = Buffer.allocUnsafe(bufferSize);
    FILE_MAGIC.copy(this.buf, 0);
    this.fill = FILE_MAGIC.length;
  }

  /** Creates `<path>.part` (and missing parent folders) and writes the file magic. */
  static async create(path: string, info: EventFileInfo, options: WriterOptions = {}): Promise<EventFileWriter> {
    const { scope } = parseDatasetName(info.dataset);
    const bufferSize = options.bufferSize ?? 1024 * 1024;
    if (!Number.isSafeInteger(bufferSize) || bufferSize < 64) throw new RangeError(`invalid bufferSize ${bufferSize}`);
    await mkdir(dirname(path), { recursive: true });
    const fh = await open(`${path}.part`, 'w');
    return new EventFileWriter(path, { ...info, scope }, fh, bufferSize);
  }

  /** Events indexed so far. */
  get count(): number {
    return this.entries.length;
  }

  /** Event data bytes handed to the writer so far. */
  get bytesWritten(): number {
    return this.dataBytes;
  }

  private checkOpen(): void {
    if (this.state !== 'open') throw new Error(`${this.path}: the writer is ${this.state}`);
  }

  private enqueue(op: (fh: FileHandle) => Promise<void>): Promise<void> {
    const p = this.chain.then(async () => {
      if (this.failure !== undefined) throw this.failure;
      if (this.fh === undefined) throw new Error(`${this.path}: the writer is ${this.state}`);
      await op(this.fh);
    });
    this.chain = p.catch((e: unknown) => {
      this.failure ??= e;
    });
    return p;
  }

  private async writeFully(fh: FileHandle, bytes: Uint8Array): Promise<void> {
    let done = 0;
    while (done < bytes.length) {
      const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, this.filePos + done);
      done += bytesWritten;
    }
    this.filePos += bytes.length;
  }

  private async flush(fh: FileHandle): Promise<void> {
    if (this.fill === 0) return;
    const n = this.fill;
    this.fill = 0;
    await this.writeFully(fh, this.buf.subarray(0, n));
  }

  private async put(fh: FileHandle, bytes: Uint8Array): Promise<void> {
    if (this.fill + bytes.length <= this.buf.length) {
      this.buf.set(bytes, this.fill);
      this.fill += bytes.length;
      return;
    }
    await this.flush(fh);
    if (bytes.length >= this.buf.length / 2) {
      await this.writeFully(fh, bytes);
    } else {
      this.buf.set(bytes, 0);
      this.fill = bytes.length;
    }
  }

  /**
   * Appends raw event data: any slice of the record stream (an event may span several calls).
   * Index it with {@link addEntries}.
   */
  writeData(bytes: Uint8Array): Promise<void> {
    this.checkOpen();
    this.dataBytes += bytes.length;
    return this.enqueue((fh) => this.put(fh, bytes));
  }

  /**
   * Indexes the next events: their original entry positions (strictly ascending across all
   * calls) and record sizes in bytes; optionally their run and event numbers (give them for
   * every event of the file or for none).
   */
  addEntries(entries: readonly number[], sizes: readonly number[], ids?: { runs: readonly number[]; events: readonly number[] }): void {
    this.checkOpen();
    if (entries.length !== sizes.length) {
      throw new FormatError('bad_index', `${this.path}: ${entries.length} entries but ${sizes.length} sizes`);
    }
    if (ids !== undefined && (ids.runs.length !== entries.length || ids.events.length !== entries.length)) {
      throw new FormatError('bad_index', `${this.path}: ids must give one run and one event number per entry`);
    }
    let prev = this.entries.length > 0 ? this.entries[this.entries.length - 1]! : -1;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      const s = sizes[i]!;
      if (!Number.isSafeInteger(e) || e <= prev) {
        throw new FormatError('bad_index', `${this.path}: entries must be strictly ascending non-negative integers (got ${e} after ${prev})`);
      }
      if (!Number.isSafeInteger(s) || s < 1) throw new FormatError('bad_index', `${this.path}: invalid event size ${s} for entry ${e}`);
      if (ids !== undefined) {
        const r = ids.runs[i]!;
        const ev = ids.events[i]!;
        if (!Number.isSafeInteger(r) || r < 0 || !Number.isSafeInteger(ev) || ev < 0) {
          throw new FormatError('bad_index', `${this.path}: invalid run/event ${r}/${ev} for entry ${e}`);
        }
      }
      prev = e;
    }
    for (let i = 0; i < entries.length; i++) {
      this.entries.push(entries[i]!);
      this.sizes.push(sizes[i]!);
      this.runs.push(ids === undefined ? -1 : ids.runs[i]!);
      this.events.push(ids === undefined ? -1 : ids.events[i]!);
    }
    if (ids !== undefined) this.withIds += entries.length;
  }

  /**
   * Appends one whole record (encoded bytes, or an object encoded here as a standard
   * MessagePack map) at the given original entry, with optional run/event numbers.
   */
  async appendEvent(record: Uint8Array | object, entry: number, ids?: { run: number; event: number }): Promise<void> {
    const bytes = record instanceof Uint8Array ? record : pack(record);
    if (bytes.length === 0) throw new FormatError('bad_record', `${this.path}: empty record for entry ${entry}`);
    this.addEntries([entry], [bytes.length], ids === undefined ? undefined : { runs: [ids.run], events: [ids.event] });
    await this.writeData(bytes);
  }

  private buildFooter(): Buffer {
    const count = this.entries.length;
    const offsets = new Array<number>(count + 1);
    let at = DATA_START;
    offsets[0] = at;
    for (let i = 0; i < count; i++) {
      at += this.sizes[i]!;
      offsets[i + 1] = at;
    }
    const first = this.entries[0] ?? 0;
    let contiguous = true;
    for (let i = 0; i < count; i++) {
      if (this.entries[i] !== first + i) {
        contiguous = false;
        break;
      }
    }
    const footer: Footer = {
      format: FOOTER_FORMAT,
      version: FORMAT_VERSION,
      scope: this.info.scope,
      dataset: this.info.dataset,
      lfn: this.info.lfn,
      guid: this.info.guid,
      count,
      offsets,
      firstEntry: contiguous ? first : undefined,
      entries: contiguous ? undefined : this.entries,
      runs: this.withIds > 0 ? this.runs : undefined,
      events: this.withIds > 0 ? this.events : undefined,
      meta: this.info.meta,
    };
    return pack(footer);
  }

  /**
   * Finishes the file: checks that the indexed sizes add up to the data written (FormatError
   * `size_mismatch` otherwise), writes footer and trailer, fsyncs, renames `<path>.part` to
   * `<path>`. On failure the .part file is removed and the error rethrown.
   */
  async close(): Promise<WrittenFile> {
    this.checkOpen();
    this.state = 'closing';
    let result: WrittenFile | undefined;
    try {
      await this.enqueue(async (fh) => {
        const indexed = this.sizes.reduce((a, b) => a + b, 0);
        if (indexed !== this.dataBytes) {
          throw new FormatError('size_mismatch', `${this.path}: the index sizes add up to ${indexed} bytes but ${this.dataBytes} bytes of event data were written`);
        }
        if (this.withIds > 0 && this.withIds !== this.entries.length) {
          throw new FormatError('bad_index', `${this.path}: run/event numbers were given for ${this.withIds} of ${this.entries.length} events (give them for all or none)`);
        }
        const footer = this.buildFooter();
        const footerOffset = DATA_START + this.dataBytes;
        const trailer = Buffer.alloc(TRAILER_SIZE);
        trailer.writeBigUInt64LE(BigInt(footerOffset), 0);
        TRAILER_MAGIC.copy(trailer, 8);
        await this.put(fh, footer);
        await this.put(fh, trailer);
        await this.flush(fh);
        await fh.sync();
        this.fh = undefined;
        await fh.close();
        await rename(this.partPath, this.path);
        await syncDir(dirname(this.path));
        result = { path: this.path, size: footerOffset + footer.length + TRAILER_SIZE, count: this.entries.length, dataSize: this.dataBytes };
      });
    } catch (e) {
      await this.discard();
      this.state = 'aborted';
      throw e;
    }
    this.state = 'closed';
    return result!;
  }

  /** Abandons the file: closes it and removes `<path>.part`. Safe to call more than once. */
  async abort(): Promise<void> {
    if (this.state === 'closed' || this.state === 'aborted') return;
    this.state = 'aborted';
    await this.chain;
    await this.discard();
  }

  private async discard(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    if (fh !== undefined) await fh.close().catch(() => undefined);
    await rm(this.partPath, { force: true });
  }
}

/** fsyncs a directory so a rename in it is durable (best effort: not every platform allows it). */
async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // Some platforms and file systems cannot fsync a directory; the data itself is synced.
  }
}
