/**
 * `pnpm bench` — ESS side by side with the systems a user would use instead, on this machine, in
 * one run: starts everything it needs on loopback, runs each scenario, prints tables as it goes,
 * and writes BENCHMARKS.md (+ BENCHMARKS.svg) at the repository root and the raw numbers to
 * bench/results/<date>.json.
 *
 *   pnpm bench [--quick] [--only throughput,latency,...] [--out ../BENCHMARKS.md] [--reps N] [--keep]
 *
 * Benchmarks are not tests: nothing here passes or fails on a timing.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { AgentPool } from './lib/agents.js';
import { bundle, loadEsbuild } from './lib/build.js';
import { datasetMaker, type BenchContext, type BenchOptions, type Section } from './lib/context.js';
import { serverRuntime } from './lib/ess.js';
import { REPO, RESULTS_DIR, CLIENT_PKG, BENCH_DIR, distIsFresh } from './lib/paths.js';
import { machineCpu, machineInfo, ownCpuSeconds } from './lib/proc.js';
import { writeReport, type RunInfo } from './lib/report.js';
import { text } from './lib/table.js';
import { scenarios } from './scenarios/index.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    out: { type: 'string' },
    reps: { type: 'string' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  process.stdout.write(
    [
      'pnpm bench [--quick] [--only <ids>] [--out <file>] [--reps <n>] [--keep]',
      '  --quick       smaller data, fewer levels, 2 repetitions (about 3 minutes)',
      `  --only        comma-separated scenario ids: ${scenarios.map((s) => s.id).join(', ')}`,
      '  --out         where to write the report (default: BENCHMARKS.md at the repository root)',
      '  --reps        repetitions per measurement (default 2 quick, 3 full)',
      '  --keep        keep the work folder (datasets, logs, CPU profiles)',
      '',
    ].join('\n'),
  );
  process.exit(0);
}

const quick = values.quick === true;
const opts: BenchOptions = {
  quick,
  only: values.only ? values.only.split(',').map((s) => s.trim()) : null,
  out: resolve(values.out ? resolve(process.env.INIT_CWD ?? process.cwd(), values.out) : join(REPO, 'BENCHMARKS.md')),
  reps: values.reps ? Math.max(1, Number(values.reps)) : quick ? 2 : 3,
};
const command = `pnpm bench${process.argv.slice(2).length > 0 ? ` ${process.argv.slice(2).join(' ')}` : ''}`;

const started = Date.now();
const log = (m: string) => process.stdout.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${m}\n`);

const selected = scenarios.filter((s) => opts.only === null || opts.only.includes(s.id));
if (opts.only) {
  const unknown = opts.only.filter((id) => !scenarios.some((s) => s.id === id));
  if (unknown.length > 0) {
    process.stderr.write(`unknown scenario(s): ${unknown.join(', ')}; known: ${scenarios.map((s) => s.id).join(', ')}\n`);
    process.exit(2);
  }
}

const machineBefore = machineInfo();
const cpuBefore = machineCpu();
const ownBefore = ownCpuSeconds();
const workDir = mkdtempSync(join(tmpdir(), 'ess-bench-'));
const dataDir = join(workDir, 'data');
mkdirSync(dataDir, { recursive: true });
log(`ESS benchmarks (${quick ? 'quick' : 'full'}), ${opts.reps} repetitions; work folder ${workDir}`);
const fresh = distIsFresh();
log(`server processes run ${serverRuntime() === 'dist' ? 'the built CLI (dist/)' : `the sources through tsx (dist/ is older than src/ in: ${fresh.stale.join(', ')})`}`);
log(`scenarios: ${selected.map((s) => `${s.id} (~${quick ? s.estimate.quick : s.estimate.full} s)`).join(', ')}`);

const esb = loadEsbuild();
log(esb ? `bundling child programs with esbuild ${esb.version}` : 'esbuild not found: child processes run through tsx (slower start-up)');
const bundles = {
  agent: await bundle(join(BENCH_DIR, 'src', 'procs', 'agent.ts')),
  ceiling: await bundle(join(BENCH_DIR, 'src', 'procs', 'ceiling.ts')),
  worker: await bundle(join(CLIENT_PKG, 'src', 'cli', 'main.ts'), 'ess-worker'),
};
const pool = new AgentPool(bundles.agent);

/** The whole run must fit in 20 minutes (3 quick); each scenario gets a share in proportion to its estimate. */
const budgetSeconds = quick ? 165 : 18 * 60;
let scenarioDeadline = Infinity;

const sections: Section[] = [];
const failures: { id: string; error: string }[] = [];
const ctx: BenchContext = {
  opts,
  workDir,
  dataDir,
  pool,
  bundles,
  raw: {},
  headlines: new Map(),
  log,
  overBudget: () => Date.now() > scenarioDeadline,
  show: (t) => process.stdout.write(`${text(t)}\n\n`),
  hotDataset: datasetMaker(dataDir, quick, log),
};

const cleanup = () => {
  if (!values.keep) rmSync(workDir, { recursive: true, force: true });
};
process.once('SIGINT', () => {
  cleanup();
  process.exit(130);
});

try {
  for (const [i, s] of selected.entries()) {
    log(`== ${s.title}`);
    const t0 = Date.now();
    const left = budgetSeconds - (t0 - started) / 1000;
    const est = (x: (typeof selected)[number]) => (quick ? x.estimate.quick : x.estimate.full);
    const restEstimate = selected.slice(i).reduce((a, x) => a + est(x), 0);
    scenarioDeadline = t0 + Math.max(est(s), (left * est(s)) / restEstimate) * 1000;
    try {
      const section = await s.run(ctx);
      section.seconds = (Date.now() - t0) / 1000;
      sections.push(section);
      log(`== ${s.id} done in ${section.seconds.toFixed(0)} s`);
    } catch (e) {
      const error = (e as Error).stack ?? String(e);
      failures.push({ id: s.id, error });
      log(`!! ${s.id} failed: ${error}`);
    }
  }
} finally {
  await pool.close();
}

const cpuAfter = machineCpu();
const ownCpu = ownCpuSeconds() - ownBefore;
const wallSeconds = (Date.now() - started) / 1000;
const machineBusy = cpuAfter.busy - cpuBefore.busy;
const info: RunInfo = {
  command,
  quick,
  reps: opts.reps,
  startedAt: new Date(started).toISOString(),
  wallSeconds,
  machine: machineBefore,
  loadavgAfter: machineInfo().loadavg,
  machineBusyCpuSeconds: machineBusy,
  benchCpuSeconds: ownCpu,
  otherCpuSeconds: Math.max(0, machineBusy - ownCpu),
  machineCpuSeconds: cpuAfter.total - cpuBefore.total,
  serverRuntime: serverRuntime(),
  failures,
};
mkdirSync(RESULTS_DIR, { recursive: true });
const stamp = new Date(started).toISOString().replace(/[:.]/g, '-');
const rawFile = join(RESULTS_DIR, `${stamp}${quick ? '-quick' : ''}.json`);
writeFileSync(rawFile, JSON.stringify({ info, raw: ctx.raw, headlines: Object.fromEntries(ctx.headlines) }, null, 2));
writeReport(opts.out, info, sections, ctx);
log(`wrote ${opts.out}, ${opts.out.replace(/\.md$/, '.svg')} and ${rawFile}`);
log(`total ${wallSeconds.toFixed(0)} s; other processes used ${info.otherCpuSeconds.toFixed(0)} of ${info.machineCpuSeconds.toFixed(0)} CPU-seconds during the run`);
cleanup();
process.exit(failures.length > 0 ? 1 : 0);
