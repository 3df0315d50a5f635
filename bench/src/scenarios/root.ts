/**
 * Hook for issue 7 (ROOT → Arrow): when `bench/src/root-throughput.ts` exists and exports
 * `runRootThroughput(opts)`, its results become a section of BENCHMARKS.md. Until then this
 * scenario says that it was skipped.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_DIR } from '../lib/paths.js';
import type { BenchContext, Section } from '../lib/context.js';
import type { Table } from '../lib/table.js';
import type { Scenario } from './types.js';

/** What issue 7's module is expected to return; anything else is printed as JSON. */
interface RootResult {
  readonly title?: string;
  readonly intro?: string;
  readonly tables?: Table[];
  readonly notes?: string[];
}

export const ROOT_MODULE = join(BENCH_DIR, 'src', 'root-throughput.ts');

export const rootScenario: Scenario = {
  id: 'root',
  title: 'ROOT → Arrow throughput (issue 7)',
  estimate: { quick: 20, full: 60 },
  run,
};

async function run(ctx: BenchContext): Promise<Section> {
  if (!existsSync(ROOT_MODULE)) {
    ctx.log('bench/src/root-throughput.ts does not exist yet (issue 7): skipped');
    return { id: 'root', title: rootScenario.title, intro: '_Not run: `bench/src/root-throughput.ts` (issue 7) does not exist yet. When it does, `pnpm bench` calls its `runRootThroughput(opts)` here._', tables: [], notes: [] };
  }
  // A computed specifier: the module may not exist when this file is type-checked.
  const specifier = '../root-throughput.js';
  const mod = (await import(specifier)) as { runRootThroughput?: (opts: unknown) => Promise<unknown> };
  if (typeof mod.runRootThroughput !== 'function') throw new Error('bench/src/root-throughput.ts does not export runRootThroughput');
  const r = (await mod.runRootThroughput({ quick: ctx.opts.quick, reps: ctx.opts.reps, workDir: ctx.workDir, pool: ctx.pool, log: ctx.log, show: ctx.show })) as RootResult;
  ctx.raw.root = r;
  const tables = Array.isArray(r?.tables) ? r.tables : [];
  for (const t of tables) ctx.show(t);
  return {
    id: 'root',
    title: r?.title ?? rootScenario.title,
    intro: r?.intro ?? 'Results of `runRootThroughput` (bench/src/root-throughput.ts).',
    tables,
    notes: Array.isArray(r?.notes) ? r.notes : tables.length === 0 ? ['```json', JSON.stringify(r, null, 2), '```'] : [],
  };
}
