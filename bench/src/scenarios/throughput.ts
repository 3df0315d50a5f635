/**
 * Scenario 1 — delivery throughput, cache-hot: ESS pushing ranges to N worker processes, against
 * the bare transport (ceiling), HTTP range GETs from nginx and XRootD's HTTP port (1 and 4 in
 * flight), whole-file copies with curl and xrdcp, and the real `ess worker` writing to tmpfs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { closeWorkers, connectWorkers, runTasks } from '../lib/essrun.js';
import { EssProcess } from '../lib/ess.js';
import { CeilingProcess } from '../lib/ceiling.js';
import { deal, spanJobs, type BenchDataset } from '../lib/data.js';
import { copyJobs, curlSlot, startOrigins, xrdcpSlot, type Origins } from '../lib/peers.js';
import { cpuSeconds, treeCpuSeconds } from '../lib/proc.js';
import { fmt, fmtRatio, fmtUnit, num, pairedRatio, summarize, type Summary } from '../lib/stats.js';
import { nodeArgs } from '../lib/build.js';
import type { Agent } from '../lib/agents.js';
import type { BenchContext, Section } from '../lib/context.js';
import type { Table } from '../lib/table.js';
import type { TransferResult } from '../procs/messages.js';
import { cpuPerGB, eventsPerSecond, gbps, sleep, within, type Measure, type Scenario } from './types.js';

const INFLIGHT = 4;

interface System {
  readonly key: string;
  readonly label: string;
  /** Largest N it runs at (the real worker CLI is limited so its start-up does not dominate quick runs). */
  readonly maxN?: number;
  measure(n: number): Promise<Measure>;
}

export const throughputScenario: Scenario = {
  id: 'throughput',
  title: '1. Delivery throughput, cache-hot',
  estimate: { quick: 60, full: 330 },
  run,
};

async function run(ctx: BenchContext): Promise<Section> {
  const ds = await ctx.hotDataset();
  const quick = ctx.opts.quick;
  const levels = quick ? [1, 4] : [1, 4, 16, 64];
  const passes = 1;
  const reps = ctx.opts.reps;
  const timeoutMs = 180_000;
  rmSync(join(ctx.dataDir, 'state'), { recursive: true, force: true });
  const cacheBytes = Math.ceil((ds.bytes * 1.25) / 2 ** 20) * 2 ** 20;
  const essArgs = ['--cache-memory', String(cacheBytes), '--cache-disk', '0', '--drain', '1000'];
  const ess = await EssProcess.start({ dataDir: ctx.dataDir, args: essArgs });
  // The same node with chunk-frame reuse off, as the node was before the profile (its own data
  // directory: two nodes never share one; the datasets are a symlink to the same files).
  const noPoolDir = join(ctx.workDir, 'ess-no-pool');
  rmSync(noPoolDir, { recursive: true, force: true });
  mkdirSync(noPoolDir, { recursive: true });
  symlinkSync(join(ctx.dataDir, 'datasets'), join(noPoolDir, 'datasets'));
  let noPool: EssProcess | null = null;
  let origins: Origins | null = null;
  let ceiling: CeilingProcess | null = null;
  try {
    noPool = await EssProcess.start({ dataDir: noPoolDir, args: [...essArgs, '--frame-pool', '0'] });
    origins = await startOrigins(join(ctx.dataDir, 'datasets'));
    ceiling = await CeilingProcess.start(ctx.bundles.ceiling, ds);
    const agents = await ctx.pool.ensure(Math.max(...levels));
    ctx.log(`servers up: ess pid ${ess.pid}, ceiling pid ${ceiling.pid}, nginx pid ${origins.nginxPid}, xrootd pid ${origins.xrootdPid}; ${agents.length} agents`);

    // Warm-up: one pass through each ESS node fills its memory cache; peers read the page cache.
    for (const node of [ess, noPool]) {
      await connectWorkers(node, agents.slice(0, 4), { idPrefix: 'warm', mode: 'count', perAgent: 1 });
      const warm = await runTasks(node, agents.slice(0, 4), ds, 1, timeoutMs);
      await closeWorkers(node, agents.slice(0, 4));
      ctx.log(`warm-up pass: ${num(gbps(warm))} GB/s`);
    }
    const m0 = await ess.metrics();

    const systems = makeSystems(ctx, ess, noPool, origins, ceiling, agents, ds, passes, timeoutMs);
    const results = new Map<string, Map<number, Measure[]>>();
    for (const s of systems) results.set(s.key, new Map(levels.map((n) => [n, []])));
    const failures: string[] = [];
    let repsDone = 0;
    // Repetitions outermost, systems innermost: every system of a level runs within seconds of the
    // others, and a repetition cut short by the time budget leaves every level with as many runs.
    for (let rep = 0; rep < reps; rep++) {
      if (rep > 0 && ctx.overBudget()) {
        ctx.log(`time budget reached: ${rep} repetition(s) instead of ${reps}`);
        break;
      }
      for (const n of levels) {
        for (const s of systems) {
          if (s.maxN !== undefined && n > s.maxN) continue;
          try {
            const m = await s.measure(n);
            results.get(s.key)!.get(n)!.push(m);
            ctx.log(`rep ${rep + 1}/${reps} N=${n} ${s.label}: ${num(gbps(m))} GB/s, ${num(eventsPerSecond(m), 3)} events/s, ${num(cpuPerGB(m))} CPU s/GB`);
          } catch (e) {
            failures.push(`rep ${rep + 1}, N=${n}, ${s.label}: ${(e as Error).message.split('\n')[0]}`);
            ctx.log(`!! rep ${rep + 1} N=${n} ${s.label} failed: ${(e as Error).message}`);
          }
        }
      }
      repsDone = rep + 1;
    }
    const m1 = await ess.metrics();
    const hit = (m1.get('ess_delivered_cache_hit_bytes_total') ?? 0) - (m0.get('ess_delivered_cache_hit_bytes_total') ?? 0);
    const miss = (m1.get('ess_delivered_cache_miss_bytes_total') ?? 0) - (m0.get('ess_delivered_cache_miss_bytes_total') ?? 0);

    const section = report(ctx, ds, systems, levels, results, passes, hit / Math.max(1, hit + miss), repsDone);
    if (failures.length > 0) section.notes.push(`Measurements that failed (left out): ${failures.join('; ')}.`);
    return section;
  } finally {
    await ceiling?.stop();
    await origins?.stop();
    await noPool?.stop();
    await ess.stop();
  }
}

function makeSystems(ctx: BenchContext, ess: EssProcess, noPool: EssProcess, o: Origins, ceiling: CeilingProcess, all: Agent[], ds: BenchDataset, passes: number, timeoutMs: number): System[] {
  const http = (origin: string, base: string, inflight: number, pid: number) => async (n: number): Promise<Measure> => {
    const agents = all.slice(0, n);
    const jobs = deal(Array.from({ length: passes }, () => spanJobs(ds, base)).flat(), n);
    const cpu0 = treeCpuSeconds(pid);
    const t0 = performance.now();
    const rs = await within(Promise.all(agents.map((a, i) => a.call<TransferResult>({ cmd: 'http', origin, spans: jobs[i]!, inflight }))), timeoutMs, 'range GETs');
    const seconds = (performance.now() - t0) / 1000;
    return { bytes: sum(rs.map((r) => r.bytes)), events: sum(rs.map((r) => r.events)), seconds, cpu: treeCpuSeconds(pid) - cpu0 };
  };
  const copies = (slot: (jobs: ReturnType<typeof copyJobs>) => Promise<number>, pid: number) => async (n: number): Promise<Measure> => {
    const jobs = deal(copyJobs(ds, passes), n);
    const cpu0 = treeCpuSeconds(pid);
    const t0 = performance.now();
    const bytes = await within(Promise.all(jobs.map(slot)), timeoutMs, 'whole-file copies');
    const seconds = (performance.now() - t0) / 1000;
    const events = passes * ds.events;
    return { bytes: sum(bytes), events, seconds, cpu: treeCpuSeconds(pid) - cpu0 };
  };
  const ceilingRun = (mode: 'prebuilt' | 'alloc' | 'pool') => async (n: number): Promise<Measure> => {
    const agents = all.slice(0, n);
    const cpu0 = cpuSeconds(ceiling.pid);
    const t0 = performance.now();
    const rs = await within(Promise.all(agents.map((a, i) => a.call<TransferResult>({ cmd: 'ceiling', url: ceiling.url, index: i, total: n, passes, mode }))), timeoutMs, 'ceiling');
    const seconds = (performance.now() - t0) / 1000;
    return { bytes: sum(rs.map((r) => r.bytes)), events: sum(rs.map((r) => r.events)), seconds, cpu: cpuSeconds(ceiling.pid) - cpu0 };
  };
  const essOn = (node: EssProcess) => async (n: number): Promise<Measure> => {
    const agents = all.slice(0, n);
    await connectWorkers(node, agents, { idPrefix: `tp${n}`, mode: 'count', perAgent: 1 });
    try {
      return await runTasks(node, agents, ds, passes, timeoutMs);
    } finally {
      const st = await closeWorkers(node, agents);
      const errors = st.flatMap((s) => s.errors);
      if (errors.length > 0) ctx.log(`  worker errors: ${errors.slice(0, 3).join('; ')}`);
    }
  };
  return [
    { key: 'ess', label: 'ESS (protocol workers, no disk)', measure: essOn(ess) },
    { key: 'essNoPool', label: 'ESS with chunk-frame reuse off (the node before the profile)', measure: essOn(noPool) },
    { key: 'ceiling', label: 'ceiling: bare uWS.js push', measure: ceilingRun('prebuilt') },
    { key: 'ceilAlloc', label: 'ceiling + a fresh 1 MiB frame per chunk', measure: ceilingRun('alloc') },
    { key: 'ceilPool', label: 'ceiling + frames from a pool', measure: ceilingRun('pool') },
    { key: 'nginx1', label: 'nginx range GETs, 1 in flight', measure: http(o.nginx.url, o.nginx.url, 1, o.nginxPid) },
    { key: 'nginx4', label: `nginx range GETs, ${INFLIGHT} in flight`, measure: http(o.nginx.url, o.nginx.url, INFLIGHT, o.nginxPid) },
    { key: 'xrd1', label: 'XRootD HTTP range GETs, 1 in flight', measure: http(o.xrootd.httpUrl, o.xrootd.httpUrl, 1, o.xrootdPid) },
    { key: 'xrd4', label: `XRootD HTTP range GETs, ${INFLIGHT} in flight`, measure: http(o.xrootd.httpUrl, o.xrootd.httpUrl, INFLIGHT, o.xrootdPid) },
    { key: 'curl', label: 'curl whole files (XRootD HTTP)', measure: copies((j) => curlSlot(o.xrootd.httpUrl, ds.relDir, j), o.xrootdPid) },
    { key: 'xrdcp', label: 'xrdcp whole files (root://)', measure: copies((j) => xrdcpSlot(o.xrootd.rootUrl, ds.relDir, j), o.xrootdPid) },
    {
      key: 'worker',
      label: '`ess worker` CLI, files on tmpfs',
      maxN: ctx.opts.quick ? 4 : 16,
      measure: (n) => workerCli(ctx, ess, ds, n, passes, timeoutMs),
    },
  ];
}

/** N real `ess worker` processes (bundled from the current sources) writing range files to /dev/shm. */
async function workerCli(ctx: BenchContext, ess: EssProcess, ds: BenchDataset, n: number, passes: number, timeoutMs: number): Promise<Measure> {
  const out = join('/dev/shm', `ess-bench-${process.pid}`, `n${n}`);
  const args = nodeArgs(ctx.bundles.worker);
  const procs: ChildProcess[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const dir = join(out, `w${i}`);
      mkdirSync(dir, { recursive: true });
      const c = spawn(process.execPath, [...args, '--server', ess.wsUrl, '--out', dir, '--id', `cli-${n}-${i}`, '--log-level', 'warn', '--no-progress'], { stdio: ['ignore', 'ignore', 'inherit'] });
      procs.push(c);
    }
    await ess.waitWorkers(n, 60_000);
    const cpu0 = cpuSeconds(ess.pid);
    const t0 = performance.now();
    const ids: number[] = [];
    for (let p = 0; p < passes; p++) ids.push((await ess.createTask(ds.id, ds.rangeSize, `cli pass ${p + 1}`)).id);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const states = await Promise.all(ids.map((id) => ess.api<{ state: string; eventsDone: number; eventsTotal: number }>('GET', `/api/v1/tasks/${id}`)));
      if (states.every((s) => s.state === 'complete')) {
        if (states.some((s) => s.eventsDone !== s.eventsTotal)) throw new Error('ess worker: a task completed with events missing');
        break;
      }
      if (Date.now() > deadline) throw new Error('ess worker run timed out');
      await sleep(20);
    }
    const seconds = (performance.now() - t0) / 1000;
    return { bytes: passes * ds.bytes, events: passes * ds.events, seconds, cpu: cpuSeconds(ess.pid) - cpu0 };
  } finally {
    await Promise.all(
      procs.map(
        (c) =>
          new Promise<void>((r) => {
            if (c.exitCode !== null || c.signalCode !== null) return r();
            c.once('exit', () => r());
            c.kill('SIGTERM');
          }),
      ),
    );
    const deadline = Date.now() + 15_000;
    while ((await ess.health()).workers > 0 && Date.now() < deadline) await sleep(25);
    rmSync(out, { recursive: true, force: true });
  }
}

function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

function report(ctx: BenchContext, ds: BenchDataset, systems: System[], levels: number[], results: Map<string, Map<number, Measure[]>>, passes: number, hitRatio: number, reps: number): Section {
  const s = (key: string, n: number, f: (m: Measure) => number): Summary | undefined => {
    const ms = results.get(key)?.get(n);
    return ms && ms.length > 0 ? summarize(ms.map(f)) : undefined;
  };
  const head = ['system', ...levels.map((n) => `N=${n}`)];
  const tables: Table[] = [];
  tables.push({
    title: 'Delivery throughput, GB/s (payload bytes; median ±half-range over repetitions)',
    head,
    rows: systems.map((x) => [x.label, ...levels.map((n) => fmt(s(x.key, n, gbps)))]),
  });
  tables.push({
    title: 'Events delivered per second (thousands)',
    head,
    rows: systems.map((x) => [x.label, ...levels.map((n) => fmt(s(x.key, n, (m) => eventsPerSecond(m) / 1000)))]),
  });
  tables.push({
    title: 'Server CPU seconds per GB delivered (ESS node, ceiling process, nginx master+workers, xrootd)',
    head,
    rows: systems.map((x) => [x.label, ...levels.map((n) => fmt(s(x.key, n, cpuPerGB)))]),
  });
  const peers = systems.filter((x) => !['ess', 'worker', 'essNoPool', 'ceilAlloc', 'ceilPool'].includes(x.key));
  const ratios = new Map<string, Map<number, Summary | undefined>>();
  for (const p of peers) {
    const row = new Map<number, Summary | undefined>();
    for (const n of levels) row.set(n, pairedRatio(s('ess', n, gbps), s(p.key, n, gbps)));
    ratios.set(p.key, row);
  }
  tables.push({
    title: 'ESS throughput as a ratio of each (per repetition, same run; >1 = ESS faster)',
    head,
    rows: [
      ...peers.map((p) => [`ESS / ${p.label}`, ...levels.map((n) => fmt(ratios.get(p.key)!.get(n)))]),
      ['ESS / ESS with chunk-frame reuse off', ...levels.map((n) => fmt(pairedRatio(s('ess', n, gbps), s('essNoPool', n, gbps))))],
      ['ceiling with a fresh frame per chunk / ceiling', ...levels.map((n) => fmt(pairedRatio(s('ceilAlloc', n, gbps), s('ceiling', n, gbps))))],
      ['ceiling with pooled frames / ceiling', ...levels.map((n) => fmt(pairedRatio(s('ceilPool', n, gbps), s('ceiling', n, gbps))))],
    ],
  });
  for (const t of tables) ctx.show(t);

  const top = levels.includes(16) ? 16 : levels[levels.length - 1]!;
  const put = (k: string, label: string, sm: Summary | undefined) => ctx.headlines.set(k, { label, value: fmtRatio(sm), raw: sm?.median });
  put('essVsCeiling', `ESS vs the bare uWS ceiling, N=${top}`, ratios.get('ceiling')?.get(top));
  put('essVsNginx', `ESS vs nginx range GETs (${INFLIGHT} in flight), N=${top}`, ratios.get('nginx4')?.get(top));
  put('essVsNginx1', `ESS vs nginx range GETs (1 in flight), N=${top}`, ratios.get('nginx1')?.get(top));
  put('essVsXrootd', `ESS vs XRootD HTTP range GETs (${INFLIGHT} in flight), N=${top}`, ratios.get('xrd4')?.get(top));
  put('essVsXrootd1', `ESS vs XRootD HTTP range GETs (1 in flight), N=${top}`, ratios.get('xrd1')?.get(top));
  put('essVsCurl', `ESS vs curl whole files, N=${top}`, ratios.get('curl')?.get(top));
  put('essVsXrdcp', `ESS vs xrdcp whole files, N=${top}`, ratios.get('xrdcp')?.get(top));
  const poolGain = pairedRatio(s('ess', top, gbps), s('essNoPool', top, gbps));
  ctx.headlines.set('poolGain', { label: `ESS over the same node with chunk-frame reuse off (--frame-pool 0), N=${top}`, value: fmtRatio(poolGain), raw: poolGain?.median });
  ctx.headlines.set('noPoolCpu', { label: `ESS node CPU per GB with chunk-frame reuse off, N=${top}`, value: fmtUnit(s('essNoPool', top, cpuPerGB), 's/GB'), raw: s('essNoPool', top, cpuPerGB)?.median });
  const essTop = s('ess', top, gbps);
  ctx.headlines.set('essGbps', { label: `ESS delivery, N=${top}`, value: fmtUnit(essTop, 'GB/s'), raw: essTop?.median });
  ctx.headlines.set('essCpuPerGB', { label: `ESS server CPU per GB, N=${top}`, value: fmtUnit(s('ess', top, cpuPerGB), 's/GB'), raw: s('ess', top, cpuPerGB)?.median });
  for (const k of ['ceiling', 'nginx4', 'xrd4', 'ceilAlloc', 'ceilPool']) {
    ctx.headlines.set(`cpu_${k}`, { label: `${k} CPU per GB, N=${top}`, value: fmt(s(k, top, cpuPerGB)), raw: s(k, top, cpuPerGB)?.median });
    ctx.headlines.set(`gbps_${k}`, { label: `${k} GB/s, N=${top}`, value: fmt(s(k, top, gbps)), raw: s(k, top, gbps)?.median });
  }

  ctx.raw.throughput = {
    dataset: { id: ds.id, bytes: ds.bytes, events: ds.events, ranges: ds.ranges.length, rangeSize: ds.rangeSize, files: ds.manifest.files.length },
    passes,
    levels,
    cacheHitRatio: hitRatio,
    results: Object.fromEntries([...results].map(([k, v]) => [k, Object.fromEntries(v)])),
  };
  ctx.raw.throughputPlot = { levels, series: systems.filter((x) => !['ceilAlloc', 'ceilPool', 'essNoPool'].includes(x.key)).map((x) => ({ key: x.key, label: x.label, values: levels.map((n) => s(x.key, n, gbps)?.median ?? NaN) })) };

  const mb = (ds.bytes / 1e6).toFixed(0);
  return {
    id: 'throughput',
    title: '1. Delivery throughput, cache-hot',
    intro:
      `N client processes receive the same ${mb} MB (${ds.ranges.length} event ranges of ${ds.rangeSize} events, ${ds.manifest.files.length} files, ~100 KiB events)${passes > 1 ? `, ${passes} passes per repetition,` : ''} from every system in turn on loopback (the systems take turns within each repetition; ${reps} repetition${reps === 1 ? '' : 's'}); ` +
      `ESS serves it from its memory cache (warmed by one pass before; ${(hitRatio * 100).toFixed(1)} % of the measured bytes were cache hits), the peers from the page cache. ` +
      'Throughput is payload bytes over wall time from the first request (ESS: the first task created) to the last byte (ESS: the last range acknowledged); server CPU is utime+stime of the serving processes from /proc over the same window.',
    tables,
    notes: [
      'ESS workers here are `procs/agent.ts` sessions: hello, subscribe, grant credit as each chunk arrives, report each range when its `end` arrives, write nothing. The ceiling receivers are the same program decoding the same frames. ' +
        `HTTP peers fetch each range's byte span with one \`Range\` GET (undici Pool, keep-alive, 1 or ${INFLIGHT} requests in flight per process), spans dealt round-robin to the processes. ` +
        'curl copies its share of whole files to /dev/null over one kept-alive connection per process; xrdcp runs once per file (as users do) to /dev/null. ' +
        'The `ess worker` row is the real CLI (bundled from the current sources) writing range files to /dev/shm, N ≤ ' +
        (ctx.opts.quick ? '4' : '16') +
        ', timed by polling the task API every 20 ms.',
      'The "chunk-frame reuse off" row is the same ESS code in a second node started with `--frame-pool 0`: a fresh 1 MiB frame per chunk, as the node did before its CPU profile showed that allocation, the page faults of copying into fresh memory (inside `_copyActual`) and the garbage collection it drives were the largest costs after the sends themselves. The default node takes its frames from a pool and gives each back once uWS has its bytes (packages/server/src/marshal/FramePool.ts).',
      'Two more ceiling rows isolate what building a frame per chunk costs on the same transport: the ceiling copying each prebuilt frame into a freshly allocated buffer before sending it (as the ESS node does: `allocChunkFrame` per chunk), and into one of four reused buffers (a frame pool; safe because uWS has written or copied a frame when `send` returns).',
      'The ceiling is `procs/ceiling.ts`: the uWS.js build ESS uses, pushing prebuilt chunk frames (same sizes and headers) under the same 2 MiB socket high-water mark; it uses the safe send path of TRANSPORT-NOTES (a ping inside `cork()` before a ≥16 KiB send that finds the buffer empty) and re-pumps on `drain` and from a 1 ms timer.',
    ],
  };
}
