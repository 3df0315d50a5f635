/**
 * The catalogue (knowledge base): datasets, their files, each file's replicas, each file's event
 * index (read once from its footer: one small read) and the (run, event) index for event picking.
 */
import { EventFile } from '@ess/format';
import type { RootFileRef } from './RootFiles.js';

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
  /** Set for a ROOT file: its TTree (entries are the events) and its run/event branches. */
  readonly root?: RootFileRef | undefined;
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

/** Reads bytes of a catalogued file from wherever its replicas are (the replica reader, with failover). */
export type FileBytes = (file: CatalogueFile, offset: number, length: number) => Promise<Buffer>;

/** Reads every entry's run and event number of a ROOT file (on the data path, through the cache). */
export type RootEventIds = (file: CatalogueFile) => Promise<{ runs: readonly number[]; events: readonly number[] }>;

/** Where one event lives, found by its physics identity. */
export interface EventLocation {
  readonly run: number;
  readonly event: number;
  readonly file: number;
  readonly entry: number;
}

export class Catalogue {
  private readonly datasets = new Map<string, Dataset>();
  private readonly indexes = new Map<string, Promise<EventFile>>();
  /** Per dataset, (run, event) → locations (one, except in ROOT files that repeat an event), built from the files on first use. */
  private readonly eventIndexes = new Map<string, Promise<Map<string, EventLocation[]>>>();
  private rootEventIds: RootEventIds | null = null;

  constructor(private readonly bytes: FileBytes) {}

  /** How the run and event numbers of ROOT files are read (set once the data path exists). */
  useRootEventIds(read: RootEventIds): void {
    this.rootEventIds = read;
  }

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

  /** A file by its GUID, in any dataset (how nodes of a cluster name a file to each other). */
  fileByGuid(guid: string): CatalogueFile | undefined {
    for (const d of this.datasets.values()) {
      const f = d.files.find((x) => x.guid === guid);
      if (f) return f;
    }
    return undefined;
  }

  /** Adds replicas (by LFN) to files of a dataset; a replica already known is kept once. */
  addReplicas(dataset: string, replicas: ReadonlyMap<string, Replica>): Dataset {
    const d = this.require(dataset);
    const unknown = [...replicas.keys()].filter((lfn) => !d.files.some((f) => f.lfn === lfn));
    if (unknown.length > 0) throw new CatalogueError('not_found', `dataset ${dataset} has no file ${unknown.slice(0, 3).join(', ')}`);
    const files = d.files.map((f) => {
      const r = replicas.get(f.lfn);
      if (!r || f.replicas.some((x) => x.source === r.source && x.url === r.url)) return f;
      return { ...f, replicas: [...f.replicas, r] };
    });
    const updated = { ...d, files };
    this.datasets.set(dataset, updated);
    return updated;
  }

  /** The file's event index, read from its footer on first use and kept; concurrent callers share one read. */
  eventFile(file: CatalogueFile): Promise<EventFile> {
    if (file.root) return Promise.reject(new CatalogueError('invalid', `${file.lfn} is a ROOT file, not an ESS event file`));
    const key = `${file.dataset}#${file.index}`;
    let p = this.indexes.get(key);
    if (!p) {
      p = EventFile.open({ size: file.size, read: (offset, length) => this.bytes(file, offset, length) }, { name: file.lfn });
      p.catch(() => this.indexes.delete(key));
      this.indexes.set(key, p);
    }
    return p;
  }

  /**
   * Event picking: where each (run, event) of a dataset lives, from the run and event numbers its
   * files' footers hold (the EventIndex), without opening any event.
   */
  async locateEvents(dataset: string, ids: readonly { run: number; event: number }[]): Promise<{ found: EventLocation[]; missing: { run: number; event: number }[] }> {
    const index = await this.eventIndex(dataset);
    const found: EventLocation[] = [];
    const missing: { run: number; event: number }[] = [];
    for (const id of ids) {
      const at = index.get(`${id.run}:${id.event}`);
      if (at) found.push(...at);
      else missing.push(id);
    }
    return { found, missing };
  }

  private eventIndex(dataset: string): Promise<Map<string, EventLocation[]>> {
    let p = this.eventIndexes.get(dataset);
    if (!p) {
      const d = this.require(dataset);
      p = (async () => {
        const map = new Map<string, EventLocation[]>();
        for (const f of d.files) {
          if (f.root) {
            if (!this.rootEventIds) throw new CatalogueError('invalid', `${f.lfn}: ROOT files cannot be read here`);
            const { runs, events } = await this.rootEventIds(f);
            for (let entry = 0; entry < runs.length; entry++) {
              const run = runs[entry]!;
              const event = events[entry]!;
              // A TTree may hold several entries of one event (e.g. one per candidate): picking it picks them all.
              const at = map.get(`${run}:${event}`);
              if (at) at.push({ run, event, file: f.index, entry });
              else map.set(`${run}:${event}`, [{ run, event, file: f.index, entry }]);
            }
            continue;
          }
          const { index } = await this.eventFile(f);
          if (!index.runs || !index.events) throw new CatalogueError('invalid', `${f.lfn} has no run and event numbers in its footer: its events cannot be picked`);
          for (let i = 0; i < index.count; i++) {
            const run = index.runs[i]!;
            const event = index.events[i]!;
            map.set(`${run}:${event}`, [{ run, event, file: f.index, entry: index.entryAt(i) }]);
          }
        }
        return map;
      })();
      p.catch(() => this.eventIndexes.delete(dataset));
      this.eventIndexes.set(dataset, p);
    }
    return p;
  }
}
