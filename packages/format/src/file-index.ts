/**
 * The footer of an event file (its keys, validation) and FileIndex, the in-memory event index
 * built from it: entry <-> position lookups, byte offsets and sizes, (run, event) picking.
 */
import { DATA_START, FOOTER_FORMAT, FORMAT_VERSION } from './constants.js';
import { FormatError } from './errors.js';

/** The footer map exactly as stored (docs/FORMAT.md, "Footer"). */
export interface Footer {
  format: typeof FOOTER_FORMAT;
  version: number;
  scope: string;
  /** "scope:name". */
  dataset: string;
  lfn: string;
  guid: string;
  /** Number of events. */
  count: number;
  /** count + 1 absolute offsets: event i is bytes [offsets[i], offsets[i+1]). */
  offsets: number[];
  /** Set when entries are contiguous: firstEntry .. firstEntry + count - 1. */
  firstEntry?: number;
  /** Set instead of firstEntry when entries are not contiguous: ascending entry positions. */
  entries?: number[];
  /** Physics run number of each event. */
  runs?: number[];
  /** Physics event number of each event. */
  events?: number[];
  /** Free-form metadata (generator parameters, range provenance, ...). */
  meta?: Record<string, unknown>;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function badFooter(where: string, message: string): FormatError {
  return new FormatError('bad_footer', `${where}: ${message}`);
}

function badIndex(where: string, message: string): FormatError {
  return new FormatError('bad_index', `${where}: ${message}`);
}

/** Checks a list of non-negative integers of the given length; `ascending` = strictly. */
function checkIntArray(where: string, key: string, v: unknown, length: number, ascending: boolean): number[] {
  if (!Array.isArray(v)) throw badFooter(where, `footer key "${key}" must be an array of integers`);
  if (v.length !== length) throw badIndex(where, `footer "${key}" has ${v.length} items, expected ${length}`);
  let prev = -1;
  for (let i = 0; i < v.length; i++) {
    const x: unknown = v[i];
    if (!isCount(x)) throw badIndex(where, `footer "${key}"[${i}] is not a non-negative integer`);
    if (ascending && x <= prev) throw badIndex(where, `footer "${key}" is not strictly ascending at index ${i} (${prev} then ${x})`);
    prev = x;
  }
  return v as number[];
}

/**
 * Validates a decoded footer. `footerOffset` is where the footer starts (the end of the event
 * data); `where` names the file in messages.
 */
export function validateFooter(value: unknown, footerOffset: number, where = 'event file'): Footer {
  if (!isMap(value)) throw badFooter(where, 'the footer is not a MessagePack map');
  if (value.format !== FOOTER_FORMAT) throw badFooter(where, `footer "format" is ${JSON.stringify(value.format)}, expected "${FOOTER_FORMAT}"`);
  if (value.version !== FORMAT_VERSION) {
    throw new FormatError('unsupported_version', `${where}: footer version ${JSON.stringify(value.version)} is not supported (this reader knows version ${FORMAT_VERSION})`);
  }
  for (const key of ['scope', 'dataset', 'lfn', 'guid'] as const) {
    if (typeof value[key] !== 'string') throw badFooter(where, `footer key "${key}" must be a string`);
  }
  const count = value.count;
  if (!isCount(count)) throw badFooter(where, 'footer key "count" must be a non-negative integer');
  const offsets = checkIntArray(where, 'offsets', value.offsets, count + 1, true);
  if (offsets[0] !== DATA_START) throw badIndex(where, `offsets[0] is ${offsets[0]}, expected ${DATA_START}`);
  if (offsets[count] !== footerOffset) {
    throw badIndex(where, `the last offset (${offsets[count]}) is not the footer offset (${footerOffset})`);
  }
  const hasFirst = value.firstEntry !== undefined;
  const hasEntries = value.entries !== undefined;
  if (hasFirst === hasEntries) throw badFooter(where, 'the footer must have exactly one of "firstEntry" and "entries"');
  if (hasFirst && !isCount(value.firstEntry)) throw badFooter(where, 'footer key "firstEntry" must be a non-negative integer');
  if (hasEntries) checkIntArray(where, 'entries', value.entries, count, true);
  if (value.runs !== undefined) checkIntArray(where, 'runs', value.runs, count, false);
  if (value.events !== undefined) checkIntArray(where, 'events', value.events, count, false);
  if (value.meta !== undefined && !isMap(value.meta)) throw badFooter(where, 'footer key "meta" must be a map');
  return value as unknown as Footer;
}

/** Where a contiguous run of events lies in a file. */
export interface Span {
  /** Absolute byte offset of the first event. */
  offset: number;
  /** Bytes from the first event's start to the last event's end (0 when no event matched). */
  length: number;
  /** Position in the file of the first event. */
  firstIndex: number;
  /** Position in the file of the last event (firstIndex - 1 when no event matched). */
  lastIndex: number;
}

/**
 * The event index of one file. "Position" (or index) is an event's 0-based place in this file;
 * "entry" is its 0-based place in the original dataset file (equal to the position for a
 * dataset file starting at entry 0; kept from the original for range files).
 */
export class FileIndex {
  readonly scope: string;
  readonly dataset: string;
  readonly lfn: string;
  readonly guid: string;
  readonly count: number;
  readonly offsets: readonly number[];
  readonly runs: readonly number[] | undefined;
  readonly events: readonly number[] | undefined;
  readonly meta: Readonly<Record<string, unknown>>;
  /** Entries are contiguous (footer has `firstEntry`), no explicit list. */
  readonly contiguous: boolean;
  private readonly first: number;
  private explicit: readonly number[] | undefined;
  private byId: Map<number, Map<number, number>> | undefined;

  constructor(footer: Footer) {
    this.scope = footer.scope;
    this.dataset = footer.dataset;
    this.lfn = footer.lfn;
    this.guid = footer.guid;
    this.count = footer.count;
    this.offsets = footer.offsets;
    this.runs = footer.runs;
    this.events = footer.events;
    this.meta = footer.meta ?? {};
    this.contiguous = footer.entries === undefined;
    this.explicit = footer.entries;
    this.first = footer.entries === undefined ? (footer.firstEntry ?? 0) : (footer.entries[0] ?? 0);
  }

  /** Entry of the first event (for an empty file: the footer's firstEntry, or 0). */
  get firstEntry(): number {
    return this.first;
  }

  /** Entry of the last event (firstEntry - 1 for an empty file). */
  get lastEntry(): number {
    return this.count === 0 ? this.first - 1 : this.entryAt(this.count - 1);
  }

  /** All entries in file order (materialised on first use for contiguous files). */
  get entries(): readonly number[] {
    if (this.explicit === undefined) {
      this.explicit = Array.from({ length: this.count }, (_, i) => this.first + i);
    }
    return this.explicit;
  }

  /** Total bytes of event data (without magic, footer and trailer). */
  get dataSize(): number {
    return (this.offsets[this.count] ?? DATA_START) - DATA_START;
  }

  private checkPosition(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.count) {
      throw new RangeError(`${this.lfn}: position ${i} is outside the file (0..${this.count - 1})`);
    }
  }

  /** Entry of the event at position i. */
  entryAt(i: number): number {
    this.checkPosition(i);
    return this.contiguous ? this.first + i : (this.explicit as readonly number[])[i]!;
  }

  /** First position whose entry is >= `entry` (count when there is none). */
  lowerBound(entry: number): number {
    if (this.contiguous) return Math.min(this.count, Math.max(0, Math.ceil(entry - this.first)));
    const list = this.explicit as readonly number[];
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (list[mid]! < entry) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Position of the event with this entry, or -1 if the file does not hold it. */
  indexOf(entry: number): number {
    const i = this.lowerBound(entry);
    return i < this.count && this.entryAt(i) === entry ? i : -1;
  }

  /** Whether the file holds the event with this entry. */
  has(entry: number): boolean {
    return this.indexOf(entry) >= 0;
  }

  /** Absolute byte offset of the event at position i. */
  offsetOf(i: number): number {
    this.checkPosition(i);
    return this.offsets[i]!;
  }

  /** Size in bytes of the event at position i. */
  sizeOf(i: number): number {
    this.checkPosition(i);
    return this.offsets[i + 1]! - this.offsets[i]!;
  }

  /** Run and event number of the event at position i, when the file has them. */
  idsAt(i: number): { run: number; event: number } | undefined {
    this.checkPosition(i);
    if (this.runs === undefined || this.events === undefined) return undefined;
    return { run: this.runs[i]!, event: this.events[i]! };
  }

  /** Position of the event with this (run, event) pair, or -1 (event picking). */
  findEvent(run: number, event: number): number {
    if (this.runs === undefined || this.events === undefined) return -1;
    if (this.byId === undefined) {
      this.byId = new Map();
      for (let i = 0; i < this.count; i++) {
        const r = this.runs[i]!;
        let m = this.byId.get(r);
        if (m === undefined) this.byId.set(r, (m = new Map()));
        if (!m.has(this.events[i]!)) m.set(this.events[i]!, i);
      }
    }
    return this.byId.get(run)?.get(event) ?? -1;
  }

  /**
   * The byte span of the events whose entries are in [firstEntry, lastEntry]: always one
   * contiguous span. Throws a RangeError if first > last or the range reaches outside the
   * file's entries. In a file with explicit (skimmed) entries the range may hold no event:
   * then length is 0.
   */
  span(firstEntry: number, lastEntry: number): Span {
    if (!Number.isSafeInteger(firstEntry) || !Number.isSafeInteger(lastEntry) || firstEntry > lastEntry) {
      throw new RangeError(`${this.lfn}: invalid entry range ${firstEntry}..${lastEntry}`);
    }
    if (this.count === 0 || firstEntry < this.firstEntry || lastEntry > this.lastEntry) {
      const held = this.count === 0 ? 'no events' : `entries ${this.firstEntry}..${this.lastEntry}`;
      throw new RangeError(`${this.lfn}: entry range ${firstEntry}..${lastEntry} is outside the file, which holds ${held}`);
    }
    const firstIndex = this.lowerBound(firstEntry);
    const lastIndex = this.lowerBound(lastEntry + 1) - 1;
    const offset = this.offsets[firstIndex]!;
    const end = lastIndex >= firstIndex ? this.offsets[lastIndex + 1]! : offset;
    return { offset, length: end - offset, firstIndex, lastIndex };
  }
}
