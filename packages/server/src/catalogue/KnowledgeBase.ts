/**
 * The knowledge base: what data exists and where. It loads the data directory and what operators
 * registered before (sources, remote and virtual datasets, extra replicas), registers new ones,
 * fills in what a registration leaves out (sizes, event counts, GUIDs) from the files themselves,
 * and keeps every registration in the catalogue store.
 */
import { EventFile, type GenParams } from '@ess/format';
import type { Logger } from '../log.js';
import { HttpSource, type SourceSet, type VirtualSource } from '../sources/index.js';
import { Catalogue, CatalogueError, type Dataset, type Replica } from './Catalogue.js';
import { type CatalogueStore, type DatasetSpec, type FileSpec, type HttpSourceSpec, type StoredDataset } from './CatalogueStore.js';
import { makeDataset, readDataDir, type ManifestFile } from './DataDir.js';
import { describeRootFile, ROOT_FILE_SUFFIX, type RootFileWish } from './RootFiles.js';

export interface KnowledgeBaseOptions {
  readonly dataDir: string;
  readonly catalogue: Catalogue;
  readonly sources: SourceSet;
  readonly virtual: VirtualSource;
  /** The source serving the data directory's files. */
  readonly localSource: string;
  readonly store: CatalogueStore;
  readonly log: Logger;
  /** Told after each registration (a cluster tells the other nodes to sync). */
  readonly changed?: () => void;
}

export class KnowledgeBase {
  private readonly log: Logger;

  constructor(private readonly o: KnowledgeBaseOptions) {
    this.log = o.log;
  }

  get catalogue(): Catalogue {
    return this.o.catalogue;
  }

  /** Loads the data directory, then every earlier registration. A registration that no longer works is logged and skipped. */
  async load(): Promise<void> {
    const found = await readDataDir(this.o.dataDir, this.o.localSource, this.log);
    for (const d of found.local) this.o.catalogue.add(d);
    for (const params of found.virtual) await this.mountVirtual(params);
    await this.sync();
    for (const d of this.o.catalogue.list()) {
      this.log.info({ dataset: d.id, files: d.files.length, events: d.events, bytes: d.bytes }, 'dataset available');
    }
  }

  /**
   * Mounts the stored registrations not mounted yet (at start-up, and in a cluster when another
   * node registered something). Idempotent.
   */
  async sync(): Promise<void> {
    const state = await this.o.store.load();
    for (const spec of state.sources) {
      if (!this.o.sources.get(spec.id)) this.tryLoad(`source ${spec.id}`, () => this.o.sources.add(httpSource(spec)));
    }
    for (const d of state.datasets) {
      if (!this.o.catalogue.get(`${d.scope}:${d.name}`)) await this.tryLoadAsync(`dataset ${d.scope}:${d.name}`, () => this.mount(d));
    }
    for (const r of state.replicas) {
      this.tryLoad(`replica of ${r.lfn} in ${r.dataset}`, () => this.o.catalogue.addReplicas(r.dataset, new Map([[r.lfn, { source: r.source, url: r.url }]])));
    }
  }

  async addSource(spec: HttpSourceSpec): Promise<void> {
    if (this.o.sources.get(spec.id)) throw new CatalogueError('exists', `source "${spec.id}" is already registered`);
    this.o.sources.add(httpSource(spec));
    await this.o.store.putSource(spec);
    this.o.changed?.();
    this.log.info({ source: spec.id, endpoint: spec.endpoint }, 'source registered');
  }

  /** Registers a dataset: files on registered sources (facts left out are read from the files), or a virtual one. */
  async addDataset(spec: DatasetSpec): Promise<Dataset> {
    const id = `${spec.scope}:${spec.name}`;
    if (this.o.catalogue.get(id)) throw new CatalogueError('exists', `dataset ${id} is already registered`);
    let stored: StoredDataset;
    if ('virtual' in spec) {
      stored = { scope: spec.scope, name: spec.name, virtual: spec.virtual };
    } else {
      const files = [];
      for (const f of spec.files) files.push(await this.resolveFile(id, f, spec.root));
      stored = { scope: spec.scope, name: spec.name, files };
    }
    const dataset = await this.mount(stored);
    await this.o.store.putDataset(stored);
    this.o.changed?.();
    this.log.info({ dataset: id, files: dataset.files.length, events: dataset.events }, 'dataset registered');
    return dataset;
  }

  /** Adds replicas on a registered source to files of a dataset, by LFN. */
  async addReplicas(dataset: string, source: string, urls: Readonly<Record<string, string>>): Promise<Dataset> {
    if (!this.o.sources.get(source)) throw new CatalogueError('not_found', `no source "${source}" (register it first)`);
    const replicas = new Map(Object.entries(urls).map(([lfn, url]) => [lfn, { source, url }] as const));
    const updated = this.o.catalogue.addReplicas(dataset, replicas);
    for (const [lfn, url] of Object.entries(urls)) await this.o.store.putReplica({ dataset, lfn, source, url });
    this.o.changed?.();
    this.log.info({ dataset, source, files: replicas.size }, 'replicas registered');
    return updated;
  }

  private async mount(d: StoredDataset): Promise<Dataset> {
    if ('virtual' in d) return this.mountVirtual({ ...d.virtual, scope: d.scope, name: d.name });
    for (const f of d.files) for (const r of f.replicas) this.requireSource(r.source);
    const replicas = new Map(d.files.map((f) => [f.lfn, f.replicas] as const));
    return this.o.catalogue.add(makeDataset(d.scope, d.name, d.files, (lfn) => replicas.get(lfn) ?? []));
  }

  private async mountVirtual(params: GenParams): Promise<Dataset> {
    const v = this.o.virtual;
    v.register(params);
    const id = `${params.scope}:${params.name}`;
    const files = await v.describe(id);
    const urls = new Map(files.map((f) => [f.lfn, f.url] as const));
    const manifest: ManifestFile[] = files.map((f) => ({ lfn: f.lfn, guid: f.guid, size: f.size, events: f.events }));
    return this.o.catalogue.add(makeDataset(params.scope, params.name, manifest, (lfn) => [{ source: v.id, url: urls.get(lfn)! }]));
  }

  /** Completes a file's facts from its first replica that answers: size from the source, GUID and events from the footer. */
  private async resolveFile(dataset: string, f: FileSpec, root?: RootFileWish): Promise<ManifestFile & { replicas: Replica[] }> {
    for (const r of f.replicas) this.requireSource(r.source);
    const isRoot = f.format === 'root' || (f.format === undefined && (root !== undefined || f.tree !== undefined || f.lfn.endsWith(ROOT_FILE_SUFFIX)));
    if (isRoot) return this.resolveRootFile(f, { ...root, ...(f.tree !== undefined && { tree: f.tree }) });
    if (f.guid !== undefined && f.size !== undefined && f.events !== undefined) return { lfn: f.lfn, guid: f.guid, size: f.size, events: f.events, replicas: f.replicas };
    const problems: string[] = [];
    for (const r of f.replicas) {
      const source = this.requireSource(r.source);
      try {
        const size = f.size ?? (await source.size(r.url));
        const file = await EventFile.open({ size, read: (offset, length) => source.read(r.url, offset, length) }, { name: f.lfn });
        if (file.index.lfn !== f.lfn) this.log.warn({ dataset, lfn: f.lfn, footer: file.index.lfn }, 'the file calls itself by another LFN');
        return { lfn: f.lfn, guid: f.guid ?? file.index.guid, size, events: f.events ?? file.index.count, replicas: f.replicas };
      } catch (e) {
        problems.push(`${r.source} ${r.url}: ${(e as Error).message}`);
      }
    }
    throw new CatalogueError('invalid', `cannot read ${f.lfn} from any of its replicas (${problems.join('; ')})`);
  }

  /** A ROOT file is always opened (its TTree and run/event branches are checked): size from the source, GUID (UUID) and entries from the file. */
  private async resolveRootFile(f: FileSpec, wish: RootFileWish): Promise<ManifestFile & { replicas: Replica[] }> {
    const problems: string[] = [];
    for (const r of f.replicas) {
      const source = this.requireSource(r.source);
      try {
        const size = f.size ?? (await source.size(r.url));
        const facts = await describeRootFile({ name: f.lfn, size, read: (offset, into) => source.read(r.url, offset, into.length, into) }, wish);
        return { lfn: f.lfn, guid: f.guid ?? facts.guid, size, events: f.events ?? facts.events, replicas: f.replicas, root: facts.ref };
      } catch (e) {
        problems.push(`${r.source} ${r.url}: ${(e as Error).message}`);
      }
    }
    throw new CatalogueError('invalid', `cannot read ROOT file ${f.lfn} from any of its replicas (${problems.join('; ')})`);
  }

  private requireSource(id: string) {
    const s = this.o.sources.get(id);
    if (!s) throw new CatalogueError('not_found', `no source "${id}" (register it first)`);
    return s;
  }

  private tryLoad(what: string, load: () => unknown): void {
    try {
      load();
    } catch (e) {
      this.log.error({ err: e }, `cannot restore ${what}; skipped`);
    }
  }

  private async tryLoadAsync(what: string, load: () => Promise<unknown>): Promise<void> {
    try {
      await load();
    } catch (e) {
      this.log.error({ err: e }, `cannot restore ${what}; skipped`);
    }
  }
}

function httpSource(spec: HttpSourceSpec): HttpSource {
  return new HttpSource(spec.id, spec.endpoint, { connections: spec.connections, stallMs: spec.stallMs });
}

