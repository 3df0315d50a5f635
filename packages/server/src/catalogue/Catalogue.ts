/**
 * The catalogue (knowledge base): datasets, their files, each file's replicas, and each file's
 * event index, read once from the file's footer (one small read) and kept.
 */
import { EventFile, type ByteSource } from '@ess/format';
import type { SourceSet } from '../sources/index.js';

export interface Replica {
  /** Id of the source that serves it. */
  readonly source: string;
  /** Path or URL of the file at that source. */
  readonly url: string;
}

export interface CatalogueFile {
  readonly dataset: string;
  /** Position of the file in its dataset (0-based), encoded in eventRangeIDs. */
  readonly index: number;
  readonly scope: string;
  readonly lfn: string;
  readonly guid: string;
  readonly size: number;
  readonly events: number;
  readonly replicas: readonly Replica[];
}

export interface Dataset {
  /** `scope:name`. */
  readonly id: string;
  readonly scope: string;
  readonly name: string;
  readonly files: readonly CatalogueFile[];
  readonly events: number;
  readonly bytes: number;
}

export class CatalogueError extends Error {
  constructor(
    readonly code: 'not_found' | 'invalid' | 'exists',
    message: string,
  ) {
    super(message);
  }
}

const DATASET_ID = /^([A-Za-z0-9_.\-]{1,128}):([A-Za-z0-9_.\-]{1,255})$/;

export function parseDatasetId(id: string): { scope: string; name: string } | null {
  const m = DATASET_ID.exec(id);
  return m ? { scope: m[1]!, name: m[2]! } : null;
}

export class Catalogue {
  private readonly datasets = new Map<string, Dataset>();
  private readonly indexes = new Map<string, Promise<EventFile>>();

  constructor(private readonly sources: SourceSet) {}

  add(dataset: Dataset): Dataset {
    if (this.datasets.has(dataset.id)) throw new CatalogueError('exists', `dataset ${dataset.id} is already registered`);
    this.datasets.set(dataset.id, dataset);
    return dataset;
  }

  get(id: string): Dataset | undefined {
    return this.datasets.get(id);
  }

  require(id: string): Dataset {
    const d = this.datasets.get(id);
    if (!d) throw new CatalogueError('not_found', `no dataset "${id}"`);
    return d;
  }

  list(): Dataset[] {
    return [...this.datasets.values()];
  }

  file(dataset: string, index: number): CatalogueFile {
    const f = this.require(dataset).files[index];
    if (!f) throw new CatalogueError('not_found', `dataset ${dataset} has no file #${index}`);
    return f;
  }

  /** The file's event index, read from its footer on first use and kept; concurrent callers share one read. */
  eventFile(file: CatalogueFile): Promise<EventFile> {
    const key = `${file.dataset}#${file.index}`;
    let p = this.indexes.get(key);
    if (!p) {
      p = EventFile.open(this.byteSource(file));
      p.catch(() => this.indexes.delete(key));
      this.indexes.set(key, p);
    }
    return p;
  }

  /** Reads of a file through its first replica's source (the cache and replica selection sit in `marshal`). */
  byteSource(file: CatalogueFile): ByteSource {
    const replica = file.replicas[0];
    if (!replica) throw new CatalogueError('invalid', `file ${file.lfn} has no replica`);
    const source = this.sources.require(replica.source);
    return {
      size: file.size,
      read: (offset, length) => source.read(replica.url, offset, length),
    };
  }
}
