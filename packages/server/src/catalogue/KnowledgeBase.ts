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
import { type CatalogueState, type CatalogueStore, type DatasetSpec, type FileSpec, type HttpSourceSpec, type StoredDataset } from './CatalogueStore.js';
import { makeDataset, readDataDir, type ManifestFile } from './DataDir.js';

export interface KnowledgeBaseOptions {
  readonly dataDir: string;
  readonly catalogue: Catalogue;
  readonly sources: SourceSet;
  readonly virtual: VirtualSource;
  /** The source serving the data directory's files. */
  readonly localSource: string;
  readonly store: CatalogueStore;
  readonly log: Logger;
}

export class KnowledgeBase {
  private state: CatalogueState = { version: 1, sources: [], datasets: [], replicas: [] };
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
    this.state = await this.o.store.load();
    for (const spec of this.state.sources) this.tryLoad(`source ${spec.id}`, () => this.o.sources.add(httpSource(spec)));
    for (const d of this.state.datasets) await this.tryLoadAsync(`dataset ${d.scope}:${d.name}`, () => this.mount(d));
    for (const r of this.state.replicas) {
      this.tryLoad(`replica of ${r.lfn} in ${r.dataset}`, () => this.o.catalogue.addReplicas(r.dataset, new Map([[r.lfn, { source: r.source, url: r.url }]])));
    }
    for (const d of this.o.catalogue.list()) {
      this.log.info({ dataset: d.id, files: d.files.length, events: d.events, bytes: d.bytes }, 'dataset available');
    }
  }

  async addSource(spec: HttpSourceSpec): Promise<void> {
    if (this.o.sources.get(spec.id)) throw new CatalogueError('exists', `source "${spec.id}" is already registered`);
    this.o.sources.add(httpSource(spec));
    this.state.sources.push(spec);
    await this.o.store.save(this.state);
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
      for (const f of spec.files) files.push(await this.resolveFile(id, f));
      stored = { scope: spec.scope, name: spec.name, files };
    }
    const dataset = await this.mount(stored);
    this.state.datasets.push(stored);
    await this.o.store.save(this.state);
    this.log.info({ dataset: id, files: dataset.files.length, events: dataset.events }, 'dataset registered');
    return dataset;
  }

  /** Adds replicas on a registered source to files of a dataset, by LFN. */
  async addReplicas(dataset: string, source: string, urls: Readonly<Record<string, string>>): Promise<Dataset> {
    if (!this.o.sources.get(source)) throw new CatalogueError('not_found', `no source "${source}" (register it first)`);
    const replicas = new Map(Object.entries(urls).map(([lfn, url]) => [lfn, { source, url }] as const));
    const updated = this.o.catalogue.addReplicas(dataset, replicas);
    for (const [lfn, url] of Object.entries(urls)) this.state.replicas.push({ dataset, lfn, source, url });
    await this.o.store.save(this.state);
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
  private async resolveFile(dataset: string, f: FileSpec): Promise<ManifestFile & { replicas: Replica[] }> {
    for (const r of f.replicas) this.requireSource(r.source);
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

