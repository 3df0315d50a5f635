/**
 * Loads the datasets of a data directory into the catalogue: one folder per dataset at
 * `DIR/datasets/<scope>/<name>/`, described by its dataset.json or, failing that, by its files' footers.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MANIFEST_NAME, openEventFile, type GenParams } from '@ess/format';
import type { Logger } from '../log.js';
import type { CatalogueFile, Dataset } from './Catalogue.js';

export const EVENT_FILE_SUFFIX = '.ess';

export interface ManifestFile {
  readonly lfn: string;
  readonly guid: string;
  readonly size: number;
  readonly events: number;
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
        const files = manifest?.files ?? (await readFooters(dir));
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
  readonly files?: ManifestFile[];
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

/** A folder without a manifest: each event file describes itself in its footer. */
async function readFooters(dir: string): Promise<ManifestFile[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith(EVENT_FILE_SUFFIX)).sort();
  const files: ManifestFile[] = [];
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
