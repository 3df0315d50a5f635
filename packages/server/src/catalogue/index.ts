/** Catalogue: what data exists, where its replicas are, and where each event lives. */
export { Catalogue, CatalogueError, parseDatasetId, type CatalogueFile, type Dataset, type EventLocation, type FileBytes, type Replica } from './Catalogue.js';
export { readDataDir, makeDataset, EVENT_FILE_SUFFIX, type DataDirContents, type ManifestFile } from './DataDir.js';
export { CatalogueStore, DatasetSpecSchema, HttpSourceSpecSchema, type DatasetSpec, type HttpSourceSpec } from './CatalogueStore.js';
export { KnowledgeBase } from './KnowledgeBase.js';
