/** Marshal: event range → byte span → chunk frames with an end checksum. */
export { planChunks, type ChunkSpec, type PlanStart } from './ChunkPlan.js';
export { FramePool, type FramePoolStats } from './FramePool.js';
export { RangeStream, type PreparedChunk, type ReadReceipt, type SpanReader, type StreamResume } from './RangeStream.js';
export { Marshaller, type DataReader, type RangeRequest, type RangeSpan } from './Marshaller.js';
export { CachedReader, cacheFile, type PeerFetch } from './CachedReader.js';
export { RootTrees } from './RootTrees.js';
export { compileSelection, SelectionError, type Selection, type SelectionSpec, type SourcePosition } from './Selection.js';
export { ESS_SCHEMA, rootSchema, type RecordSchema, type FieldInfo, type CelType } from './RecordSchema.js';
