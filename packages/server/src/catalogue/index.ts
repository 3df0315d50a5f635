/** Catalogue: what data exists, where its replicas are, and where each event lives. */
export { Catalogue, CatalogueError, parseDatasetId, type CatalogueFile, type Dataset, type EventLocation, type FileBytes, type Replica } from './Catalogue.js';
export { readDataDir, makeDataset, EVENT_FILE_SUFFIX, type DataDirContents, type ManifestFile } from './DataDir.js';
export { FileCatalogueStore, DatasetSpecSchema, HttpSourceSpecSchema, parseState, type CatalogueStore, type CatalogueState, type DatasetSpec, type HttpSourceSpec, type StoredDataset, type StoredReplica } from './CatalogueStore.js';
export { KnowledgeBase } from './KnowledgeBase.js';
export { describeRootFile, describeLocalRootFile, ROOT_FILE_SUFFIX, type RootFileRef, type RootFileWish, type RootFileFacts } from './RootFiles.js';
export type { RootEventIds } from './Catalogue.js';
