/**
 * Loads the datasets of a data directory into the catalogue: one folder per dataset at
 * `DIR/datasets/<scope>/<name>/`, described by its dataset.json or, failing that, by its files' footers.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MANIFEST_NAME, openEventFile, type GenParams } from '@ess/format';
import type { Logger } from '../log.js';
import type { CatalogueFile, Dataset } from './Catalogue.js';
import { describeLocalRootFile, ROOT_FILE_SUFFIX, type RootFileRef, type RootFileWish } from './RootFiles.js';

export const EVENT_FILE_SUFFIX = '.ess';

export interface ManifestFile {
  readonly lfn: string;
  readonly guid: string;
  readonly size: number;
  readonly events: number;
  /** Set for a ROOT file: its TTree and run/event branches. */
  readonly root?: RootFileRef | undefined;
}

async function subdirs(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

export interface DataDirContents {
  /** Datasets whose files are in the folder, served by the local source. */
  readonly local: Dataset[];
  /** Datasets whose dataset.json says they are virtual: generated on request from these parameters. */
  readonly virtual: GenParams[];
}

/** Reads every dataset folder under `root/datasets`. Files are served by the source `sourceId`. */
export async function readDataDir(root: string, sourceId: string, log: Logger): Promise<DataDirContents> {
  const base = join(root, 'datasets');
  const local: Dataset[] = [];
  const virtual: GenParams[] = [];
  for (const scope of await subdirs(base)) {
    for (const name of await subdirs(join(base, scope))) {
      const dir = join(base, scope, name);
      try {
        const manifest = await readManifest(dir);
        if (manifest?.virtual) {
          if (!manifest.generator) throw new Error('a virtual dataset.json needs its generator parameters');
          virtual.push(manifest.generator.params);
          continue;
        }
        const files = manifest?.files ? await completeRootFiles(dir, manifest) : await readFooters(dir);
        if (files.length === 0) {
          log.warn({ dir }, 'dataset folder holds no event files; skipped');
          continue;
        }
        local.push(makeDataset(scope, name, files, (lfn) => [{ source: sourceId, url: join(dir, lfn) }]));
      } catch (e) {
        log.error({ dir, err: e }, 'cannot load dataset folder; skipped');
      }
    }
  }
  return { local, virtual };
}

interface Manifest {
  readonly files?: (Omit<ManifestFile, 'root' | 'guid' | 'size' | 'events'> & Partial<ManifestFile> & { readonly format?: 'ess' | 'root'; readonly tree?: string })[];
  /** For datasets of ROOT files: the TTree and the run/event branches (each file may name its own `tree`). */
  readonly root?: RootFileWish;
  readonly virtual?: boolean;
  readonly generator?: { readonly params: GenParams };
}

async function readManifest(dir: string): Promise<Manifest | null> {
  const manifestPath = join(dir, MANIFEST_NAME);
  try {
    return JSON.parse(await readFile(manifestPath, 'utf8')) as Manifest;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`${manifestPath}: ${(e as Error).message}`);
  }
}

const isRootFile = (f: { lfn: string; format?: string; tree?: string }, m: Manifest | null): boolean =>
  f.format === 'root' || (f.format === undefined && (m?.root !== undefined || f.tree !== undefined || f.lfn.endsWith(ROOT_FILE_SUFFIX)));

/** The manifest's files, ROOT ones completed from the files themselves (entries, GUID, TTree, run/event branches). */
async function completeRootFiles(dir: string, m: Manifest): Promise<ManifestFile[]> {
  const out: ManifestFile[] = [];
  for (const f of m.files ?? []) {
    if (!isRootFile(f, m)) {
      out.push({ lfn: f.lfn, guid: f.guid!, size: f.size!, events: f.events! });
      continue;
    }
    const facts = await describeLocalRootFile(join(dir, f.lfn), f.lfn, { ...m.root, ...(f.tree !== undefined && { tree: f.tree }) });
    out.push({ lfn: f.lfn, guid: f.guid ?? facts.guid, size: facts.size, events: facts.events, root: facts.ref });
  }
  return out;
}

/** A folder without a manifest: each event file describes itself in its footer, each ROOT file (with one TTree) in its header and tree. */
async function readFooters(dir: string): Promise<ManifestFile[]> {
  const all = (await readdir(dir)).sort();
  const names = all.filter((n) => n.endsWith(EVENT_FILE_SUFFIX));
  const files: ManifestFile[] = [];
  for (const lfn of all.filter((n) => n.endsWith(ROOT_FILE_SUFFIX))) {
    const facts = await describeLocalRootFile(join(dir, lfn), lfn);
    files.push({ lfn, guid: facts.guid, size: facts.size, events: facts.events, root: facts.ref });
  }
  for (const lfn of names) {
    const path = join(dir, lfn);
    const file = await openEventFile(path);
    try {
      files.push({ lfn, guid: file.index.guid, size: (await stat(path)).size, events: file.index.count });
    } finally {
      await file.close();
    }
  }
  return files;
}

export function makeDataset(
  scope: string,
  name: string,
  files: readonly ManifestFile[],
  replicas: (lfn: string) => CatalogueFile['replicas'],
): Dataset {
  const id = `${scope}:${name}`;
  const catalogueFiles = files.map(
    (f, index): CatalogueFile => ({
      dataset: id,
      index,
      scope,
      lfn: f.lfn,
      guid: f.guid,
      size: f.size,
      events: f.events,
      replicas: replicas(f.lfn),
      ...(f.root && { root: f.root }),
    }),
  );
  return {
    id,
    scope,
    name,
    files: catalogueFiles,
    events: catalogueFiles.reduce((n, f) => n + f.events, 0),
    bytes: catalogueFiles.reduce((n, f) => n + f.size, 0),
  };
}
