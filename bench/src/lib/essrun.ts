/** Running ESS tasks against agent workers and timing them from the first task created to the last range acknowledged. */
import type { Agent, RangeEvents } from './agents.js';
import type { BenchDataset } from './data.js';
import type { EssProcess } from './ess.js';
import { cpuSeconds } from './proc.js';
import type { EssConnectOptions, EssStats } from '../procs/messages.js';
import { within, type Measure } from '../scenarios/types.js';

/** Opens `perAgent` worker sessions in each agent and waits until the node counts them (plus `already`). */
export async function connectWorkers(ess: EssProcess, agents: readonly Agent[], o: Omit<EssConnectOptions, 'url' | 'count'> & { perAgent: number }, already = 0): Promise<void> {
  const { perAgent, ...rest } = o;
  await Promise.all(agents.map((a) => a.call({ cmd: 'ess-connect', o: { ...rest, url: ess.wsUrl, count: perAgent } })));
  await ess.waitWorkers(already + perAgent * agents.length);
}

export async function closeWorkers(ess: EssProcess, agents: readonly Agent[], remaining = 0): Promise<EssStats[]> {
  const stats = await Promise.all(agents.map((a) => a.call<EssStats>({ cmd: 'ess-stats' })));
  await Promise.all(agents.map((a) => a.call({ cmd: 'ess-close' })));
  const deadline = Date.now() + 15_000;
  while ((await ess.health()).workers > remaining && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  return stats;
}

/**
 * Creates `passes` tasks over `ds` (connected workers subscribed to any task take them) and
 * waits until every range of them is reported finished and acknowledged. Throws if the bytes
 * delivered differ from the dataset's.
 */
export async function runTasks(ess: EssProcess, agents: readonly Agent[], ds: BenchDataset, passes: number, timeoutMs: number): Promise<Measure> {
  const expected = passes * ds.ranges.length;
  const count = countRanges(agents, expected);
  const cpu0 = cpuSeconds(ess.pid);
  const t0 = performance.now();
  try {
    for (let p = 0; p < passes; p++) await ess.createTask(ds.id, ds.rangeSize, `bench pass ${p + 1}`);
    await within(count.done, timeoutMs, `ESS tasks (${count.ranges}/${expected} ranges done)`);
  } finally {
    count.stop();
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(ess.pid) - cpu0;
  if (count.bytes !== passes * ds.bytes) throw new Error(`ESS delivered ${count.bytes} bytes, expected ${passes * ds.bytes}`);
  return { bytes: count.bytes, events: count.events, seconds, cpu };
}

/** Totals of what the agents report finished; `done` resolves once `expected` ranges are, `stop` detaches. */
export function countRanges(agents: readonly Agent[], expected: number): RangeEvents & { readonly done: Promise<void>; stop(): void } {
  let finish!: () => void;
  const c = {
    ranges: 0,
    bytes: 0,
    events: 0,
    done: new Promise<void>((r) => (finish = r)),
    stop: () => {
      for (const a of agents) a.onRanges = null;
    },
  };
  for (const a of agents) {
    a.onRanges = (r) => {
      c.ranges += r.ranges;
      c.bytes += r.bytes;
      c.events += r.events;
      if (c.ranges >= expected) finish();
    };
  }
  return c;
}
