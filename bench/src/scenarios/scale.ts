/**
 * Scenario 3 — connection scale: 1,000 and 5,000 connected worker sessions, most idle (hello and
 * heartbeats), a few active: server memory per connection, dispatch rate (tiny ranges assigned,
 * delivered, reported and acknowledged per second) and delivery throughput, against the same
 * node with no idle sessions.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { closeWorkers, connectWorkers, runTasks } from '../lib/essrun.js';
import { EssProcess } from '../lib/ess.js';
import { createDataset } from '../lib/data.js';
import { cpuSeconds, rssBytes } from '../lib/proc.js';
import { fmt, num, pairedRatio, summarize, type Summary } from '../lib/stats.js';
import type { BenchContext, Section } from '../lib/context.js';
import type { Table } from '../lib/table.js';
import { gbps, sleep, type Scenario } from './types.js';

const IDLE_AGENTS = 4;
const ACTIVE_AGENTS = 4;
const DISPATCH_SESSIONS_PER_AGENT = 8;

export const scaleScenario: Scenario = {
  id: 'scale',
  title: '3. Connection scale',
  estimate: { quick: 25, full: 100 },
  run,
};

interface Level {
  readonly idle: number;
  rssMB: number;
  perConnKB: number;
  idleCpuPct: number;
  readonly dispatch: number[];
  readonly throughput: number[];
}

async function run(ctx: BenchContext): Promise<Section> {
  const quick = ctx.opts.quick;
  const levels = quick ? [0, 1000] : [0, 1000, 5000];
  const hot = await ctx.hotDataset();
  const tinyRanges = quick ? 1000 : 3000;
  const reps = quick ? 1 : ctx.opts.reps;
  const tiny = await createDataset(ctx.dataDir, { scope: 'bench', name: 'tiny', files: 1, eventsPerFile: tinyRanges, sizeMean: 1024, sizeDist: 'fixed', rangeSize: 1 });
  const args = ['--cache-memory', `${Math.ceil((hot.bytes * 1.25) / 2 ** 20)}MiB`, '--cache-disk', '0', '--drain', '1000'];
  const agents = await ctx.pool.ensure(IDLE_AGENTS + ACTIVE_AGENTS);
  const idleAgents = agents.slice(0, IDLE_AGENTS);
  const active = agents.slice(IDLE_AGENTS, IDLE_AGENTS + ACTIVE_AGENTS);
  const out: Level[] = levels.map((idle) => ({ idle, rssMB: NaN, perConnKB: NaN, idleCpuPct: NaN, dispatch: [], throughput: [] }));
  /** Connects idle sessions up to `idle` (from `now`), logging how long it took. */
  const grow = async (ess: EssProcess, now: number, idle: number): Promise<number> => {
    if (idle <= now) return now;
    const t0 = performance.now();
    await connectWorkers(ess, idleAgents, { idPrefix: `idle${idle}`, mode: 'idle', perAgent: (idle - now) / IDLE_AGENTS, concurrency: 32 }, now);
    ctx.log(`${idle} idle sessions connected in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return idle;
  };

  // Phase 1, memory: a fresh node that moves no data, so that its RSS holds no cache and no garbage.
  rmSync(join(ctx.dataDir, 'state'), { recursive: true, force: true });
  let ess = await EssProcess.start({ dataDir: ctx.dataDir, args });
  let rss0 = 0;
  try {
    let idleNow = 0;
    for (const level of out) {
      idleNow = await grow(ess, idleNow, level.idle);
      // Settle, then RSS and the CPU the idle sessions cost (heartbeats both ways).
      await sleep(2000);
      const c0 = cpuSeconds(ess.pid);
      await sleep(3000);
      level.idleCpuPct = ((cpuSeconds(ess.pid) - c0) / 3) * 100;
      const rss = rssBytes(ess.pid);
      if (level.idle === 0) rss0 = rss;
      level.rssMB = rss / 2 ** 20;
      level.perConnKB = level.idle > 0 ? (rss - rss0) / level.idle / 1024 : NaN;
      ctx.log(`${level.idle} idle sessions: node RSS ${num(level.rssMB, 3)} MiB, CPU ${num(level.idleCpuPct)} %`);
    }
    await closeWorkers(ess, idleAgents);
  } finally {
    await ess.stop();
  }

  // Phase 2, work: dispatch rate and throughput with the idle sessions connected.
  rmSync(join(ctx.dataDir, 'state'), { recursive: true, force: true });
  ess = await EssProcess.start({ dataDir: ctx.dataDir, args });
  try {
    // Warm the cache so the throughput runs are cache-hot, and run dispatch once so that the
    // first measured run does not pay for compiling the code.
    await connectWorkers(ess, active, { idPrefix: 'scw', mode: 'count', perAgent: 1 });
    await runTasks(ess, active, hot, 1, 180_000);
    await closeWorkers(ess, active);
    await connectWorkers(ess, active, { idPrefix: 'scd', mode: 'count', perAgent: DISPATCH_SESSIONS_PER_AGENT });
    await runTasks(ess, active, tiny, 1, 180_000);
    await closeWorkers(ess, active);
    let idleNow = 0;
    for (const level of out) {
      idleNow = await grow(ess, idleNow, level.idle);
      for (let rep = 0; rep < reps; rep++) {
        if (rep > 0 && ctx.overBudget()) break;
        await connectWorkers(ess, active, { idPrefix: `disp${level.idle}-${rep}`, mode: 'count', perAgent: DISPATCH_SESSIONS_PER_AGENT }, idleNow);
        const d = await runTasks(ess, active, tiny, 1, 180_000);
        await closeWorkers(ess, active, idleNow);
        level.dispatch.push(tiny.ranges.length / d.seconds);
        await connectWorkers(ess, active, { idPrefix: `tput${level.idle}-${rep}`, mode: 'count', perAgent: 1 }, idleNow);
        const t = await runTasks(ess, active, hot, 1, 180_000);
        await closeWorkers(ess, active, idleNow);
        level.throughput.push(gbps(t));
        ctx.log(`idle ${level.idle} rep ${rep + 1}: dispatch ${num(level.dispatch.at(-1)!, 3)} ranges/s, throughput ${num(level.throughput.at(-1)!)} GB/s`);
      }
    }
    await closeWorkers(ess, idleAgents);
  } finally {
    await ess.stop();
  }
  const base = out[0]!;
  const sm = (xs: number[]): Summary => summarize(xs);
  const table: Table = {
    title: 'Idle sessions held, and what the node still does',
    head: ['idle sessions', 'node RSS (no traffic), MiB', 'RSS per idle session, KiB', 'node CPU with only heartbeats, %', 'dispatch, ranges/s', 'dispatch vs 0 idle', 'throughput (4 workers), GB/s', 'throughput vs 0 idle'],
    rows: out.map((l) => [
      l.idle.toLocaleString('en-US'),
      num(l.rssMB, 3),
      Number.isFinite(l.perConnKB) ? num(l.perConnKB, 3) : '–',
      num(l.idleCpuPct, 2),
      fmt(sm(l.dispatch), 3),
      l === base ? '1' : fmt(pairedRatio(sm(l.dispatch), sm(base.dispatch))),
      fmt(sm(l.throughput)),
      l === base ? '1' : fmt(pairedRatio(sm(l.throughput), sm(base.throughput))),
    ]),
  };
  ctx.show(table);
  const top = out[out.length - 1]!;
  ctx.headlines.set('memPerConn', { label: `Node memory per idle worker session (at ${top.idle.toLocaleString('en-US')} sessions)`, value: `${num(top.perConnKB, 3)} KiB`, raw: top.perConnKB });
  ctx.headlines.set('dispatchRate', { label: 'Dispatch rate (1-event ranges, 32 active sessions, SQLite ledger)', value: `${fmt(sm(base.dispatch), 3)} ranges/s with no idle sessions, ${fmt(sm(top.dispatch), 3)} with ${top.idle.toLocaleString('en-US')}`, raw: sm(base.dispatch).median });
  ctx.raw.scale = { levels: out, tinyRanges: tiny.ranges.length };
  return {
    id: 'scale',
    title: scaleScenario.title,
    intro:
      `One ESS node (default SQLite ledger) holds ${levels.slice(1).map((n) => n.toLocaleString('en-US')).join(' and then ')} idle worker sessions (hello, welcome, heartbeats every 5 s both ways) opened by ${IDLE_AGENTS} agent processes. ` +
      `At each level, ${ACTIVE_AGENTS * DISPATCH_SESSIONS_PER_AGENT} active sessions run a task of ${tiny.ranges.length} one-event ranges of 1 KiB (the dispatch rate: assign, stream, end, report, ack, ledger writes, per range), then 4 active sessions stream the cache-hot dataset once (throughput held).`,
    tables: [table],
    notes: ['Memory is measured first, on a fresh node that moves no data (so that neither its cache nor garbage from earlier transfers is in its RSS): RSS per idle session is (RSS with the sessions − RSS with none) / sessions, after 2 s of settling, and includes everything a session costs the node (uWS socket, session objects, monitor bookkeeping). Its CPU is measured over 3 s with nothing but heartbeats. Dispatch and throughput are then measured on a second node, warmed up, as the idle sessions are added.'],
  };
}
