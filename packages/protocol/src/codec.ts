/**
 * The one codec: standard MessagePack through msgpackr (maps, never records or other
 * extensions; data as `bin`), decoding into validated messages or an error value.
 */
import type { ZodType } from 'zod';
import { packStandard, unpackStandard } from './msgpack.js';
import { CloseCode, ErrorCode, type ProtocolError, type Result, ok, err } from './codes.js';
import {
  ClientMessageSchema,
  ServerMessageSchema,
  CLIENT_MESSAGE_TYPES,
  SERVER_MESSAGE_TYPES,
  type ClientMessage,
  type ServerMessage,
  type Chunk,
} from './messages.js';


/** Encodes any message as one standard MessagePack map. */
export function encode(message: ClientMessage | ServerMessage): Buffer {
  return packStandard(message);
}

export type ChunkHeader = Omit<Chunk, 'type' | 'data'>;

const BIN32_HEADER = 5;

/**
 * Lays out a chunk frame with room for `dataLength` payload bytes and returns the frame and
 * the view its payload must be written into (so a source can read straight into the frame:
 * one copy from disk or cache to the wire). The frame is a standard map whose last key is
 * `data`, a bin 32. `alloc` gives the frame's memory (a server reuses frames from a pool).
 */
export function allocChunkFrame(header: ChunkHeader, dataLength: number, alloc: (size: number) => Buffer = Buffer.allocUnsafe): { frame: Buffer; data: Buffer } {
  const head = packStandard({ type: 'chunk', ...header, data: EMPTY });
  // `data` is the last key, so the packed head ends with its empty bin 8: 0xc4 0x00.
  const keep = head.length - 2;
  const frame = alloc(keep + BIN32_HEADER + dataLength);
  head.copy(frame, 0, 0, keep);
  frame[keep] = 0xc6;
  frame.writeUInt32BE(dataLength, keep + 1);
  return { frame, data: frame.subarray(keep + BIN32_HEADER) };
}

/** Encodes a chunk around an existing payload (one copy of `data`). */
export function encodeChunk(header: ChunkHeader, data: Uint8Array): Buffer {
  const { frame, data: room } = allocChunkFrame(header, data.length);
  room.set(data);
  return frame;
}

// A plain Uint8Array, not a Buffer: this module also loads in browsers (the dashboard).
const EMPTY = new Uint8Array(0);

function decodeWith<T>(frame: Uint8Array, schema: ZodType<T>, known: readonly string[]): Result<T> {
  let value: unknown;
  try {
    value = unpackStandard(frame);
  } catch (e) {
    return err(badFrame(`not MessagePack: ${(e as Error).message}`));
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    return err(badFrame('a frame must be a MessagePack map'));
  }
  const type = (value as { type?: unknown }).type;
  if (typeof type !== 'string') return err(badFrame('the map has no string "type" field'));
  if (!known.includes(type)) {
    return err({ code: ErrorCode.unknownType, message: `unknown message type "${type.slice(0, 64)}"`, close: CloseCode.protocolError });
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
    return err({ code: ErrorCode.badMessage, message: `invalid "${type}": ${where}${issue?.message ?? 'invalid'}` });
  }
  return ok(parsed.data);
}

function badFrame(message: string): ProtocolError {
  return { code: ErrorCode.badFrame, message, close: CloseCode.protocolError };
}

/** Decodes and validates a frame a client sent. */
export function decodeClientMessage(frame: Uint8Array): Result<ClientMessage> {
  return decodeWith(frame, ClientMessageSchema, CLIENT_MESSAGE_TYPES);
}

/** Decodes and validates a frame a server sent. */
export function decodeServerMessage(frame: Uint8Array): Result<ServerMessage> {
  return decodeWith(frame, ServerMessageSchema, SERVER_MESSAGE_TYPES);
}
