/**
 * @ess/format: the ESS event file format (MessagePack records + footer index), its reader and
 * writer, and the deterministic dataset generator. docs/FORMAT.md is the specification.
 */
export { FILE_MAGIC, TRAILER_MAGIC, TRAILER_SIZE, FORMAT_VERSION, DATA_START, FOOTER_FORMAT, TAIL_READ_SIZE } from './constants.js';
export { FormatError, type FormatErrorCode } from './errors.js';
export { openFileByteSource, type ByteSource } from './byte-source.js';
export { FileIndex, validateFooter, type Footer, type Span } from './file-index.js';
export { EventFile, openEventFile, decodeEvent, decodeEvents, type OpenOptions } from './reader.js';
export { EventFileWriter, type EventFileInfo, type WriterOptions, type WrittenFile } from './writer.js';
export type { EventRecord, Met, Jet, Track, Lepton } from './event-record.js';
export {
  generateEvent,
  eventIds,
  eventHeader,
  fileLfn,
  fileGuid,
  normalizeGenParams,
  DEFAULT_SIZE_SIGMA,
  MAX_SIZE_FACTOR,
  MAX_SIZE_MEAN,
  GENERATOR_VERSION,
  type GenParams,
  type SizeDist,
  type EventHeader,
} from './generator.js';
export {
  generateDataset,
  readDatasetManifest,
  generatedFileMeta,
  type DatasetManifest,
  type DatasetFile,
  type GenProgress,
} from './dataset.js';
export { datasetDir, parseDatasetName, MANIFEST_NAME } from './dataset-names.js';
export { parseSize, formatSize } from './size.js';
export { VirtualFile, type VirtualLayout } from './virtual.js';
export { MsgpackWriter } from './msgpack-writer.js';
