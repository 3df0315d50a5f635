/** What every scenario gets: options, a work folder, the agent processes, shared datasets, and where results go. */
import { join } from 'node:path';
import { type AgentPool } from './agents.js';
import type { Bundle } from './build.js';
import { createDataset, warmPageCache, type BenchDataset, type DatasetParams } from './data.js';
import type { Table } from './table.js';

export interface BenchOptions {
  readonly quick: boolean;
  /** Scenario ids to run (all when null). */
  readonly only: readonly string[] | null;
  /** BENCHMARKS.md path. */
  readonly out: string;
  /** Repetitions of each measurement. */
  readonly reps: number;
}

/** One section of BENCHMARKS.md. */
export interface Section {
  readonly id: string;
  readonly title: string;
  /** What the scenario does and how it measures (two sentences or so). */
  readonly intro: string;
  readonly tables: Table[];
  /** Paragraphs after the tables. */
  readonly notes: string[];
  /** Wall time the scenario took (s). */
  seconds?: number;
}

/** A figure quoted in the closing note: label → formatted value, plus the raw number. */
export interface Headline {
  readonly label: string;
  readonly value: string;
  readonly raw?: number;
}

export interface BenchContext {
  readonly opts: BenchOptions;
  readonly workDir: string;
  readonly dataDir: string;
  readonly pool: AgentPool;
  readonly bundles: { readonly agent: Bundle; readonly ceiling: Bundle; readonly worker: Bundle };
  /** Raw data for bench/results/*.json, by scenario. */
  readonly raw: Record<string, unknown>;
  readonly headlines: Map<string, Headline>;
  log(message: string): void;
  /** Prints a table now (it is also part of the scenario's section). */
  show(t: Table): void;
  /** True once the running scenario has used its share of the run's time budget: skip further repetitions. */
  overBudget(): boolean;
  /** The cache-hot dataset shared by the delivery scenarios (made once, in the page cache). */
  hotDataset(): Promise<BenchDataset>;
}

/** Sizes of the shared dataset in quick and full mode. */
export function hotParams(quick: boolean): DatasetParams {
  return quick
    ? { scope: 'bench', name: 'hot', files: 8, eventsPerFile: 160, sizeMean: 100 * 1024, rangeSize: 20 }
    : { scope: 'bench', name: 'hot', files: 32, eventsPerFile: 160, sizeMean: 100 * 1024, rangeSize: 20 };
}

export function datasetMaker(dataDir: string, quick: boolean, log: (m: string) => void): () => Promise<BenchDataset> {
  let made: Promise<BenchDataset> | null = null;
  return () =>
    (made ??= (async () => {
      const p = hotParams(quick);
      log(`generating dataset ${p.scope}:${p.name} (${p.files} files × ${p.eventsPerFile} events, ~${Math.round((p.files * p.eventsPerFile * p.sizeMean) / 2 ** 20)} MiB) in ${join(dataDir, 'datasets')}`);
      const ds = await createDataset(dataDir, p);
      await warmPageCache(ds);
      return ds;
    })());
}
