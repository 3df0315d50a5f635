/** Sources: storage endpoints that read byte ranges, each with live figures. */
export { SourceError, SourceStats, type Source, type SourceKind } from './Source.js';
export { FileSource } from './FileSource.js';
export { SourceSet } from './SourceSet.js';
