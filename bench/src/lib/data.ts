/**
 * Benchmark datasets: generated event files (as `ess gen` writes them), and the plan of their
 * event ranges — byte spans and chunk cuts exactly as ESS makes them — that the peers and the
 * ceiling replay.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openEventFile, type DatasetManifest } from '@ess/format';
import { planChunks } from '@ess/server';
import { makeDataset } from '@ess/testkit';
import type { SpanJob } from '../procs/messages.js';

export interface PlannedChunk {
  readonly range: string;
  readonly seq: number;
  readonly offset: number;
  readonly fileOffset: number;
  readonly length: number;
  readonly entries: readonly number[];
  readonly sizes: readonly number[];
}

export interface PlannedRange {
  readonly file: number;
  readonly lfn: string;
  readonly offset: number;
  readonly length: number;
  readonly events: number;
  readonly chunks: readonly PlannedChunk[];
}

export interface BenchDataset {
  readonly id: string;
  readonly dir: string;
  /** Path of the folder holding the files relative to the data directory's `datasets/` root (for origins serving that root). */
  readonly relDir: string;
  readonly manifest: DatasetManifest;
  readonly rangeSize: number;
  readonly ranges: readonly PlannedRange[];
  readonly bytes: number;
  readonly events: number;
}

export interface DatasetParams {
  readonly scope: string;
  readonly name: string;
  readonly files: number;
  readonly eventsPerFile: number;
  readonly sizeMean: number;
  readonly rangeSize: number;
  readonly maxChunk?: number;
  readonly sizeDist?: 'fixed' | 'lognormal' | 'exp';
}

/** Generates the dataset under `<dataDir>/datasets/<scope>/<name>/` and plans its ranges. */
export async function createDataset(dataDir: string, p: DatasetParams): Promise<BenchDataset> {
  const m = await makeDataset(dataDir, {
    scope: p.scope,
    name: p.name,
    files: p.files,
    eventsPerFile: p.eventsPerFile,
    sizeMean: p.sizeMean,
    sizeDist: p.sizeDist ?? 'lognormal',
    seed: 7,
  });
  const ranges: PlannedRange[] = [];
  let rangeNo = 0;
  for (let f = 0; f < m.files.length; f++) {
    const file = m.files[f]!;
    const ef = await openEventFile(join(m.dir, file.lfn));
    try {
      const idx = ef.index;
      for (let start = 0; start < idx.count; start += p.rangeSize) {
        const last = Math.min(start + p.rangeSize, idx.count) - 1;
        const span = idx.span(idx.entryAt(start), idx.entryAt(last));
        const entries: number[] = [];
        const sizes: number[] = [];
        for (let i = span.firstIndex; i <= span.lastIndex; i++) {
          entries.push(idx.entryAt(i));
          sizes.push(idx.sizeOf(i));
        }
        const id = `1-${f}-${rangeNo++}-1`;
        const chunks = planChunks(entries, sizes, p.maxChunk ?? 1024 * 1024).map((c) => ({ range: id, seq: c.seq, offset: c.offset, fileOffset: span.offset, length: c.length, entries: c.entries, sizes: c.sizes }));
        ranges.push({ file: f, lfn: file.lfn, offset: span.offset, length: span.length, events: entries.length, chunks });
      }
    } finally {
      await ef.close();
    }
  }
  const bytes = ranges.reduce((a, r) => a + r.length, 0);
  const events = ranges.reduce((a, r) => a + r.events, 0);
  return { id: m.id, dir: m.dir, relDir: `${p.scope}/${p.name}`, manifest: m, rangeSize: p.rangeSize, ranges, bytes, events };
}

/** Reads every file once so that the page cache holds the dataset. */
export async function warmPageCache(ds: BenchDataset): Promise<void> {
  for (const f of ds.manifest.files) await readFile(join(ds.dir, f.lfn));
}

/** The ranges as HTTP span jobs against an origin serving the `datasets/` root at `baseUrl`. */
export function spanJobs(ds: BenchDataset, baseUrl: string): SpanJob[] {
  return ds.ranges.map((r) => ({ url: `${baseUrl}/${ds.relDir}/${r.lfn}`, offset: r.offset, length: r.length, events: r.events }));
}

/** Splits `items` round-robin into `n` lists. */
export function deal<T>(items: readonly T[], n: number): T[][] {
  const out: T[][] = Array.from({ length: n }, () => []);
  items.forEach((x, i) => out[i % n]!.push(x));
  return out;
}
