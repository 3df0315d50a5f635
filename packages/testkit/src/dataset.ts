/** Generated datasets in a data directory's layout, and checks of range files against them. */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { datasetDir, generateDataset, openEventFile, type DatasetManifest, type GenParams } from '@ess/format';

export type DatasetSpec = Partial<GenParams> & Pick<GenParams, 'files' | 'eventsPerFile'>;

/** Writes a dataset to `<dataDir>/datasets/<scope>/<name>/` and returns its manifest. */
export async function makeDataset(dataDir: string, spec: DatasetSpec): Promise<DatasetManifest & { dir: string; id: string }> {
  const params: GenParams = { seed: 1, scope: 'test', name: 'events', sizeMean: 16 * 1024, sizeDist: 'lognormal', sizeSigma: 0.5, ...spec };
  const dir = datasetDir(dataDir, params.scope, params.name);
  const manifest = await generateDataset(params, dir);
  return { ...manifest, dir, id: `${params.scope}:${params.name}` };
}

export interface RangeFileCheck {
  /** Range files read. */
  readonly files: number;
  /** Events found, by `lfn#entry`, with how many times each appeared. */
  readonly seen: Map<string, number>;
  /** Descriptions of every difference from the source. */
  readonly mismatches: string[];
  readonly bytes: number;
}

/**
 * Reads every range file under `outDirs` and compares each event's bytes with the same entry
 * of the dataset file in `datasetDir`.
 */
export async function checkRangeFiles(outDirs: readonly string[], datasetDirPath: string): Promise<RangeFileCheck> {
  const seen = new Map<string, number>();
  const mismatches: string[] = [];
  const sources = new Map<string, Awaited<ReturnType<typeof openEventFile>>>();
  let files = 0;
  let bytes = 0;
  try {
    for (const dir of outDirs) {
      let names: string[];
      try {
        names = (await readdir(dir)).filter((n) => n.endsWith('.ess'));
      } catch {
        continue;
      }
      for (const name of names) {
        const rf = await openEventFile(join(dir, name));
        try {
          files++;
          const lfn = rf.index.lfn;
          let src = sources.get(lfn);
          if (!src) {
            src = await openEventFile(join(datasetDirPath, lfn));
            sources.set(lfn, src);
          }
          for (let i = 0; i < rf.index.count; i++) {
            const entry = rf.index.entryAt(i);
            const key = `${lfn}#${entry}`;
            seen.set(key, (seen.get(key) ?? 0) + 1);
            const got = await rf.readEvent(entry);
            const want = await src.readEvent(entry);
            bytes += got.length;
            if (!got.equals(want)) mismatches.push(`${name}: entry ${entry} of ${lfn} differs from the source`);
          }
        } finally {
          await rf.close();
        }
      }
    }
  } finally {
    await Promise.all([...sources.values()].map((s) => s.close()));
  }
  return { files, seen, mismatches, bytes };
}
