/**
 * One range of ROOT entries arriving: decodes each event record (a map branch → value) as soon as
 * its bytes are complete into Arrow column builders, and at the end marker checks counts and the
 * CRC-32 and writes the range as an Apache Arrow IPC file (docs/FORMAT.md §6a), atomically.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { crc32 } from 'node:zlib';
import type * as Arrow from 'apache-arrow';
import { unpackStandard, type Chunk, type End, type EventRange, type RangeContent } from '@ess/protocol';
import { endMismatches, RangeIntegrityError } from './RangeReceiver.js';

/** Where an Arrow range file goes: `<outDir>/<eventRangeID>.arrow`. */
export function arrowRangeFilePath(outDir: string, eventRangeID: string): string {
  return join(outDir, `${eventRangeID}.arrow`);
}

/** The file format and version written in every Arrow range file's schema metadata. */
export const ARROW_RANGE_FORMAT = 'ess-range-arrow';
export const ARROW_RANGE_VERSION = '1';

type Column = NonNullable<RangeContent['columns']>[number];
type ArrowModule = typeof Arrow;

let arrowModule: Promise<ArrowModule> | null = null;
/** apache-arrow, loaded on first use: a worker that only writes ESS files never pays for it. */
function loadArrow(): Promise<ArrowModule> {
  arrowModule ??= import('apache-arrow');
  return arrowModule;
}

/** The Arrow type of a column type of the protocol (`float32`, `list<int32>`, ...). */
function arrowType(arrow: ArrowModule, type: string): Arrow.DataType {
  const list = /^list<(.+)>$/.exec(type);
  if (list) return new arrow.List(new arrow.Field('item', arrowType(arrow, list[1]!), false));
  switch (type) {
    case 'bool':
      return new arrow.Bool();
    case 'int8':
      return new arrow.Int8();
    case 'uint8':
      return new arrow.Uint8();
    case 'int16':
      return new arrow.Int16();
    case 'uint16':
      return new arrow.Uint16();
    case 'int32':
      return new arrow.Int32();
    case 'uint32':
      return new arrow.Uint32();
    case 'int64':
      return new arrow.Int64();
    case 'uint64':
      return new arrow.Uint64();
    case 'float32':
      return new arrow.Float32();
    case 'float64':
      return new arrow.Float64();
    case 'string':
      return new arrow.Utf8();
    default:
      throw new RangeIntegrityError(`column type ${type} is not known`);
  }
}

/** How a decoded MessagePack value becomes what the column's builder takes. */
function converter(type: string): (v: unknown) => unknown {
  const list = /^list<(.+)>$/.exec(type);
  if (list) {
    const item = converter(list[1]!);
    return (v) => (Array.isArray(v) ? v.map(item) : []);
  }
  if (type === 'int64' || type === 'uint64') return (v) => (typeof v === 'bigint' ? v : BigInt(v as number));
  if (type === 'bool') return (v) => v === true;
  if (type === 'string') return (v) => String(v);
  return (v) => v;
}

export class ArrowRangeReceiver {
  readonly path: string;
  private readonly columns: readonly Column[];
  private readonly convert: ((v: unknown) => unknown)[];
  /** Set once apache-arrow is loaded. */
  private arrow: ArrowModule | null = null;
  private fields: Arrow.Field[] = [];
  private builders: Arrow.Builder[] = [];
  /** Decoding in arrival order, after the module is loaded. */
  private chain: Promise<void>;
  private nextSeq = 0;
  private nextOffset = 0;
  private crc = 0;
  private events = 0;
  /** Bytes of the event being assembled, and the sizes of the events announced but not complete yet. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly sizes: number[] = [];
  private readonly entries: number[] = [];
  private rows = 0;
  private failed: Error | null = null;

  constructor(
    readonly range: EventRange,
    readonly token: string,
    outDir: string,
    readonly content: RangeContent,
  ) {
    this.path = arrowRangeFilePath(outDir, range.eventRangeID);
    this.columns = content.columns ?? [];
    this.convert = this.columns.map((c) => converter(c.type));
    this.chain = loadArrow().then(
      (arrow) => {
        this.arrow = arrow;
        this.fields = this.columns.map((c) => new arrow.Field(c.name, arrowType(arrow, c.type), false));
        this.builders = this.fields.map((f) => arrow.makeBuilder({ type: f.type, nullValues: [] }));
      },
      (e: unknown) => {
        this.failed ??= e as Error;
      },
    );
  }

  progress(): { bytes: number; chunks: number; crc32: number } {
    return { bytes: this.nextOffset, chunks: this.nextSeq, crc32: this.crc >>> 0 };
  }

  /** Takes a chunk: checks its place in the range, then decodes the events it completes (resolved once decoded: nothing waits for the disk). */
  accept(chunk: Chunk): Promise<void> {
    if (chunk.seq !== this.nextSeq || chunk.offset !== this.nextOffset) {
      throw new RangeIntegrityError(`${this.range.eventRangeID}: chunk ${chunk.seq} at offset ${chunk.offset}, expected chunk ${this.nextSeq} at ${this.nextOffset}`);
    }
    if (chunk.entries.length !== chunk.sizes.length) throw new RangeIntegrityError(`${this.range.eventRangeID}: chunk ${chunk.seq} index is malformed`);
    this.nextSeq++;
    this.nextOffset += chunk.data.length;
    this.crc = crc32(chunk.data, this.crc);
    this.events += chunk.entries.length;
    this.entries.push(...chunk.entries);
    this.sizes.push(...chunk.sizes);
    const data = Buffer.from(chunk.data.buffer, chunk.data.byteOffset, chunk.data.byteLength);
    const step = this.chain.then(() => {
      if (!this.failed) this.take(data);
    });
    this.chain = step.catch((e: unknown) => {
      this.failed ??= e as Error;
    });
    return step;
  }

  private take(data: Buffer): void {
    let at = 0;
    while (at < data.length) {
      const size = this.sizes[this.rows];
      if (size === undefined) throw new RangeIntegrityError(`${this.range.eventRangeID}: bytes beyond the last announced event`);
      const need = size - this.pendingBytes;
      const part = data.subarray(at, at + need);
      at += part.length;
      if (part.length < need) {
        // The event continues in the next chunk: keep a copy (the frame buffer is not ours).
        this.pending.push(Buffer.from(part));
        this.pendingBytes += part.length;
        return;
      }
      const record = this.pendingBytes === 0 ? part : Buffer.concat([...this.pending, part]);
      this.pending = [];
      this.pendingBytes = 0;
      this.append(record);
    }
  }

  private append(bytes: Uint8Array): void {
    const value = unpackStandard(bytes);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new RangeIntegrityError(`${this.range.eventRangeID}: event ${this.entries[this.rows]} is not a map`);
    }
    const record = value as Record<string, unknown>;
    for (let i = 0; i < this.columns.length; i++) {
      const v = record[this.columns[i]!.name];
      if (v === undefined) throw new RangeIntegrityError(`${this.range.eventRangeID}: event ${this.entries[this.rows]} has no "${this.columns[i]!.name}"`);
      this.builders[i]!.append(this.convert[i]!(v));
    }
    this.rows++;
  }

  /** Checks the end marker against what arrived, then writes and renames the Arrow file. */
  async finish(end: End): Promise<{ path: string; size: number; count: number }> {
    await this.chain;
    if (this.failed) throw this.failed;
    const problems = endMismatches(end, { chunks: this.nextSeq, bytes: this.nextOffset, events: this.events, crc32: this.crc });
    if (this.rows !== this.events || this.pendingBytes !== 0) problems.push(`${this.rows} of ${this.events} events decoded`);
    if (problems.length > 0) throw new RangeIntegrityError(`${this.range.eventRangeID}: ${problems.join('; ')}`);
    const bytes = this.arrow!.tableToIPC(this.table(end), 'file');
    const part = `${this.path}.${randomBytes(4).toString('hex')}.part`;
    try {
      await mkdir(dirname(this.path), { recursive: true });
      const fh = await open(part, 'w');
      try {
        await fh.writeFile(bytes);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(part, this.path);
    } catch (e) {
      await rm(part, { force: true });
      throw e;
    }
    return { path: this.path, size: bytes.length, count: this.rows };
  }

  private table(end: End): Arrow.Table {
    const arrow = this.arrow!;
    const r = this.range;
    const contiguous = this.entries.every((e, i) => i === 0 || e === this.entries[i - 1]! + 1);
    const meta = new Map<string, string>([
      ['ess.format', ARROW_RANGE_FORMAT],
      ['ess.version', ARROW_RANGE_VERSION],
      ['ess.dataset', r.dataset],
      ['ess.lfn', r.LFN],
      ['ess.guid', r.GUID],
      ['ess.tree', this.content.tree ?? ''],
      ['ess.eventRangeID', r.eventRangeID],
      ['ess.taskID', String(r.taskID)],
      ['ess.attempt', String(r.attempt)],
      ['ess.startEvent', String(r.startEvent)],
      ['ess.lastEvent', String(r.lastEvent)],
      ['ess.eventsRead', String(end.eventsRead)],
      contiguous ? ['ess.firstEntry', String(this.entries[0] ?? r.startEvent)] : ['ess.entries', JSON.stringify(this.entries)],
    ]);
    if (this.content.skim !== undefined) meta.set('ess.skim', this.content.skim);
    if (this.content.slim !== undefined) meta.set('ess.slim', JSON.stringify(this.content.slim));
    const schema = new arrow.Schema(this.fields, meta);
    const children = this.builders.map((b) => b.finish().flush());
    const data = arrow.makeData({ type: new arrow.Struct(this.fields), length: this.rows, nullCount: 0, children });
    return new arrow.Table(schema, [new arrow.RecordBatch(schema, data)]);
  }

  /** Drops what arrived (nothing is on disk before `finish`). */
  async abort(): Promise<void> {
    this.failed ??= new RangeIntegrityError(`${this.range.eventRangeID}: aborted`);
    await this.chain;
  }
}

/** An Arrow range file read back: its schema metadata and each column as plain JS values (lists as arrays). */
export interface ArrowRangeFile {
  readonly metadata: ReadonlyMap<string, string>;
  /** Column names and types (`float32`, `list<int32>`...), in order. */
  readonly columns: readonly { readonly name: string; readonly type: string }[];
  readonly rows: number;
  /** The source entry of each row (from `ess.firstEntry` or `ess.entries`). */
  readonly entries: readonly number[];
  /** Values by column name: numbers (bigint for 64-bit integers), booleans, strings, or arrays of those. */
  readonly values: ReadonlyMap<string, readonly unknown[]>;
}

function typeName(arrow: ArrowModule, t: Arrow.DataType): string {
  if (arrow.DataType.isList(t)) return `list<${typeName(arrow, t.children[0]!.type)}>`;
  if (arrow.DataType.isBool(t)) return 'bool';
  if (arrow.DataType.isUtf8(t)) return 'string';
  if (arrow.DataType.isFloat(t)) return t.precision === arrow.Precision.SINGLE ? 'float32' : 'float64';
  if (arrow.DataType.isInt(t)) return `${t.isSigned ? 'int' : 'uint'}${t.bitWidth}`;
  return String(t);
}

/** Reads an Arrow range file written by this worker (for JS payloads and tests). */
export async function readArrowRangeFile(bytes: Uint8Array): Promise<ArrowRangeFile> {
  const arrow = await loadArrow();
  const table = arrow.tableFromIPC(bytes);
  const metadata = table.schema.metadata;
  const columns = table.schema.fields.map((f) => ({ name: f.name, type: typeName(arrow, f.type) }));
  const values = new Map<string, unknown[]>();
  for (const f of table.schema.fields) {
    const v = table.getChild(f.name)!;
    const out: unknown[] = new Array(table.numRows);
    for (let i = 0; i < table.numRows; i++) {
      const x: unknown = v.get(i);
      out[i] = x instanceof arrow.Vector ? Array.from(x.toArray() as ArrayLike<unknown>) : x;
    }
    values.set(f.name, out);
  }
  const listed = metadata.get('ess.entries');
  const first = Number(metadata.get('ess.firstEntry') ?? 0);
  const entries = listed ? (JSON.parse(listed) as number[]) : Array.from({ length: table.numRows }, (_, i) => first + i);
  return { metadata, columns, rows: table.numRows, entries, values };
}
