/**
 * Scenario 4 — slow consumers: 100 worker sessions that stop reading their sockets while 4 keep
 * going. The node's RSS must stay flat (credit and the socket high-water mark bound what a stuck
 * worker costs) and the active workers' throughput must hold.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { connectWorkers, closeWorkers } from '../lib/essrun.js';
import { EssProcess } from '../lib/ess.js';
import { rssBytes, sampleRss } from '../lib/proc.js';
import { fmt, fmtRatio, num, pairedRatio, summarize } from '../lib/stats.js';
import type { Agent } from '../lib/agents.js';
import type { BenchContext, Section } from '../lib/context.js';
import type { BenchDataset } from '../lib/data.js';
import type { Table } from '../lib/table.js';
import type { EssStats } from '../procs/messages.js';
import { sleep, type Scenario } from './types.js';

const ACTIVE = 4;
const SLOW = 100;
const SLOW_AGENTS = 2;
const PAUSE_AFTER = 1024 * 1024;

export const slowScenario: Scenario = {
  id: 'slow',
  title: '4. Slow consumers',
  estimate: { quick: 20, full: 55 },
  run,
};

interface Rep {
  baseGbps: number;
  slowGbps: number;
  rssBaseMB: number;
  rssStalledMB: number;
  rssEndMB: number;
  rssMaxMB: number;
  /** RSS change over the second half of the window with slow sessions stalled (MB). */
  driftMB: number;
  paused: number;
}

/** Bytes the active agents received so far. */
async function activeBytes(agents: readonly Agent[]): Promise<number> {
  const st = await Promise.all(agents.map((a) => a.call<EssStats>({ cmd: 'ess-stats' })));
  return st.reduce((x, s) => x + s.bytes, 0);
}

/** Keeps enough tasks queued that active workers never run dry: one more whenever less than a pass remains. */
function feeder(ess: EssProcess, ds: BenchDataset, agents: readonly Agent[], held: () => number): { stop(): Promise<void> } {
  let stopped = false;
  let created = 0;
  let done = 0;
  for (const a of agents) a.onRanges = (r) => (done += r.ranges);
  const loop = (async () => {
    while (!stopped) {
      // Two passes' worth of ranges not yet taken by anyone.
      if (created * ds.ranges.length - done - held() < 2 * ds.ranges.length) {
        await ess.createTask(ds.id, ds.rangeSize, 'slow-consumer feed');
        created++;
      }
      await sleep(50);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      for (const a of agents) a.onRanges = null;
    },
  };
}

async function window(ess: EssProcess, active: readonly Agent[], seconds: number): Promise<{ gbps: number; rss: { t: number; rss: number }[] }> {
  const sampler = sampleRss(ess.pid, 100);
  const b0 = await activeBytes(active);
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const b1 = await activeBytes(active);
  const t1 = performance.now();
  return { gbps: (b1 - b0) / ((t1 - t0) / 1000) / 1e9, rss: sampler.stop() };
}

async function run(ctx: BenchContext): Promise<Section> {
  const ds = await ctx.hotDataset();
  const seconds = ctx.opts.quick ? 3 : 5;
  const agents = await ctx.pool.ensure(ACTIVE + SLOW_AGENTS);
  const active = agents.slice(0, ACTIVE);
  const slowAgents = agents.slice(ACTIVE, ACTIVE + SLOW_AGENTS);
  const reps: Rep[] = [];
  const repeat = ctx.opts.quick ? 1 : Math.min(2, ctx.opts.reps);
  for (let rep = 0; rep < repeat; rep++) {
    if (rep > 0 && ctx.overBudget()) break;
    rmSync(join(ctx.dataDir, 'state'), { recursive: true, force: true });
    const ess = await EssProcess.start({ dataDir: ctx.dataDir, args: ['--cache-memory', `${Math.ceil((ds.bytes * 1.25) / 2 ** 20)}MiB`, '--cache-disk', '0', '--drain', '0'] });
    try {
      await connectWorkers(ess, active, { idPrefix: `act${rep}`, mode: 'count', perAgent: 1 });
      let slowHeld = 0;
      const feed = feeder(ess, ds, active, () => slowHeld);
      try {
        // Warm-up (fills the cache), then the baseline window.
        await sleep(seconds * 1000);
        const base = await window(ess, active, seconds);
        // 100 sessions that read 1 MiB and then stop reading (each holds its prefetch depth of ranges).
        slowHeld = 2 * SLOW;
        await sleep(200);
        await connectWorkers(ess, slowAgents, { idPrefix: `slow${rep}`, mode: 'count', perAgent: SLOW / SLOW_AGENTS, pauseAfterBytes: PAUSE_AFTER }, ACTIVE);
        const deadline = Date.now() + 20_000;
        let paused = 0;
        for (;;) {
          const st = await Promise.all(slowAgents.map((a) => a.call<EssStats>({ cmd: 'ess-stats' })));
          paused = st.reduce((x, s) => x + s.paused, 0);
          if (paused >= SLOW || Date.now() > deadline) break;
          await sleep(100);
        }
        // Let the node fill what it will fill for the stuck sockets, then measure.
        await sleep(1000);
        const rssStalled = rssBytes(ess.pid);
        const slow = await window(ess, active, seconds * 2);
        const half = slow.rss.filter((s) => s.t >= seconds * 1000);
        const r: Rep = {
          baseGbps: base.gbps,
          slowGbps: slow.gbps,
          rssBaseMB: Math.max(...base.rss.map((s) => s.rss)) / 2 ** 20,
          rssStalledMB: rssStalled / 2 ** 20,
          rssEndMB: slow.rss[slow.rss.length - 1]!.rss / 2 ** 20,
          rssMaxMB: Math.max(...slow.rss.map((s) => s.rss)) / 2 ** 20,
          driftMB: half.length > 1 ? (half[half.length - 1]!.rss - half[0]!.rss) / 2 ** 20 : NaN,
          paused,
        };
        reps.push(r);
        ctx.log(`slow rep ${rep + 1}: active ${num(r.baseGbps)} → ${num(r.slowGbps)} GB/s; RSS ${num(r.rssBaseMB, 3)} → ${num(r.rssStalledMB, 3)} → ${num(r.rssEndMB, 3)} MiB (max ${num(r.rssMaxMB, 3)}), ${paused}/${SLOW} stalled`);
      } finally {
        await feed.stop();
      }
      await closeWorkers(ess, [...active, ...slowAgents]);
    } finally {
      await ess.stop();
    }
  }
  const f = (g: (r: Rep) => number, d = 3) => fmt(summarize(reps.map(g)), d);
  const bound = (SLOW * (2 * 2 ** 20 + 2 * 2 ** 20)) / 2 ** 20;
  const table: Table = {
    title: `${ACTIVE} active workers, then ${SLOW} more that stop reading after ${PAUSE_AFTER / 2 ** 20} MiB`,
    head: ['', 'value'],
    rows: [
      ['active throughput alone, GB/s', f((r) => r.baseGbps, 2)],
      [`active throughput with ${SLOW} stalled sessions, GB/s`, f((r) => r.slowGbps, 2)],
      ['ratio (with / without)', fmt(pairedRatio(summarize(reps.map((r) => r.slowGbps)), summarize(reps.map((r) => r.baseGbps))))],
      ['node RSS, active only (max), MiB', f((r) => r.rssBaseMB)],
      ['node RSS once the slow sessions stalled, MiB', f((r) => r.rssStalledMB)],
      [`node RSS after ${seconds * 2} s more with them stalled, MiB`, f((r) => r.rssEndMB)],
      ['node RSS maximum in that window, MiB', f((r) => r.rssMaxMB)],
      ['RSS change over the last half of that window, MiB', f((r) => r.driftMB, 2)],
      ['RSS cost per stalled session, MiB', f((r) => (r.rssStalledMB - r.rssBaseMB) / SLOW, 2)],
      ['sessions that stalled (of 100)', f((r) => r.paused, 3)],
    ],
  };
  ctx.show(table);
  ctx.headlines.set('slowHold', {
    label: `Active throughput with ${SLOW} stalled sessions over without`,
    value: `${fmtRatio(pairedRatio(summarize(reps.map((r) => r.slowGbps)), summarize(reps.map((r) => r.baseGbps))))}, node RSS ${f((r) => r.rssStalledMB)} → ${f((r) => r.rssEndMB)} MiB while they stay stalled`,
  });
  ctx.raw.slow = { reps, seconds };
  return {
    id: 'slow',
    title: slowScenario.title,
    intro:
      `${ACTIVE} worker sessions stream the cache-hot dataset (tasks are queued so they never run dry; default 8 MiB window, prefetch 2), measured for ${seconds} s; then ${SLOW} more sessions (2 agent processes) subscribe, receive ${PAUSE_AFTER / 2 ** 20} MiB and stop reading their sockets while still sending heartbeats, and the ${ACTIVE} are measured for ${seconds * 2} s more. The node's RSS is sampled every 100 ms from /proc.`,
    tables: [table],
    notes: [
      `What a stalled session may cost the node by design: the socket high-water mark (2 MiB of uWS backpressure) plus up to two chunks read ahead (2 MiB) — at most ~${bound.toFixed(0)} MiB for ${SLOW} sessions, bytes beyond that wait in the kernel's socket buffers (not RSS) or are never read because the credit window (8 MiB) is spent. Their ranges stay assigned (and their cache blocks pinned) while their heartbeats keep the leases alive.`,
    ],
  };
}
