/**
 * The event range: the unit of work, with PanDA-compatible field names, its states,
 * and the eventRangeID format `task-file-range-attempt`.
 */
import { z } from 'zod';

/** The life of a range. `failed` waits for a retry; `fatal` has no attempts left. */
export const RangeState = {
  ready: 'ready',
  assigned: 'assigned',
  running: 'running',
  finished: 'finished',
  failed: 'failed',
  fatal: 'fatal',
  cancelled: 'cancelled',
} as const;
export type RangeState = (typeof RangeState)[keyof typeof RangeState];
export const RANGE_STATES = Object.values(RangeState) as readonly RangeState[];

/** States a range never leaves. */
export const TERMINAL_STATES: ReadonlySet<RangeState> = new Set([
  RangeState.finished,
  RangeState.fatal,
  RangeState.cancelled,
]);

/** One event range as handed to a worker. `startEvent`/`lastEvent` are 0-based entry positions, inclusive. */
export const EventRangeSchema = z.object({
  eventRangeID: z.string().min(1).max(128),
  taskID: z.number().int().nonnegative(),
  scope: z.string(),
  LFN: z.string(),
  GUID: z.string(),
  startEvent: z.number().int().nonnegative(),
  lastEvent: z.number().int().nonnegative(),
  attempt: z.number().int().positive(),
  dataset: z.string(),
  /** Payload bytes the range will carry, or null when unknown in advance. */
  bytes: z.number().int().nonnegative().nullable(),
});
export type EventRange = z.infer<typeof EventRangeSchema>;

/** The parts an eventRangeID encodes. `file` is the file's index in its dataset, `range` the range's index in the file. */
export interface RangeIdParts {
  readonly task: number;
  readonly file: number;
  readonly range: number;
  readonly attempt: number;
}

export function formatRangeId(p: RangeIdParts): string {
  return `${p.task}-${p.file}-${p.range}-${p.attempt}`;
}

/** The identity of a range across attempts: `task-file-range`. */
export function rangeKey(p: Pick<RangeIdParts, 'task' | 'file' | 'range'>): string {
  return `${p.task}-${p.file}-${p.range}`;
}

// Canonical numbers only (no leading zeros), so each range attempt has exactly one id.
const RANGE_ID = /^(0|[1-9]\d{0,14})-(0|[1-9]\d{0,8})-(0|[1-9]\d{0,8})-([1-9]\d{0,5})$/;

/** Parses an eventRangeID; null when it is not of the form `task-file-range-attempt`. */
export function parseRangeId(id: string): RangeIdParts | null {
  const m = RANGE_ID.exec(id);
  if (!m) return null;
  const [, task, file, range, attempt] = m;
  const parts = { task: Number(task), file: Number(file), range: Number(range), attempt: Number(attempt) };
  return parts.attempt >= 1 ? parts : null;
}
