/**
 * @ess/protocol: the wire contract shared by server, client and dashboard.
 * Nothing here does I/O; everything a peer needs to speak ESS is exported from this file.
 */
export { PROTOCOL_VERSION, STREAM_PATH, MONITOR_PATH, Incompatibility, incompatibility } from './version.js';
export { CloseCode, ErrorCode, ok, err, type ProtocolError, type Result } from './codes.js';
export {
  RangeState,
  RANGE_STATES,
  TERMINAL_STATES,
  EventRangeSchema,
  formatRangeId,
  parseRangeId,
  rangeKey,
  type EventRange,
  type RangeIdParts,
} from './range.js';
export {
  MIN_CHUNK,
  MAX_EVENTS_PER_CHUNK,
  CHUNK_FRAME_OVERHEAD,
  MAX_CREDIT,
  DEFAULT_LIMIT_POLICY,
  negotiateLimits,
  type Limits,
  type LimitRequest,
  type LimitPolicy,
} from './limits.js';
export * from './messages.js';
export * from './monitor.js';
export { SendWindow, ReceiveWindow } from './credit.js';
export { packStandard, unpackStandard, unpackStandardAll } from './msgpack.js';
export { encode, encodeChunk, allocChunkFrame, decodeClientMessage, decodeServerMessage, type ChunkHeader } from './codec.js';
