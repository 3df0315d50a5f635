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

/**
 * Plans the chunks of a run of events given each event's entry and size (in stream order).
 * Every byte lands in exactly one chunk, in order; no chunk exceeds `maxChunk`; every event
 * appears in the `entries` of exactly one chunk, the one holding its first byte.
 */
export function planChunks(entries: readonly number[], sizes: readonly number[], maxChunk: number): ChunkSpec[] {
  if (entries.length !== sizes.length) throw new Error('entries and sizes differ in length');
  if (maxChunk <= 0) throw new Error('maxChunk must be positive');
  const chunks: ChunkSpec[] = [];
  let offset = 0;
  let cur: { offset: number; length: number; entries: number[]; sizes: number[] } | null = null;
  const flush = () => {
    if (cur && cur.length > 0) chunks.push({ seq: chunks.length, ...cur });
    cur = null;
  };
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    const size = sizes[i]!;
    if (size > maxChunk) {
      flush();
      // One event over several chunks: its entry goes with the first piece.
      let done = 0;
      while (done < size) {
        const length = Math.min(maxChunk, size - done);
        chunks.push({
          seq: chunks.length,
          offset: offset + done,
          length,
          entries: done === 0 ? [entry] : [],
          sizes: done === 0 ? [size] : [],
        });
        done += length;
      }
      offset += size;
      continue;
    }
    if (cur && (cur.length + size > maxChunk || cur.entries.length >= MAX_EVENTS_PER_CHUNK)) flush();
    cur ??= { offset, length: 0, entries: [], sizes: [] };
    cur.length += size;
    cur.entries.push(entry);
    cur.sizes.push(size);
    offset += size;
  }
  flush();
  return chunks;
}
