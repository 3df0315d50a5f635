/**
 * Scenario 5 — cold vs warm: the same task run twice on a fresh ESS node whose data sits on a
 * WAN-like origin: the first pass reads the origin (through the cache), the second the cache.
 */
import { join } from 'node:path';
import { closeWorkers, connectWorkers, runTasks } from '../lib/essrun.js';
import { createDataset, deal, spanJobs } from '../lib/data.js';
import { essOnOrigin, startWan } from '../lib/origin.js';
import { fmt, fmtRatio, num, pairedRatio, summarize } from '../lib/stats.js';
import type { BenchContext, Section } from '../lib/context.js';
import type { Table } from '../lib/table.js';
import type { TransferResult } from '../procs/messages.js';
import { gbps, within, type Measure, type Scenario } from './types.js';

const WORKERS = 4;
const DELAY_MS = 20;
const BANDWIDTH = 100e6;

export const coldWarmScenario: Scenario = {
  id: 'coldwarm',
  title: '5. Cold vs warm cache',
  estimate: { quick: 12, full: 50 },
  run,
};

interface Pass {
  readonly m: Measure;
  readonly hitRatio: number;
  readonly originMB: number;
}

async function run(ctx: BenchContext): Promise<Section> {
  const quick = ctx.opts.quick;
  const originRoot = join(ctx.workDir, 'origin-cold');
  const ds = await createDataset(originRoot, { scope: 'bench', name: 'cold', files: quick ? 8 : 16, eventsPerFile: 160, sizeMean: 100 * 1024, rangeSize: 20 });
  const agents = await ctx.pool.ensure(WORKERS);
  const wan = await startWan(join(originRoot, 'datasets'), DELAY_MS, BANDWIDTH);
  const cold: Pass[] = [];
  const warm: Pass[] = [];
  const direct: Measure[] = [];
  try {
    for (let rep = 0; rep < (quick ? 1 : ctx.opts.reps); rep++) {
      if (rep > 0 && ctx.overBudget()) break;
      const ess = await essOnOrigin(join(ctx.workDir, `ess-cold-${rep}`), ds, wan.proxy.url, ['--cache-memory', `${Math.ceil((ds.bytes * 1.5) / 2 ** 20)}MiB`]);
      try {
        const use = agents.slice(0, WORKERS);
        await connectWorkers(ess, use, { idPrefix: `cold${rep}`, mode: 'count', perAgent: 1 });
        for (const into of [cold, warm]) {
          const before = await ess.metrics();
          const m = await runTasks(ess, use, ds, 1, 300_000);
          const after = await ess.metrics();
          const d = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0);
          const hit = d('ess_delivered_cache_hit_bytes_total');
          const miss = d('ess_delivered_cache_miss_bytes_total');
          const origin = [...after.keys()].filter((k) => k.startsWith('ess_source_bytes_total')).reduce((a, k) => a + (after.get(k) ?? 0) - (before.get(k) ?? 0), 0);
          into.push({ m, hitRatio: hit / Math.max(1, hit + miss), originMB: origin / 1e6 });
        }
        await closeWorkers(ess, use);
      } finally {
        await ess.stop();
      }
      // The same bytes straight from the origin, 4 processes × 4 range GETs in flight.
      const jobs = deal(spanJobs(ds, wan.proxy.url), WORKERS);
      const t0 = performance.now();
      const rs = await within(Promise.all(agents.slice(0, WORKERS).map((a, i) => a.call<TransferResult>({ cmd: 'http', origin: wan.proxy.url, spans: jobs[i]!, inflight: 4 }))), 300_000, 'direct');
      direct.push({ bytes: rs.reduce((a, r) => a + r.bytes, 0), events: 0, seconds: (performance.now() - t0) / 1000, cpu: 0 });
      ctx.log(`cold/warm rep ${rep + 1}: cold ${num(gbps(cold.at(-1)!.m))} GB/s (hits ${(cold.at(-1)!.hitRatio * 100).toFixed(0)} %), warm ${num(gbps(warm.at(-1)!.m))} GB/s (hits ${(warm.at(-1)!.hitRatio * 100).toFixed(0)} %), direct ${num(gbps(direct.at(-1)!))} GB/s`);
    }
  } finally {
    await wan.stop();
  }
  const g = (ps: Pass[]) => summarize(ps.map((p) => gbps(p.m)));
  const table: Table = {
    title: 'Cold and warm passes over the same data (ESS, 4 workers)',
    head: ['pass', 'GB/s', 'cache hit ratio, %', 'origin MB read', 'CPU s/GB (ESS node)'],
    rows: [
      ['first pass (cold: origin-bound)', fmt(g(cold)), fmt(summarize(cold.map((p) => p.hitRatio * 100)), 0), fmt(summarize(cold.map((p) => p.originMB)), 0), fmt(summarize(cold.map((p) => p.m.cpu / (p.m.bytes / 1e9))))],
      ['second pass (warm: cache-bound)', fmt(g(warm)), fmt(summarize(warm.map((p) => p.hitRatio * 100)), 0), fmt(summarize(warm.map((p) => p.originMB)), 0), fmt(summarize(warm.map((p) => p.m.cpu / (p.m.bytes / 1e9))))],
      ['direct range GETs from the origin (4 × 4 in flight)', fmt(summarize(direct.map(gbps))), '–', fmt(summarize(direct.map((m) => m.bytes / 1e6)), 0), '–'],
    ],
  };
  const ratioTable: Table = {
    title: 'Ratios within a repetition',
    head: ['', 'ratio'],
    rows: [
      ['warm / cold', fmt(pairedRatio(g(warm), g(cold)))],
      ['cold ESS / direct range GETs', fmt(pairedRatio(g(cold), summarize(direct.map(gbps))))],
    ],
  };
  ctx.show(table);
  ctx.show(ratioTable);
  ctx.headlines.set('warmVsCold', { label: 'Warm pass over cold pass (ESS)', value: fmtRatio(pairedRatio(g(warm), g(cold))), raw: pairedRatio(g(warm), g(cold))?.median });
  ctx.raw.coldwarm = { delayMs: DELAY_MS, bandwidth: BANDWIDTH, bytes: ds.bytes, cold, warm, direct };
  return {
    id: 'coldwarm',
    title: coldWarmScenario.title,
    intro:
      `A fresh ESS node (default cache: memory tier sized to hold the data, 4 GiB disk tier) serves one task over ${num(ds.bytes / 1e6, 3)} MB that live on a WAN-like origin (nginx behind the proxy: +${DELAY_MS} ms per request, ${BANDWIDTH / 1e6} MB/s per response, 8 connections from ESS) to ${WORKERS} workers, then the same task again. ` +
      'The hit ratio is the share of delivered bytes served from the cache (`ess_delivered_cache_{hit,miss}_bytes_total`); origin MB is `ess_source_bytes_total`.',
    tables: [table, ratioTable],
    notes: [
      'In the cold pass the server-side prefetcher (16 ranges ahead) turns many would-be misses into hits: a block it fetched before the range was handed out counts as a hit when delivered, so the cold hit ratio is not zero; the origin MB column shows that every byte still crossed the WAN once, and only once.',
    ],
  };
}
