/**
 * Cutting a range's events into chunks: consecutive whole events up to `maxChunk` bytes per
 * chunk, an event larger than a chunk split over several. Pure, so its invariants are tested alone.
 */
import { MAX_EVENTS_PER_CHUNK } from '@ess/protocol';

export interface ChunkSpec {
  readonly seq: number;
  /** Byte position of the chunk's payload within the range. */
  readonly offset: number;
  readonly length: number;
  /** Entries of the events that begin in this chunk, and their full sizes. */
  readonly entries: readonly number[];
  readonly sizes: readonly number[];
}

/** Where a plan starts: at the beginning, or where a worker's data stopped (a chunk boundary of an earlier plan). */
export interface PlanStart {
  /** Byte position in the range's payload. */
  readonly byte: number;
  /** Sequence number of the first chunk. */
  readonly seq: number;
}

/**
 * Plans the chunks of a run of events given each event's entry and size (in stream order).
 * Every byte from `start.byte` on lands in exactly one chunk, in order; no chunk exceeds
 * `maxChunk`; every event that begins at or after `start.byte` appears in the `entries` of
 * exactly one chunk, the one holding its first byte. When `start.byte` falls inside an event
 * (an earlier plan split it), the plan begins with the rest of that event, listed nowhere.
 */
export function planChunks(
  entries: readonly number[],
  sizes: readonly number[],
  maxChunk: number,
  start: PlanStart = { byte: 0, seq: 0 },
): ChunkSpec[] {
  if (entries.length !== sizes.length) throw new Error('entries and sizes differ in length');
  if (maxChunk <= 0) throw new Error('maxChunk must be positive');
  const chunks: ChunkSpec[] = [];
  let offset = 0;
  let cur: { offset: number; length: number; entries: number[]; sizes: number[] } | null = null;
  const push = (c: Omit<ChunkSpec, 'seq'>) => chunks.push({ seq: start.seq + chunks.length, ...c });
  const flush = () => {
    if (cur && cur.length > 0) push(cur);
    cur = null;
  };
  /** Pieces of at most maxChunk over [from, to), the first listing `entry` when given. */
  const pieces = (from: number, to: number, entry: number | null, size: number) => {
    for (let at = from; at < to; at += maxChunk) {
      const first = at === from && entry !== null;
      push({ offset: at, length: Math.min(maxChunk, to - at), entries: first ? [entry] : [], sizes: first ? [size] : [] });
    }
  };
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    const size = sizes[i]!;
    const end = offset + size;
    if (end <= start.byte) {
      offset = end;
      continue;
    }
    if (offset < start.byte) {
      // The rest of an event an earlier plan began.
      pieces(start.byte, end, null, size);
      offset = end;
      continue;
    }
    if (size > maxChunk) {
      flush();
      // One event over several chunks: its entry goes with the first piece.
      pieces(offset, end, entry, size);
      offset = end;
      continue;
    }
    if (cur && (cur.length + size > maxChunk || cur.entries.length >= MAX_EVENTS_PER_CHUNK)) flush();
    cur ??= { offset, length: 0, entries: [], sizes: [] };
    cur.length += size;
    cur.entries.push(entry);
    cur.sizes.push(size);
    offset = end;
  }
  flush();
  return chunks;
}
