/**
 * Our one typed adapter over jsroot: opens a ROOT file through a byte reader of ours (jsroot's
 * FileProxy hook, so every byte comes through our data path), finds its TTree, classifies the
 * branches (refusing the types jsroot reads wrongly), and reads entry ranges of chosen branches.
 */
/// <reference path="./jsroot.d.ts" />
import { FileProxy, openFile } from 'jsroot/io';
import { TSelector, treeProcess } from 'jsroot/tree';
import type { ColumnScalarType, ColumnType } from '@ess/protocol';

/** Reads bytes of one ROOT file; `R` is whatever the reader reports per read (e.g. a cache receipt). */
export interface RootBytes<R = unknown> {
  /** For messages (the LFN). */
  readonly name: string;
  readonly size: number;
  /** Fills `into` with exactly `into.length` bytes at `offset`. */
  read(offset: number, into: Buffer): Promise<R>;
}

/** Column types as the protocol names them (Arrow's names): a scalar, or `list<scalar>` for a jagged or fixed-size array. */
export type ScalarType = ColumnScalarType;
export type { ColumnType };

export interface RootBranch {
  readonly name: string;
  /** Null when the branch is refused. */
  readonly type: ColumnType | null;
  /** Why the branch cannot be delivered (jsroot would read it wrongly, or we do not support it). */
  readonly refused: string | null;
  /** For a jagged branch: the branch holding its counts. */
  readonly count: string | null;
  /** The ROOT class of the branch and its leaf, for messages (`TBranch/TLeafF`). */
  readonly kind: string;
}

/** Values (branches × entries) a tree keeps decoded past the end of a read. */
export const CARRY_VALUES = 2_000_000;

export class RootError extends Error {
  override readonly name = 'RootError';
}

/** A byte span of the file. */
export interface ByteSpan {
  readonly offset: number;
  readonly length: number;
}

/** A branch value as jsroot hands it over: a number, a bigint beyond 2^53, a bool, a string, or an array of numbers. */
export type RootValue = number | bigint | boolean | string | ArrayLike<number | bigint | boolean>;

// jsroot's objects are untyped; these name the few members we read.
interface JsLeaf {
  readonly _typename: string;
  readonly fName: string;
  readonly fLen: number;
  readonly fIsUnsigned?: boolean;
  readonly fLeafCount?: JsLeaf | null;
}
interface JsBranch {
  readonly _typename: string;
  readonly fName: string;
  readonly fClassName?: string;
  readonly fLeaves: { readonly arr: readonly JsLeaf[] };
  readonly fBranches: { readonly arr: readonly JsBranch[] };
  readonly fWriteBasket: number;
  readonly fBasketBytes: ArrayLike<number>;
  readonly fBasketEntry: ArrayLike<number>;
  readonly fBasketSeek: ArrayLike<number>;
  readonly fBaskets?: { readonly arr: readonly unknown[] };
}
interface JsTree {
  readonly fName: string;
  readonly fEntries: number;
  readonly fBranches: { readonly arr: readonly JsBranch[] };
}
interface JsFile {
  readonly fKeys: readonly { fName: string; fClassName: string; fCycle: number }[];
  readObject(name: string): Promise<unknown>;
}

const LEAF_TYPES: Readonly<Record<string, readonly [signed: ScalarType, unsigned: ScalarType]>> = {
  TLeafO: ['bool', 'bool'],
  TLeafB: ['int8', 'uint8'],
  TLeafS: ['int16', 'uint16'],
  TLeafI: ['int32', 'uint32'],
  TLeafL: ['int64', 'uint64'],
  TLeafG: ['int64', 'uint64'],
  TLeafF: ['float32', 'float32'],
  TLeafD: ['float64', 'float64'],
  TLeafC: ['string', 'string'],
};

/** Classifies one top-level branch: only plain leaf branches of basic types are delivered. */
export function classifyBranch(b: JsBranch): RootBranch {
  const leaves = b.fLeaves?.arr ?? [];
  const leaf = leaves[0];
  const kind = `${b._typename}/${leaf?._typename ?? 'none'}`;
  const refuse = (why: string): RootBranch => ({ name: b.fName, type: null, refused: why, count: null, kind });
  if (b._typename !== 'TBranch') {
    const cls = b.fClassName ? ` of class ${b.fClassName}` : '';
    return refuse(
      `${b._typename}${cls} is not supported: only branches of basic types are delivered (jsroot reads some object branches wrongly, e.g. an unsplit TVector2)`,
    );
  }
  if ((b.fBranches?.arr.length ?? 0) > 0) return refuse('a branch with sub-branches is not supported');
  if (!leaf) return refuse('the branch has no leaf');
  if (leaves.length > 1) return refuse(`a leaf list of ${leaves.length} leaves is not supported`);
  const types = LEAF_TYPES[leaf._typename];
  if (!types) return refuse(`leaf type ${leaf._typename} is not supported (only B, S, I, L, G, F, D, O and C leaves)`);
  const scalar = leaf.fIsUnsigned ? types[1] : types[0];
  if (scalar === 'string') {
    if (leaf.fLeafCount) return refuse('a variable-length array of strings is not supported');
    return { name: b.fName, type: 'string', refused: null, count: null, kind };
  }
  if (leaf.fLeafCount) {
    if (leaf.fLen > 1) return refuse(`a two-dimensional array (${leaf.fLen} values per counted element) is not supported`);
    return { name: b.fName, type: `list<${scalar}>`, refused: null, count: leaf.fLeafCount.fName, kind };
  }
  return { name: b.fName, type: leaf.fLen > 1 ? `list<${scalar}>` : scalar, refused: null, count: null, kind };
}

/** The file's UUID from its header (ROOT writes it right after the header's seek fields). */
export function parseRootUuid(header: Uint8Array): string | null {
  if (header.length < 64 || String.fromCharCode(...header.subarray(0, 4)) !== 'root') return null;
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const version = view.getUint32(4);
  // small files: 4-byte seeks (UUID version at 45); large files (version >= 1000000): 8-byte seeks (at 57).
  const at = version < 1_000_000 ? 47 : 59;
  if (header.length < at + 16) return null;
  const hex = Buffer.from(header.subarray(at, at + 16)).toString('hex');
  if (/^0+$/.test(hex)) return null;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** jsroot's file proxy over our byte reader; records the first read error (jsroot swallows them). */
class Proxy extends FileProxy {
  /** Called with each read's report while a `read` of the tree runs. */
  onRead: ((r: unknown) => void) | null = null;
  error: Error | null = null;

  constructor(private readonly bytes: RootBytes) {
    super();
  }

  override async openFile(): Promise<boolean> {
    return true;
  }

  override getFileName(): string {
    return this.bytes.name;
  }

  override getFileSize(): number {
    return this.bytes.size;
  }

  override async readBuffer(pos: number, size: number): Promise<DataView> {
    // jsroot asks for a fixed-size header; never ask our sources for bytes past the end.
    const length = Math.max(0, Math.min(size, this.bytes.size - pos));
    const into = Buffer.allocUnsafe(length);
    try {
      const r = await this.bytes.read(pos, into);
      this.onRead?.(r);
    } catch (e) {
      this.error ??= e as Error;
      throw e;
    }
    return new DataView(into.buffer, into.byteOffset, into.byteLength);
  }

  override closeFile(): void {}
}

export interface OpenRootOptions {
  /** The TTree to read; when left out, the file must hold exactly one. */
  readonly tree?: string | undefined;
}

export class RootTree {
  readonly branches: readonly RootBranch[];
  private readonly byName: ReadonlyMap<string, { info: RootBranch; js: JsBranch }>;
  /** Reads of this tree run one at a time: jsroot keeps reading state in shared objects (in-memory baskets). */
  private queue: Promise<unknown> = Promise.resolve();
  /** Entries decoded past the end of the last read (same branches), for the next one. */
  private carry: { key: string; first: number; rows: RootValue[][] } | null = null;

  private constructor(
    readonly fileName: string,
    readonly name: string,
    readonly entries: number,
    /** The file's UUID (its GUID), when its header has one. */
    readonly uuid: string | null,
    private readonly js: JsTree,
    private readonly proxy: Proxy,
  ) {
    const map = new Map<string, { info: RootBranch; js: JsBranch }>();
    for (const b of js.fBranches.arr) map.set(b.fName, { info: classifyBranch(b), js: b });
    this.byName = map;
    this.branches = [...map.values()].map((x) => x.info);
  }

  /** Opens a ROOT file through `bytes` and reads its tree's metadata (header, keys, streamer infos, the TTree). */
  static async open(bytes: RootBytes, o: OpenRootOptions = {}): Promise<RootTree> {
    const proxy = new Proxy(bytes);
    let file: JsFile;
    try {
      file = (await openFile(proxy)) as JsFile;
    } catch (e) {
      throw new RootError(`${bytes.name}: not a readable ROOT file (${(proxy.error ?? (e as Error)).message})`);
    }
    if (proxy.error) throw new RootError(`${bytes.name}: ${proxy.error.message}`);
    const trees = [...new Set(file.fKeys.filter((k) => k.fClassName === 'TTree').map((k) => k.fName))];
    const name = o.tree ?? (trees.length === 1 ? trees[0] : undefined);
    if (name === undefined) {
      throw new RootError(
        trees.length === 0 ? `${bytes.name} holds no TTree` : `${bytes.name} holds several TTrees (${trees.join(', ')}): name the one to read`,
      );
    }
    if (!trees.includes(name)) throw new RootError(`${bytes.name} has no TTree "${name}"${trees.length > 0 ? ` (it has ${trees.join(', ')})` : ''}`);
    let js: JsTree;
    try {
      js = (await file.readObject(name)) as JsTree;
    } catch (e) {
      throw new RootError(`${bytes.name}: cannot read TTree "${name}" (${(proxy.error ?? (e as Error)).message})`);
    }
    const header = Buffer.allocUnsafe(Math.min(100, bytes.size));
    await bytes.read(0, header);
    return new RootTree(bytes.name, name, Number(js.fEntries), parseRootUuid(header), js, proxy);
  }

  branch(name: string): RootBranch | undefined {
    return this.byName.get(name)?.info;
  }

  /**
   * The byte spans of the baskets that hold entries first..last of these branches (and of the
   * branches counting their elements), sorted and merged: what reading them costs. Baskets kept
   * inside the TTree object itself (small trees) need no read and are left out.
   */
  basketSpans(names: readonly string[], first: number, last: number): ByteSpan[] {
    const spans: ByteSpan[] = [];
    const seen = new Set<string>();
    const add = (name: string) => {
      if (seen.has(name)) return;
      seen.add(name);
      const b = this.byName.get(name);
      if (!b) return;
      if (b.info.count) add(b.info.count);
      const js = b.js;
      for (let k = 0; k < js.fWriteBasket; k++) {
        const from = js.fBasketEntry[k] ?? 0;
        const to = k + 1 < js.fWriteBasket ? (js.fBasketEntry[k + 1] ?? this.entries) : this.entries;
        if (to <= first || from > last) continue;
        if (js.fBaskets?.arr[k]) continue;
        const length = js.fBasketBytes[k] ?? 0;
        if (length > 0) spans.push({ offset: Number(js.fBasketSeek[k]), length });
      }
    };
    for (const n of names) add(n);
    spans.sort((a, b) => a.offset - b.offset);
    const merged: ByteSpan[] = [];
    for (const s of spans) {
      const prev = merged.at(-1);
      if (prev && s.offset <= prev.offset + prev.length) {
        merged[merged.length - 1] = { offset: prev.offset, length: Math.max(prev.length, s.offset + s.length - prev.offset) };
      } else merged.push(s);
    }
    return merged;
  }

  /**
   * Reads entries first..last (inclusive) of the named branches, in entry order, calling
   * `visit(entry, values)` for each (`values[i]` is the value of `names[i]`; arrays are only
   * valid during the call). `onRead` gets the report of every byte read made meanwhile.
   * Refused or unknown branches, a read error, or a value beyond 2^53 fail the whole read.
   */
  read<R>(names: readonly string[], first: number, last: number, visit: (entry: number, values: readonly RootValue[]) => void, onRead?: (r: R) => void): Promise<void> {
    const run = this.queue.then(() => this.readNow(names, first, last, visit, onRead as ((r: unknown) => void) | undefined));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async readNow(names: readonly string[], first: number, last: number, visit: (entry: number, values: readonly RootValue[]) => void, onRead?: (r: unknown) => void): Promise<void> {
    if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last) || first < 0 || last < first || last >= this.entries) {
      throw new RootError(`${this.fileName}: entries ${first}..${last} are outside ${this.name}'s 0..${this.entries - 1}`);
    }
    const key = names.join('\0');
    let from = first;
    const c = this.carry;
    if (c && c.key === key && c.first <= from && from < c.first + c.rows.length) {
      const end = Math.min(last, c.first + c.rows.length - 1);
      for (let e = from; e <= end; e++) visit(e, c.rows[e - c.first]!);
      from = end + 1;
      if (from > last) return;
    }
    // jsroot unzips whole baskets: decode on to the end of the baskets it unzips anyway (within a
    // bound) and keep those entries for the next range of the file, usually the next one asked for.
    const upTo = this.carryEnd(names, last);
    const rows: RootValue[][] = [];
    await this.process(
      names,
      from,
      upTo,
      (entry, values) => {
        if (entry <= last) visit(entry, values);
        else rows.push(values.map((v) => (ArrayBuffer.isView(v) ? (v as unknown as Uint8Array).slice() : Array.isArray(v) ? [...(v as unknown[])] : v) as RootValue));
      },
      onRead,
    );
    if (rows.length > 0) this.carry = { key, first: last + 1, rows };
  }

  /** The last entry of the baskets that hold entry `last` of these branches, at most CARRY_VALUES values beyond it. */
  private carryEnd(names: readonly string[], last: number): number {
    let end = this.entries - 1;
    const seen = new Set<string>();
    const visit = (name: string) => {
      if (seen.has(name)) return;
      seen.add(name);
      const b = this.byName.get(name);
      if (!b) return;
      if (b.info.count) visit(b.info.count);
      const js = b.js;
      for (let k = 0; k < js.fWriteBasket; k++) {
        const to = k + 1 < js.fWriteBasket ? (js.fBasketEntry[k + 1] ?? this.entries) : this.entries;
        if (to > last) {
          end = Math.min(end, to - 1);
          return;
        }
      }
    };
    for (const n of names) visit(n);
    return Math.min(end, last + Math.floor(CARRY_VALUES / Math.max(1, names.length)));
  }

  private async process(names: readonly string[], first: number, last: number, visit: (entry: number, values: readonly RootValue[]) => void, onRead?: (r: unknown) => void): Promise<void> {
    const selector = new TSelector() as JsSelector;
    const slots: string[] = [];
    const wide: boolean[] = [];
    for (const name of names) {
      const b = this.byName.get(name);
      if (!b) throw new RootError(`${this.fileName}: ${this.name} has no branch "${name}"`);
      if (b.info.refused) throw new RootError(`${this.fileName}: branch "${name}" cannot be read: ${b.info.refused}`);
      const slot = `b${slots.length}`;
      slots.push(slot);
      wide.push(b.info.type === 'list<int64>' || b.info.type === 'list<uint64>');
      selector.addBranch(b.js, slot);
    }
    if (names.length === 0) {
      // Nothing to read (e.g. a skim-only count): the entries still exist.
      for (let e = first; e <= last; e++) visit(e, []);
      return;
    }
    const values: RootValue[] = new Array<RootValue>(names.length);
    let expected = first;
    let failure: Error | null = null;
    let terminated: boolean | null = null;
    selector.Process = function (this: JsSelector, entry: number) {
      if (failure) return;
      if (entry !== expected) {
        failure = new RootError(`jsroot delivered entry ${entry} where ${expected} was expected`);
        this.Abort();
        return;
      }
      expected++;
      for (let i = 0; i < slots.length; i++) {
        const v = this.tgtobj[slots[i]!] as RootValue;
        if (typeof v === 'bigint' || (wide[i] && typeof v === 'object' && Array.prototype.some.call(v, (x: unknown) => typeof x === 'bigint'))) {
          failure = new RootError(`branch "${names[i]}" entry ${entry}: a value beyond 2^53 cannot be delivered exactly`);
          this.Abort();
          return;
        }
        values[i] = v;
      }
      try {
        visit(entry, values);
      } catch (e) {
        failure = e as Error;
        this.Abort();
      }
    };
    selector.Terminate = (ok: boolean) => {
      terminated = ok;
    };
    this.proxy.onRead = onRead ?? null;
    this.proxy.error = null;
    try {
      await treeProcess(this.js, selector, { firstentry: first, numentries: last - first + 1 });
    } finally {
      this.proxy.onRead = null;
    }
    if (failure) throw failure;
    if (this.proxy.error) throw this.proxy.error;
    if (terminated === false || expected !== last + 1) {
      throw new RootError(`${this.fileName}: reading entries ${first}..${last} of ${this.name} stopped at entry ${expected}`);
    }
  }
}

interface JsSelector {
  tgtobj: Record<string, unknown>;
  addBranch(branch: unknown, name: string): number;
  Abort(): void;
  Process: (entry: number) => void;
  Terminate: (ok: boolean) => void;
}
