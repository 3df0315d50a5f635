/**
 * Generated datasets on disk: generateDataset writes every file of a dataset plus its
 * dataset.json manifest; readDatasetManifest loads and checks a manifest.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MANIFEST_NAME } from './dataset-names.js';
import { GENERATOR_VERSION, eventIds, fileGuid, fileLfn, generateEvent, normalizeGenParams, type GenParams } from './generator.js';
import { EventFileWriter } from './writer.js';

/** One file of a dataset as listed in dataset.json. */
export interface DatasetFile {
  lfn: string;
  guid: string;
  /** Bytes. */
  size: number;
  /** Number of events. */
  events: number;
  /** Entry of the first event (0 for dataset files). */
  firstEntry: number;
}

/** The dataset.json manifest. */
export interface DatasetManifest {
  format: 'ess-dataset';
  version: 1;
  scope: string;
  name: string;
  /** "scope:name". */
  dataset: string;
  /** How the files were made; absent for datasets not produced by the generator. */
  generator?: { name: 'ess-gen'; version: number; params: GenParams };
  files: DatasetFile[];
  totalEvents: number;
  totalBytes: number;
}

/** Progress callback: bytes written so far, current estimate of the total, files finished. */
export type GenProgress = (bytesDone: number, bytesTotalEstimate: number, filesDone: number) => void;

/** The footer `meta` of generated file `fileIndex`. */
export function generatedFileMeta(params: GenParams, fileIndex: number): Record<string, unknown> {
  return { generator: 'ess-gen', generatorVersion: GENERATOR_VERSION, params: normalizeGenParams(params), fileIndex };
}

/**
 * Writes all files of a generated dataset into `outDir` (created if needed) as `<lfn>`, plus
 * `dataset.json`. Deterministic: the same parameters give byte-identical files.
 */
export async function generateDataset(params: GenParams, outDir: string, onProgress?: GenProgress): Promise<DatasetManifest> {
  const p = normalizeGenParams(params);
  await mkdir(outDir, { recursive: true });
  const dataset = `${p.scope}:${p.name}`;
  const totalEvents = p.files * p.eventsPerFile;
  const files: DatasetFile[] = [];
  let bytesDone = 0;
  let eventsDone = 0;
  let lastReport = 0;
  const report = (filesDone: number): void => {
    if (onProgress === undefined) return;
    const perEvent = eventsDone > 0 ? bytesDone / eventsDone : p.sizeMean;
    onProgress(bytesDone, Math.round(bytesDone + (totalEvents - eventsDone) * perEvent), filesDone);
    lastReport = bytesDone;
  };
  report(0);
  for (let f = 0; f < p.files; f++) {
    const lfn = fileLfn(p, f);
    const guid = fileGuid(p, f);
    const writer = await EventFileWriter.create(join(outDir, lfn), { dataset, lfn, guid, meta: generatedFileMeta(p, f) });
    try {
      for (let e = 0; e < p.eventsPerFile; e++) {
        const record = generateEvent(p, f, e);
        await writer.appendEvent(record, e, eventIds(p, f, e));
        bytesDone += record.length;
        eventsDone++;
        if (bytesDone - lastReport >= 4 * 1024 * 1024) report(f);
      }
      const written = await writer.close();
      files.push({ lfn, guid, size: written.size, events: written.count, firstEntry: 0 });
    } catch (e) {
      await writer.abort();
      throw e;
    }
    report(f + 1);
  }
  const manifest: DatasetManifest = {
    format: 'ess-dataset',
    version: 1,
    scope: p.scope,
    name: p.name,
    dataset,
    generator: { name: 'ess-gen', version: GENERATOR_VERSION, params: p },
    files,
    totalEvents,
    totalBytes: files.reduce((a, f) => a + f.size, 0),
  };
  const path = join(outDir, MANIFEST_NAME);
  await writeFile(`${path}.part`, `${JSON.stringify(manifest, null, 2)}\n`);
  await rename(`${path}.part`, path);
  return manifest;
}

/** Reads `<dir>/dataset.json`, checking its shape; throws an Error naming the problem. */
export async function readDatasetManifest(dir: string): Promise<DatasetManifest> {
  const path = join(dir, MANIFEST_NAME);
  const m = JSON.parse(await readFile(path, 'utf8')) as Partial<DatasetManifest>;
  const bad = (what: string): Error => new Error(`${path}: ${what}`);
  if (m.format !== 'ess-dataset') throw bad('not an ESS dataset manifest ("format" is not "ess-dataset")');
  if (m.version !== 1) throw bad(`unsupported manifest version ${String(m.version)}`);
  if (typeof m.scope !== 'string' || typeof m.name !== 'string') throw bad('"scope" and "name" must be strings');
  if (!Array.isArray(m.files)) throw bad('"files" must be an array');
  for (const f of m.files) {
    if (typeof f?.lfn !== 'string' || typeof f.guid !== 'string' || !Number.isSafeInteger(f.size) || !Number.isSafeInteger(f.events)) {
      throw bad('every file needs lfn, guid, size and events');
    }
  }
  return m as DatasetManifest;
}
