/**
 * Every message of the worker channel (/v1/stream) and the monitor channel (/v1/monitor),
 * as zod schemas (validation of what arrives) and the discriminated unions inferred from them.
 */
import { z } from 'zod';
import { EventRangeSchema } from './range.js';
import { MonitorSnapshotSchema, MonitorDeltaSchema } from './monitor.js';
import { MAX_EVENTS_PER_CHUNK } from './limits.js';

/** Who is on the other end of a socket. */
export const Role = { worker: 'worker', monitor: 'monitor' } as const;
export type Role = (typeof Role)[keyof typeof Role];

const id = z.string().min(1).max(128);
const count = z.number().int().nonnegative();
const bytes = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const bin = z.instanceof(Uint8Array);

// ---- client → server ---------------------------------------------------------------------------

export const ResumeEntrySchema = z.object({
  range: id,
  /** The fencing token from the range's `assign`. */
  token: z.string().min(1).max(128),
  /** Payload bytes and chunks received (whole chunks only). */
  bytes,
  chunks: count,
  /** CRC-32 of the payload received so far (0 when nothing arrived). */
  crc32: z.number().int().nonnegative().max(0xffffffff),
  /** True when the end marker arrived (the range waits for its report). */
  complete: z.boolean(),
});
export type ResumeEntry = z.infer<typeof ResumeEntrySchema>;

export const HelloSchema = z.object({
  type: z.literal('hello'),
  protocol: z.number().int(),
  role: z.enum([Role.worker, Role.monitor]),
  /** Bearer token (static or JWT); required unless the server runs without access control. */
  token: z.string().max(8192).optional(),
  /** A worker's identity: a newer session with the same id replaces an older one. */
  worker: z
    .object({
      id,
      label: z.string().max(256).optional(),
      site: z.string().max(256).optional(),
    })
    .optional(),
  want: z
    .object({
      maxChunk: bytes.optional(),
      window: bytes.optional(),
      prefetch: z.number().int().positive().max(10_000).optional(),
    })
    .optional(),
  /** Free text naming the client software, for logs. */
  agent: z.string().max(256).optional(),
  /**
   * Ranges this worker held when its previous session ended, and how far their data got, so a
   * reconnect within the grace period (or to a restarted server, within the lease) takes them
   * back without any byte being sent twice.
   */
  resume: z.array(ResumeEntrySchema).max(10_000).optional(),
});

export const SubscribeSchema = z.object({
  type: z.literal('subscribe'),
  /** The task to take ranges from, or null for any active task (by priority). */
  task: z.number().int().nonnegative().nullable(),
});

export const CreditSchema = z.object({
  type: z.literal('credit'),
  /**
   * Absolute limit: the total payload bytes the server may have sent on this session.
   * Never decreases; a duplicate or stale grant is harmless.
   */
  limit: bytes,
});

export const ReportStatus = { running: 'running', finished: 'finished', failed: 'failed' } as const;
export type ReportStatus = (typeof ReportStatus)[keyof typeof ReportStatus];

export const ReportSchema = z.object({
  type: z.literal('report'),
  range: id,
  /** The fencing token from the range's `assign`: proves the report comes from the lease holder. */
  token: z.string().min(1).max(128),
  status: z.enum([ReportStatus.running, ReportStatus.finished, ReportStatus.failed]),
  /** With `failed`: events fully processed, counted from startEvent; only the rest is retried. */
  eventsDone: count.optional(),
  /** With `failed`: what went wrong, for operators. */
  message: z.string().max(4096).optional(),
  /** With `finished`: the `eventsRead` and `events` of the range's `end` (events read from the source, events that passed the skim). */
  eventsRead: count.optional(),
  eventsPassed: count.optional(),
});

export const HeartbeatSchema = z.object({
  type: z.literal('heartbeat'),
  /** Sender's clock in ms since the epoch, for logs and round-trip estimates. */
  t: z.number(),
});

export const ClientMessageSchema = z.discriminatedUnion('type', [
  HelloSchema,
  SubscribeSchema,
  CreditSchema,
  ReportSchema,
  HeartbeatSchema,
]);

// ---- server → client ---------------------------------------------------------------------------

export const LimitsSchema = z.object({
  maxChunk: bytes,
  window: bytes,
  prefetch: z.number().int().positive(),
  heartbeatMs: z.number().int().positive(),
  leaseMs: z.number().int().positive(),
  maxFrame: bytes,
});

export const WelcomeSchema = z.object({
  type: z.literal('welcome'),
  protocol: z.number().int(),
  role: z.enum([Role.worker, Role.monitor]),
  server: z.object({ id: z.string(), version: z.string() }),
  /** This connection's session id (changes on every reconnect). */
  session: z.string(),
  /** The worker identity the server recorded (the one asked for, or a generated one); null for monitors. */
  worker: z.string().nullable(),
  /** What was negotiated; null for monitors, which have no credit or leases. */
  limits: LimitsSchema.nullable(),
});

/** Column types of ROOT records: a scalar, or `list<scalar>` for a jagged or fixed-size array branch. */
export const COLUMN_SCALAR_TYPES = ['bool', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'float32', 'float64', 'string'] as const;
export type ColumnScalarType = (typeof COLUMN_SCALAR_TYPES)[number];
/** A column's type: a scalar, or a list of one. */
export type ColumnType = ColumnScalarType | `list<${ColumnScalarType}>`;
const COLUMN_TYPE = new RegExp(`^(${COLUMN_SCALAR_TYPES.join('|')})$|^list<(${COLUMN_SCALAR_TYPES.join('|')})>$`);

/**
 * What a range's event records are and which range file the worker writes of them. Absent from
 * `assign`: plain ESS event records, written as an ESS event file.
 */
export const RangeContentSchema = z.object({
  /** `ess`: ESS event records (docs/FORMAT.md §3), maybe skimmed or slimmed; `root`: TTree entries, one map branch → value each. */
  records: z.enum(['ess', 'root']),
  /** The range file to write: an ESS event file (`.ess`) or an Apache Arrow IPC file (`.arrow`). */
  file: z.enum(['ess', 'arrow']),
  /** ROOT: the TTree the entries come from. */
  tree: z.string().max(256).optional(),
  /** ROOT: the branches every record holds, in order, with their column types (the Arrow schema). */
  columns: z.array(z.object({ name: z.string().min(1).max(256), type: z.string().regex(COLUMN_TYPE) })).max(100_000).optional(),
  /** The predicate applied: only events for which it held are sent. */
  skim: z.string().max(4096).optional(),
  /** The field patterns delivered (the rest was left out). */
  slim: z.array(z.string().max(1024)).max(4096).optional(),
});
export type RangeContent = z.infer<typeof RangeContentSchema>;

export const AssignSchema = z.object({
  type: z.literal('assign'),
  range: EventRangeSchema,
  /** Lease fencing token: proof of holding this attempt of the range. */
  token: z.string(),
  /** What the records are and what file to write; absent for plain ESS records. */
  content: RangeContentSchema.optional(),
});

export const ChunkSchema = z
  .object({
    type: z.literal('chunk'),
    range: id,
    /** 0, 1, 2... within the range. */
    seq: count,
    /** Byte position of `data` within the range's payload. */
    offset: bytes,
    /** Entry positions of the events that begin in this chunk (an event larger than a chunk continues in the next ones). */
    entries: z.array(count).max(MAX_EVENTS_PER_CHUNK),
    /** Byte length of each event in `entries`. */
    sizes: z.array(count).max(MAX_EVENTS_PER_CHUNK),
    data: bin,
  })
  .refine((c) => c.entries.length === c.sizes.length, { message: 'entries and sizes must have the same length', path: ['sizes'] });

export const EndSchema = z.object({
  type: z.literal('end'),
  range: id,
  chunks: count,
  bytes,
  /** Events delivered (fewer than the range holds when a skim dropped some). */
  events: count,
  /** Events read from the source for this range. */
  eventsRead: count,
  /** CRC-32 (IEEE, as zlib.crc32) of the whole payload of the range. */
  crc32: z.number().int().nonnegative(),
});

export const AckSchema = z.object({
  type: z.literal('ack'),
  range: id,
  status: z.enum([ReportStatus.running, ReportStatus.finished, ReportStatus.failed]),
  /** True when this outcome had already been recorded: the report was a harmless retry. */
  duplicate: z.boolean(),
});

export const DoneReason = { complete: 'complete', cancelled: 'cancelled' } as const;
export const DoneSchema = z.object({
  type: z.literal('done'),
  task: z.number().int().nonnegative(),
  reason: z.enum([DoneReason.complete, DoneReason.cancelled]),
});

export const RevokeSchema = z.object({
  type: z.literal('revoke'),
  range: id,
  reason: z.string(),
});

export const ResumedSchema = z.object({
  type: z.literal('resumed'),
  /** Ranges taken back: their data continues from the bytes the worker said it had. */
  ranges: z.array(id),
  /** Ranges not taken back (lease lapsed, token stale, task gone): drop them. */
  refused: z.array(z.object({ range: id, code: z.string(), reason: z.string() })),
});

export const ErrorMessageSchema = z.object({
  type: z.literal('error'),
  code: z.string(),
  message: z.string(),
  /** True when the server closes the session after this message. */
  fatal: z.boolean(),
  /** The eventRangeID or message type the error is about, when there is one. */
  ref: z.string().optional(),
});

export const ServerMessageSchema = z.discriminatedUnion('type', [
  WelcomeSchema,
  AssignSchema,
  ChunkSchema,
  EndSchema,
  AckSchema,
  DoneSchema,
  RevokeSchema,
  ResumedSchema,
  HeartbeatSchema,
  ErrorMessageSchema,
  MonitorSnapshotSchema,
  MonitorDeltaSchema,
]);

export type Hello = z.infer<typeof HelloSchema>;
export type Subscribe = z.infer<typeof SubscribeSchema>;
export type Credit = z.infer<typeof CreditSchema>;
export type Report = z.infer<typeof ReportSchema>;
export type Heartbeat = z.infer<typeof HeartbeatSchema>;
export type ClientMessage = z.infer<typeof ClientMessageSchema>;

export type Welcome = z.infer<typeof WelcomeSchema>;
export type Assign = z.infer<typeof AssignSchema>;
export type Chunk = z.infer<typeof ChunkSchema>;
export type End = z.infer<typeof EndSchema>;
export type Ack = z.infer<typeof AckSchema>;
export type Done = z.infer<typeof DoneSchema>;
export type Revoke = z.infer<typeof RevokeSchema>;
export type Resumed = z.infer<typeof ResumedSchema>;
export type ErrorMessage = z.infer<typeof ErrorMessageSchema>;
export type ServerMessage = z.infer<typeof ServerMessageSchema>;

export type MessageType = ClientMessage['type'] | ServerMessage['type'];
export const CLIENT_MESSAGE_TYPES = ClientMessageSchema.options.map((o) => o.shape.type.value);
export const SERVER_MESSAGE_TYPES = ServerMessageSchema.options.map((o) => o.shape.type.value);
