/**
 * What operators registered at run time (sources, datasets, extra replicas), kept so the knowledge
 * base survives restarts: in <data>/state/catalogue.json on one node, in Redis for a cluster.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';

const ReplicaSchema = z.object({ source: z.string().min(1).max(128), url: z.string().min(1).max(4096) });

export const HttpSourceSpecSchema = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$/, 'letters, digits, . _ - (up to 64), starting with a letter or digit'),
    kind: z.literal('http'),
    endpoint: z.string().url().max(2048),
    connections: z.number().int().min(1).max(256).optional(),
    stallMs: z.number().int().min(100).max(600_000).optional(),
  })
  .strict();
export type HttpSourceSpec = z.infer<typeof HttpSourceSpecSchema>;

export const GenParamsSchema = z
  .object({
    seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    files: z.number().int().min(1).max(100_000),
    eventsPerFile: z.number().int().min(1).max(10_000_000),
    sizeMean: z.number().int().min(1).max(256 * 1024 * 1024),
    sizeDist: z.enum(['fixed', 'exp', 'lognormal']).default('lognormal'),
    sizeSigma: z.number().min(0).max(5).optional(),
  })
  .strict();

const FileSpecSchema = z
  .object({
    lfn: z.string().min(1).max(1024),
    guid: z.string().min(1).max(128).optional(),
    size: z.number().int().min(0).optional(),
    events: z.number().int().min(0).optional(),
    replicas: z.array(ReplicaSchema).min(1).max(64),
    /** `root` for a ROOT file (also implied by `tree`, the dataset's `root`, or a `.root` LFN). */
    format: z.enum(['ess', 'root']).optional(),
    /** The TTree of a ROOT file (default: the dataset's, or the file's only TTree). */
    tree: z.string().min(1).max(256).optional(),
  })
  .strict();
export type FileSpec = z.infer<typeof FileSpecSchema>;

const BranchName = z.string().min(1).max(256);
/** How the files of a ROOT dataset are read: the TTree and the branches giving each entry's run and event numbers. */
export const RootSpecSchema = z.object({ tree: BranchName.optional(), run: BranchName.optional(), event: BranchName.optional() }).strict();
const RootRefSchema = z.object({ tree: z.string(), run: z.string().optional(), event: z.string().optional() });

const Name = z.string().regex(/^[A-Za-z0-9_.\-]{1,255}$/, 'letters, digits, . _ - only');

/** A dataset an operator registers: files on remote sources, or a virtual (generated) one. */
export const DatasetSpecSchema = z.union([
  z.object({ scope: Name, name: Name, files: z.array(FileSpecSchema).min(1).max(100_000), root: RootSpecSchema.optional() }).strict(),
  z.object({ scope: Name, name: Name, virtual: GenParamsSchema }).strict(),
]);
export type DatasetSpec = z.infer<typeof DatasetSpecSchema>;

const StoredFileSchema = z.object({ lfn: z.string(), guid: z.string(), size: z.number(), events: z.number(), replicas: z.array(ReplicaSchema), root: RootRefSchema.optional() });
const StoredDatasetSchema = z.union([
  z.object({ scope: z.string(), name: z.string(), files: z.array(StoredFileSchema) }),
  z.object({ scope: z.string(), name: z.string(), virtual: GenParamsSchema }),
]);
export type StoredDataset = z.infer<typeof StoredDatasetSchema>;

const StateSchema = z.object({
  version: z.literal(1),
  sources: z.array(HttpSourceSpecSchema),
  datasets: z.array(StoredDatasetSchema),
  /** Replicas added to datasets (also to datasets found in the data directory). */
  replicas: z.array(z.object({ dataset: z.string(), lfn: z.string(), source: z.string(), url: z.string() })),
});
export type CatalogueState = z.infer<typeof StateSchema>;

export const EMPTY_STATE: CatalogueState = { version: 1, sources: [], datasets: [], replicas: [] };

export type StoredReplica = CatalogueState['replicas'][number];

/**
 * Where registrations are kept: one put per registration, so two nodes registering at the same
 * time cannot overwrite each other's (the Redis store relies on that).
 */
export interface CatalogueStore {
  load(): Promise<CatalogueState>;
  putSource(spec: HttpSourceSpec): Promise<void>;
  putDataset(dataset: StoredDataset): Promise<void>;
  putReplica(replica: StoredReplica): Promise<void>;
}

/** The single-node store: <data>/state/catalogue.json, rewritten atomically on each change. */
export class FileCatalogueStore implements CatalogueStore {
  private state: CatalogueState | null = null;
  private writing: Promise<void> = Promise.resolve();

  constructor(readonly path: string) {}

  async load(): Promise<CatalogueState> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      this.state = structuredClone(EMPTY_STATE);
      return structuredClone(this.state);
    }
    this.state = parseState(JSON.parse(text), this.path);
    return structuredClone(this.state);
  }

  putSource(spec: HttpSourceSpec): Promise<void> {
    return this.update((s) => s.sources.push(spec));
  }

  putDataset(dataset: StoredDataset): Promise<void> {
    return this.update((s) => s.datasets.push(dataset));
  }

  putReplica(replica: StoredReplica): Promise<void> {
    return this.update((s) => s.replicas.push(replica));
  }

  /** Applies a change and writes the file (temp file, flushed, renamed); writes are serialised. */
  private update(change: (s: CatalogueState) => void): Promise<void> {
    this.writing = this.writing.then(async () => {
      if (!this.state) await this.load();
      change(this.state!);
      const text = JSON.stringify(this.state, null, 2) + '\n';
      await mkdir(dirname(this.path), { recursive: true });
      const tmp = `${this.path}.tmp`;
      await writeFile(tmp, text, { flush: true });
      await rename(tmp, this.path);
    });
    return this.writing;
  }
}

export function parseState(value: unknown, where: string): CatalogueState {
  const parsed = StateSchema.safeParse(value);
  if (!parsed.success) throw new Error(`${where} is not a valid catalogue state: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}


