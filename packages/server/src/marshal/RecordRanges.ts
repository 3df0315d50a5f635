/**
 * Ranges whose payload the marshaller builds instead of copying a byte span: TTree entries turned
 * into MessagePack records, and ESS records after skim and slim. Each yields the delivered events'
 * entries and sizes and the payload, counting the events read and the source bytes it took.
 */
import { unpackStandard, type RangeContent } from '@ess/protocol';
import { MsgpackWriter, type FileIndex } from '@ess/format';
import type { CatalogueFile } from '../catalogue/index.js';
import type { RootTree, RootValue, ScalarType } from '../root/RootFile.js';
import { slimRecord, writeScalar } from './Msgpack.js';
import type { DataReader } from './Marshaller.js';
import type { ReadReceipt, SpanReader } from './RangeStream.js';
import type { Selection } from './Selection.js';

/** A range's payload built in memory. */
export interface BuiltRange {
  readonly entries: readonly number[];
  readonly sizes: readonly number[];
  readonly payload: Buffer;
  /** Events read from the source (before the skim). */
  readonly eventsRead: number;
  /** Source bytes the range took, as the data path served them. */
  readonly receipt: ReadReceipt;
}

/** What `assign` tells the worker about the records of a range built with this selection. */
export function rangeContent(sel: Selection): RangeContent {
  return {
    records: sel.records,
    file: sel.records === 'root' ? 'arrow' : 'ess',
    ...(sel.tree !== null && { tree: sel.tree }),
    ...(sel.records === 'root' && { columns: sel.columns.map((c) => ({ name: c.name, type: c.column! })) }),
    ...(sel.skim !== null && { skim: sel.skim }),
    ...(sel.slim !== null && { slim: [...sel.slim] }),
  };
}

function keyBytes(name: string): Buffer {
  const w = new MsgpackWriter(64);
  w.str(name);
  return Buffer.from(w.bytes());
}

/** Writes one branch value of column type `t`. */
function writeValue(w: MsgpackWriter, list: boolean, scalar: ScalarType, v: RootValue): void {
  if (!list) return writeScalar(w, scalar, v);
  const arr = v as ArrayLike<unknown>;
  const n = arr.length ?? 0;
  w.array(n);
  for (let i = 0; i < n; i++) writeScalar(w, scalar, arr[i]);
}

/** Entries first..last of a TTree: reads the selection's branches, applies the skim, writes the delivered branches. */
export async function buildRootRange(tree: RootTree, sel: Selection, first: number, last: number): Promise<BuiltRange> {
  const reads = sel.reads.map((f) => f.name);
  const at = new Map(reads.map((n, i) => [n, i] as const));
  const cols = sel.columns.map((c) => {
    const type = c.column!;
    const list = type.startsWith('list<');
    return { index: at.get(c.name)!, key: keyBytes(c.name), list, scalar: (list ? type.slice(5, -1) : type) as ScalarType };
  });
  const skim = sel.skim !== null;
  const w = new MsgpackWriter(256 * 1024);
  const entries: number[] = [];
  const sizes: number[] = [];
  let eventsRead = 0;
  let hitBytes = 0;
  let missBytes = 0;
  let current: readonly RootValue[] = [];
  const get = (name: string) => current[at.get(name)!];
  await tree.read<ReadReceipt | undefined>(
    reads,
    first,
    last,
    (entry, values) => {
      eventsRead++;
      current = values;
      if (skim && !sel.test(get)) return;
      const start = w.pos;
      w.map(cols.length);
      for (const c of cols) {
        w.raw(c.key);
        writeValue(w, c.list, c.scalar, values[c.index]!);
      }
      entries.push(entry);
      sizes.push(w.pos - start);
    },
    (r) => {
      hitBytes += r?.hitBytes ?? 0;
      missBytes += r?.missBytes ?? 0;
    },
  );
  return { entries, sizes, payload: Buffer.from(w.bytes()), eventsRead, receipt: { hitBytes, missBytes } };
}

/** Events first..last of an ESS file after skim (decoding each record) and slim (copying the kept fields' bytes). */
export async function buildEssRange(reader: DataReader, file: CatalogueFile, index: FileIndex, sel: Selection, first: number, last: number): Promise<BuiltRange> {
  const span = index.span(first, last);
  const data = Buffer.allocUnsafe(span.length);
  const receipt = span.length > 0 ? await reader.read(file, span.offset, span.length, data) : { hitBytes: 0, missBytes: 0 };
  const keep = sel.allColumns ? null : new Set(sel.columns.map((c) => c.name));
  const skim = sel.skim !== null;
  const w = new MsgpackWriter(Math.min(Math.max(span.length, 1024), 64 * 1024 * 1024));
  const entries: number[] = [];
  const sizes: number[] = [];
  let at = 0;
  let eventsRead = 0;
  for (let i = span.firstIndex; i <= span.lastIndex; i++) {
    const size = index.sizeOf(i);
    const record = data.subarray(at, at + size);
    at += size;
    eventsRead++;
    if (skim) {
      const value = unpackStandard(record) as Record<string, unknown>;
      if (!sel.test((name) => value[name])) continue;
    }
    const start = w.pos;
    if (keep) slimRecord(record, keep, w);
    else w.raw(record);
    entries.push(index.entryAt(i));
    sizes.push(w.pos - start);
  }
  return { entries, sizes, payload: Buffer.from(w.bytes()), eventsRead, receipt };
}

/** Serves a built payload to its RangeStream; the source bytes it took are reported with the first read. */
export class BuiltSpan implements SpanReader {
  private receipt: ReadReceipt | null;

  constructor(private readonly built: BuiltRange) {
    this.receipt = built.receipt;
  }

  async read(offset: number, length: number, into: Buffer): Promise<ReadReceipt> {
    this.built.payload.copy(into, 0, offset, offset + length);
    const r = this.receipt ?? { hitBytes: 0, missBytes: 0 };
    this.receipt = null;
    return r;
  }
}
