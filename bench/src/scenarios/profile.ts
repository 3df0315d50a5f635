/**
 * The hot path, profiled: the ESS node of scenario 1 run under `node --cpu-prof` while N workers
 * pull the cache-hot dataset; self time by function and by component. Profiling slows the node,
 * so this run's throughput is not reported against anything.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { closeWorkers, connectWorkers, runTasks } from '../lib/essrun.js';
import { EssProcess, MALLOC_TUNABLES } from '../lib/ess.js';
import { summarizeProfile } from '../lib/cpuprofile.js';
import { RESULTS_DIR } from '../lib/paths.js';
import { num } from '../lib/stats.js';
import type { BenchContext, Section } from '../lib/context.js';
import type { Table } from '../lib/table.js';
import { gbps, type Scenario } from './types.js';

export const profileScenario: Scenario = {
  id: 'profile',
  title: 'Where the time goes (CPU profile of the node)',
  estimate: { quick: 20, full: 35 },
  run,
};

async function run(ctx: BenchContext): Promise<Section> {
  const ds = await ctx.hotDataset();
  const n = ctx.opts.quick ? 4 : 16;
  const passes = ctx.opts.quick ? 2 : 3;
  const profDir = join(ctx.workDir, 'cpuprofile');
  rmSync(profDir, { recursive: true, force: true });
  mkdirSync(profDir, { recursive: true });
  rmSync(join(ctx.dataDir, 'state'), { recursive: true, force: true });
  const ess = await EssProcess.start({ dataDir: ctx.dataDir, cpuProfDir: profDir, args: ['--cache-memory', `${Math.ceil((ds.bytes * 1.25) / 2 ** 20)}MiB`, '--cache-disk', '0', '--drain', '0'] });
  let rate = NaN;
  let from = 0;
  let to = 0;
  try {
    const agents = await ctx.pool.ensure(n);
    await connectWorkers(ess, agents, { idPrefix: 'prof', mode: 'count', perAgent: 1 });
    // One pass fills the cache; only the passes after it are summarized.
    await runTasks(ess, agents, ds, 1, 300_000);
    from = performance.now();
    const m = await runTasks(ess, agents, ds, passes, 300_000);
    to = performance.now();
    rate = gbps(m);
    await closeWorkers(ess, agents);
  } finally {
    await ess.stop();
  }
  const exitAt = performance.now();
  const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error('the node wrote no CPU profile');
  mkdirSync(RESULTS_DIR, { recursive: true });
  const kept = join(RESULTS_DIR, `ess-node${ctx.opts.quick ? '-quick' : ''}.cpuprofile`);
  copyFileSync(join(profDir, file), kept);
  const p = summarizeProfile(kept, 18, { fromMsBeforeEnd: exitAt - from, toMsBeforeEnd: exitAt - to });
  const pct = (ms: number) => `${((100 * ms) / p.busyMs).toFixed(1)} %`;
  const fnTable: Table = {
    title: `Top functions by self time (of ${num(p.busyMs / 1000)} s busy in the ${num(p.totalMs / 1000)} s of the measured passes)`,
    head: ['function', 'where', 'component', 'self, ms', 'share of busy'],
    rows: p.functions.map((f) => [f.name, f.where, f.component, num(f.selfMs, 3), pct(f.selfMs)]),
  };
  const compTable: Table = {
    title: 'Self time by component',
    head: ['component', 'self, ms', 'share of busy'],
    rows: p.components.slice(0, 14).map((c) => [c.component, num(c.selfMs, 3), pct(c.selfMs)]),
  };
  const probe = chunkCostProbe();
  const probeTable: Table = {
    title: 'What one 1 MiB chunk costs, measured in a fresh Node process (GB/s of payload)',
    head: ['operation', 'GB/s', `with GLIBC_TUNABLES=${MALLOC_TUNABLES}`],
    rows: [
      ['copy 1 MiB into a fresh Buffer.allocUnsafe (what the node does per chunk)', num(probe.plain.fresh), num(probe.tuned.fresh)],
      ['copy 1 MiB into a reused buffer (a frame pool)', num(probe.plain.reused), num(probe.tuned.reused)],
      ['zlib crc32 of 1 MiB (the end marker)', num(probe.plain.crc), num(probe.tuned.crc)],
    ],
  };
  ctx.show(fnTable);
  ctx.show(compTable);
  ctx.show(probeTable);
  ctx.raw.profile = { n, passes, gbpsUnderProfiler: rate, ...p, file: kept, probe };
  return {
    id: 'profile',
    title: profileScenario.title,
    intro:
      `The node of scenario 1 (cache-hot, memory cache) run with \`node --cpu-prof\` while ${n} workers pull the dataset: one pass to fill the cache, then ${passes} passes (${num(rate)} GB/s under the profiler) whose window alone is summarized, by self time. Anonymous functions are named after the function that made them. ` +
      `The raw profile is kept in \`bench/results/${kept.split('/').pop()}\` (open it in Chrome DevTools or speedscope).`,
    tables: [fnTable, compTable, probeTable],
    notes: [],
  };
}

/** Copies into fresh and reused 1 MiB buffers, and CRC-32s, in a child process (its malloc state is its own). */
function chunkCostProbe(): { plain: Probe; tuned: Probe } {
  const script = `
    const { crc32 } = await import('node:zlib');
    const src = Buffer.alloc(1 << 20, 7), reused = Buffer.allocUnsafe((1 << 20) + 64), N = 600;
    const rate = (fn) => { for (let i = 0; i < 20; i++) fn(); const t = performance.now(); for (let i = 0; i < N; i++) fn(); return (N * (1 << 20)) / (performance.now() - t) / 1e6; };
    const fresh = rate(() => src.copy(Buffer.allocUnsafe((1 << 20) + 64), 64));
    const re = rate(() => src.copy(reused, 64));
    const crc = rate(() => crc32(src, 0));
    process.stdout.write(JSON.stringify({ fresh, reused: re, crc }));`;
  const run = (env: Record<string, string>): Probe => JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, ...env }, encoding: 'utf8' })) as Probe;
  return { plain: run({}), tuned: run({ GLIBC_TUNABLES: MALLOC_TUNABLES }) };
}

interface Probe {
  readonly fresh: number;
  readonly reused: number;
  readonly crc: number;
}
