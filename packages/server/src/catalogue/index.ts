/** Catalogue: what data exists, where its replicas are, and where each event lives. */
export { Catalogue, CatalogueError, parseDatasetId, type CatalogueFile, type Dataset, type Replica } from './Catalogue.js';
export { readDataDir, makeDataset, EVENT_FILE_SUFFIX } from './DataDir.js';
