/**
 * Scenario 2 — latency hiding: a payload that spends a fixed time per event, fed by ESS (which
 * prefetches from a slow origin) or reading its ranges straight from that origin, at several
 * added latencies with a bandwidth cap. Reports the payload's wait for data and its efficiency.
 */
import { join } from 'node:path';
import { closeWorkers, connectWorkers } from '../lib/essrun.js';
import { createDataset, deal, spanJobs, type BenchDataset } from '../lib/data.js';
import { essOnOrigin, startWan } from '../lib/origin.js';
import { fmt, num, pairedRatio, summarize, type Summary } from '../lib/stats.js';
import type { BenchContext, Section } from '../lib/context.js';
import type { Table } from '../lib/table.js';
import type { EssStats, PayloadResult } from '../procs/messages.js';
import { within, type Scenario } from './types.js';

const WORKERS = 4;
const COST_MS_PER_EVENT = 10;
const BANDWIDTH = 100e6;

interface Run {
  /** Payload busy / (busy + wait), over all workers. */
  readonly efficiency: number;
  /** Total wait for data, summed over workers (s). */
  readonly waitS: number;
  /** Until the last range was processed (s). */
  readonly wallS: number;
  /** Mean time until a worker could start its first range (s): the cold start. */
  readonly firstS: number;
  /** Wait after the first range, summed over workers (s): what latency hiding is about. */
  readonly steadyWaitS: number;
}

export const latencyScenario: Scenario = {
  id: 'latency',
  title: '2. Latency hiding',
  estimate: { quick: 25, full: 120 },
  run,
};

async function run(ctx: BenchContext): Promise<Section> {
  const quick = ctx.opts.quick;
  const delays = [20, 50, 100];
  const rangesPerWorker = quick ? 6 : 12;
  const reps = quick ? 1 : ctx.opts.reps;
  const originRoot = join(ctx.workDir, 'origin-lat');
  const ds = await createDataset(originRoot, { scope: 'bench', name: 'lat', files: (WORKERS * rangesPerWorker) / 4, eventsPerFile: 80, sizeMean: 100 * 1024, rangeSize: 20 });
  const agents = await ctx.pool.ensure(WORKERS);
  const methods = [
    { key: 'ess', label: 'ESS (server prefetch, 2 ranges in flight per worker)' },
    { key: 'direct', label: 'direct range GETs, on demand' },
    { key: 'direct1', label: 'direct range GETs, next range read ahead' },
  ];
  const results = new Map<string, Map<number, Run[]>>(methods.map((m) => [m.key, new Map(delays.map((d) => [d, []]))]));
  const wans = new Map<number, Awaited<ReturnType<typeof startWan>>>();
  let repsDone = 0;
  try {
    for (const d of delays) wans.set(d, await startWan(join(originRoot, 'datasets'), d, BANDWIDTH));
    for (let rep = 0; rep < reps; rep++) {
      if (rep > 0 && ctx.overBudget()) {
        ctx.log(`time budget reached: ${rep} repetition(s) instead of ${reps}`);
        break;
      }
      for (const d of delays) {
        const url = wans.get(d)!.proxy.url;
        results.get('ess')!.get(d)!.push(await essRun(ctx, ds, url, d, rep));
        for (const ra of [0, 1]) results.get(ra === 0 ? 'direct' : 'direct1')!.get(d)!.push(await directRun(agents, ds, url, ra));
        const line = methods.map((m) => `${m.key} ${(results.get(m.key)!.get(d)!.at(-1)!.efficiency * 100).toFixed(0)} %`).join(', ');
        ctx.log(`latency ${d} ms rep ${rep + 1}: efficiency ${line}`);
      }
      repsDone = rep + 1;
    }
  } finally {
    for (const w of wans.values()) await w.stop();
  }

  const s = (k: string, d: number, f: (r: Run) => number): Summary | undefined => {
    const rs = results.get(k)?.get(d);
    return rs && rs.length > 0 ? summarize(rs.map(f)) : undefined;
  };
  const head = ['payload fed by', ...delays.map((d) => `${d} ms`)];
  const tables: Table[] = [
    { title: 'Payload CPU efficiency, % (busy time over wall time)', head, rows: methods.map((m) => [m.label, ...delays.map((d) => fmt(s(m.key, d, (r) => r.efficiency * 100), 0))]) },
    { title: `Payload wait for data, seconds (summed over the ${WORKERS} workers)`, head, rows: methods.map((m) => [m.label, ...delays.map((d) => fmt(s(m.key, d, (r) => r.waitS)))]) },
    { title: `Payload wait for data after its first range, seconds (summed over the ${WORKERS} workers): the latency not hidden`, head, rows: methods.map((m) => [m.label, ...delays.map((d) => fmt(s(m.key, d, (r) => r.steadyWaitS)))]) },
    { title: 'Cold start: time until a worker can start its first range, s (mean over workers)', head, rows: methods.map((m) => [m.label, ...delays.map((d) => fmt(s(m.key, d, (r) => r.firstS)))]) },
    { title: 'Wall time until the last range was processed, s', head, rows: methods.map((m) => [m.label, ...delays.map((d) => fmt(s(m.key, d, (r) => r.wallS)))]) },
    {
      title: 'Wall time, direct over ESS (same repetition; >1 = ESS finishes sooner)',
      head,
      rows: methods.slice(1).map((m) => [m.label, ...delays.map((d) => fmt(pairedRatio(s(m.key, d, (r) => r.wallS), s('ess', d, (r) => r.wallS))))]),
    },
  ];
  for (const t of tables) ctx.show(t);
  const at50 = (k: string) => s(k, 50, (r) => r.efficiency * 100);
  const sw50 = (k: string) => s(k, 50, (r) => r.steadyWaitS);
  ctx.headlines.set('steady50', {
    label: 'Payload wait after its first range at 50 ms (s, 4 workers), ESS / direct on demand / direct with read-ahead',
    value: `${fmt(sw50('ess'))} / ${fmt(sw50('direct'))} / ${fmt(sw50('direct1'))}`,
  });
  const f50 = (k: string) => s(k, 50, (r) => r.firstS);
  ctx.headlines.set('first50', { label: 'Cold start at 50 ms (s until the first range), ESS / direct', value: `${fmt(f50('ess'))} / ${fmt(f50('direct'))}` });
  ctx.headlines.set('eff50', {
    label: 'Payload efficiency at 50 ms origin latency, ESS / direct on demand / direct with read-ahead',
    value: `${fmt(at50('ess'), 0)} % / ${fmt(at50('direct'), 0)} % / ${fmt(at50('direct1'), 0)} %`,
    raw: at50('ess')?.median,
  });
  ctx.raw.latency = { workers: WORKERS, costMsPerEvent: COST_MS_PER_EVENT, bandwidth: BANDWIDTH, rangesPerWorker, delays, results: Object.fromEntries([...results].map(([k, v]) => [k, Object.fromEntries(v)])) };
  ctx.raw.latencyPlot = {
    title: `Scenario 2: payload efficiency (busy / wall), ${COST_MS_PER_EVENT} ms per event, origin capped at ${BANDWIDTH / 1e6} MB/s per request`,
    yLabel: 'efficiency, %',
    groups: delays.map((d) => `${d} ms per request`),
    series: methods.map((m) => ({ label: m.label, values: delays.map((d) => s(m.key, d, (r) => r.efficiency * 100)?.median ?? NaN) })),
  };
  const rangeMB = ds.bytes / ds.ranges.length / 1e6;
  return {
    id: 'latency',
    title: latencyScenario.title,
    intro:
      `${WORKERS} workers each run a payload that spends ${COST_MS_PER_EVENT} ms per event (a timer, so the two cores are not the bottleneck) on ${rangesPerWorker} ranges of ${ds.rangeSize} events (${num(rangeMB)} MB per range, ${num(ds.bytes / 1e6, 3)} MB in all) that live on an origin — nginx behind testkit's proxy adding the given latency to every request and capping each response at ${BANDWIDTH / 1e6} MB/s. ` +
      'With ESS (a fresh node with an empty cache each repetition, the origin registered as an HTTP source with 8 connections) the payload processes a range once its data is complete while the next ones stream; directly, it fetches each range with one range GET and then processes it (or, a fairer hand-written prefetcher, fetches the next range while processing the current one). Efficiency = time processing / (time processing + time waiting for data). ' +
      `${repsDone} repetition${repsDone === 1 ? '' : 's'}; the methods and latencies take turns within each.`,
    tables,
    notes: [
      'The total wait includes the cold start (the first range must cross the WAN in every method); the wait after the first range is the latency that was not hidden. ESS warms up to 16 ranges ahead in its cache (`--prefetch-ranges`), fetching 1 MiB cache blocks, 4 block loads at a time for prefetch (`prefetchConcurrency`, not a CLI flag) and up to 8 for reads, over the source\'s 8 connections; the direct reader has one request in flight (two with read-ahead). Before each ESS run the node reads the files\' footers (an event-picking query), so that it starts, like the direct reader, knowing where every event is.',
    ],
  };
}

async function essRun(ctx: BenchContext, ds: BenchDataset, originUrl: string, delay: number, rep: number): Promise<Run> {
  const ess = await essOnOrigin(join(ctx.workDir, `ess-lat-${delay}-${rep}`), ds, originUrl, ['--cache-disk', '0', '--cache-memory', '256MiB']);
  const agents = ctx.pool.agents.slice(0, WORKERS);
  try {
    await connectWorkers(ess, agents, { idPrefix: `lat${delay}`, mode: 'payload', costMsPerEvent: COST_MS_PER_EVENT, perAgent: 1 });
    let done = 0;
    let finish!: () => void;
    const all = new Promise<void>((r) => (finish = r));
    for (const a of agents) {
      a.onRanges = (r) => {
        done += r.ranges;
        if (done >= ds.ranges.length) finish();
      };
    }
    await Promise.all(agents.map((a) => a.call({ cmd: 'ess-stats', resetClock: true })));
    await ess.createTask(ds.id, ds.rangeSize, `latency ${delay} ms`);
    await within(all, 120_000, `ESS latency run (${done}/${ds.ranges.length})`);
    for (const a of agents) a.onRanges = null;
    const st = await closeWorkers(ess, agents);
    return fromStats(st);
  } finally {
    await ess.stop();
  }
}

function fromStats(st: readonly EssStats[]): Run {
  const busy = st.reduce((a, x) => a + x.busyMs, 0);
  const wait = st.reduce((a, x) => a + x.waitMs, 0);
  const errors = st.flatMap((x) => x.errors);
  if (errors.length > 0) throw new Error(`workers reported errors: ${errors.slice(0, 3).join('; ')}`);
  const first = st.reduce((a, x) => a + x.firstMs, 0);
  return { efficiency: busy / (busy + wait), waitS: wait / 1000, wallS: Math.max(...st.map((x) => x.lastDoneMs)) / 1000, firstS: first / st.length / 1000, steadyWaitS: (wait - first) / 1000 };
}

async function directRun(agents: BenchContext['pool']['agents'], ds: BenchDataset, originUrl: string, readAhead: number): Promise<Run> {
  const jobs = deal(spanJobs(ds, originUrl), WORKERS);
  const rs = await within(
    Promise.all(agents.slice(0, WORKERS).map((a, i) => a.call<PayloadResult>({ cmd: 'direct-payload', origin: originUrl, spans: jobs[i]!, costMsPerEvent: COST_MS_PER_EVENT, readAhead }))),
    120_000,
    'direct payload run',
  );
  const busy = rs.reduce((a, x) => a + x.busyMs, 0);
  const wait = rs.reduce((a, x) => a + x.waitMs, 0);
  const first = rs.reduce((a, x) => a + x.firstMs, 0);
  return { efficiency: busy / (busy + wait), waitS: wait / 1000, wallS: Math.max(...rs.map((x) => x.wallMs)) / 1000, firstS: first / rs.length / 1000, steadyWaitS: (wait - first) / 1000 };
}
