/** Sources: storage endpoints that read byte ranges, each with live figures, and the choice between replicas. */
export { SourceError, SourceStats, type Source, type SourceKind } from './Source.js';
export { FileSource } from './FileSource.js';
export { HttpSource, type HttpSourceOptions } from './HttpSource.js';
export { VirtualSource, type VirtualFileInfo } from './VirtualSource.js';
export { ReplicaReader, ReplicaReadError, type ReplicaReceipt } from './ReplicaReader.js';
export { SourceSet } from './SourceSet.js';
