/**
 * Scenario 6 — scale-out (issue 8): one node on its SQLite ledger against one, two and three nodes
 * sharing a Redis ledger (AOF, appendfsync always) and one nginx origin. Per configuration: the
 * dispatch rate (one-event ranges assigned, streamed, reported and acknowledged per second, the
 * ledger's work) and the delivery throughput of a cache-hot task, with the CPU of every node and
 * of Redis.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { startNginx, startRedis, type NginxHandle, type RedisServer } from '@ess/testkit';
import type { Agent } from '../lib/agents.js';
import { createDataset, type BenchDataset } from '../lib/data.js';
import { EssProcess } from '../lib/ess.js';
import { countRanges } from '../lib/essrun.js';
import { cpuSeconds } from '../lib/proc.js';
import { fmt, num, pairedRatio, summarize, type Summary } from '../lib/stats.js';
import type { BenchContext, Section } from '../lib/context.js';
import type { Table } from '../lib/table.js';
import { within, type Measure, type Scenario } from './types.js';

const AGENTS = 4;
const DISPATCH_SESSIONS_PER_AGENT = 8;

export const clusterScenario: Scenario = {
  id: 'cluster',
  title: '6. Scale-out: SQLite against Redis, one to three nodes',
  estimate: { quick: 25, full: 110 },
  run,
};

interface Config {
  readonly label: string;
  readonly nodes: number;
  readonly redis: boolean;
  readonly dispatch: number[];
  readonly throughput: number[];
  /** Share of the timed pass's payload bytes the nodes served from their caches (local or owner). */
  readonly hitRatio: number[];
  /** CPU seconds of the nodes and of Redis per 1,000 ranges dispatched. */
  readonly nodeCpuPerK: number[];
  readonly redisCpuPerK: number[];
}

/** The nodes of one configuration, all serving the datasets from the nginx origin. */
class Nodes {
  private constructor(readonly list: EssProcess[]) {}

  static async start(ctx: BenchContext, k: number, c: Config, redis: RedisServer, origin: NginxHandle, datasets: readonly BenchDataset[], memory: string): Promise<Nodes> {
    const list: EssProcess[] = [];
    const nodes = new Nodes(list);
    try {
      for (let i = 0; i < c.nodes; i++) {
        const dataDir = join(ctx.workDir, `cluster-${k}-${i}`);
        rmSync(dataDir, { recursive: true, force: true });
        const args = ['--cache-memory', memory, '--cache-disk', '0', '--drain', '1000', ...(c.redis ? ['--redis', redis.url, '--cluster-prefix', `bench${k}`] : [])];
        list.push(await EssProcess.start({ dataDir, args }));
      }
      const first = list[0]!;
      await first.api('POST', '/api/v1/sources', { id: 'origin', kind: 'http', endpoint: origin.url, connections: 8 });
      for (const ds of datasets) {
        await first.api('POST', '/api/v1/datasets', {
          scope: ds.manifest.scope,
          name: ds.manifest.name,
          files: ds.manifest.files.map((f) => ({ lfn: f.lfn, guid: f.guid, size: f.size, events: f.events, replicas: [{ source: 'origin', url: `${origin.url}/${ds.relDir}/${f.lfn}` }] })),
        });
      }
      // Every node knows every dataset and every other node before anything is measured.
      const deadline = Date.now() + 30_000;
      for (const n of list) {
        for (;;) {
          const { datasets: have } = await n.api<{ datasets: { id: string }[] }>('GET', '/api/v1/datasets');
          const h = await n.api<{ cluster?: string[] }>('GET', '/healthz');
          if (datasets.every((d) => have.some((x) => x.id === d.id)) && (h.cluster?.length ?? 1) === c.nodes) break;
          if (Date.now() > deadline) throw new Error(`node ${n.httpUrl} did not see the datasets and all ${c.nodes} nodes in 30 s`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      return nodes;
    } catch (e) {
      await nodes.stop();
      throw e;
    }
  }

  /** Opens `perAgent` sessions in each agent, agent i on node i mod n, and waits until every node counts its own. */
  async connect(agents: readonly Agent[], idPrefix: string, perAgent: number): Promise<void> {
    await Promise.all(agents.map((a, i) => a.call({ cmd: 'ess-connect', o: { url: this.list[i % this.list.length]!.wsUrl, count: perAgent, idPrefix, mode: 'count' } })));
    await Promise.all(this.list.map((n, j) => n.waitWorkers(agents.filter((_, i) => i % this.list.length === j).length * perAgent)));
  }

  async close(agents: readonly Agent[]): Promise<void> {
    await Promise.all(agents.map((a) => a.call({ cmd: 'ess-close' })));
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const counts = await Promise.all(this.list.map((n) => n.health()));
      if (counts.every((h) => h.workers === 0)) return;
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** A task over `ds` created on the first node, timed until the agents have every range acknowledged; CPU of all nodes. */
  async run(agents: readonly Agent[], ds: BenchDataset, redisPid: number | null): Promise<Measure & { redisCpu: number }> {
    const count = countRanges(agents, ds.ranges.length);
    const cpu = () => this.list.reduce((s, n) => s + cpuSeconds(n.pid), 0);
    const cpu0 = cpu();
    const redis0 = redisPid === null ? 0 : cpuSeconds(redisPid);
    const t0 = performance.now();
    try {
      await this.list[0]!.createTask(ds.id, ds.rangeSize, 'bench cluster');
      await within(count.done, 300_000, `cluster task (${count.ranges}/${ds.ranges.length} ranges done)`);
    } finally {
      count.stop();
    }
    const seconds = (performance.now() - t0) / 1000;
    if (count.bytes !== ds.bytes) throw new Error(`the cluster delivered ${count.bytes} bytes, expected ${ds.bytes}`);
    return { bytes: count.bytes, events: count.events, seconds, cpu: cpu() - cpu0, redisCpu: redisPid === null ? 0 : cpuSeconds(redisPid) - redis0 };
  }

  /** Cache-hit and cache-miss payload bytes delivered so far, summed over the nodes. */
  async delivered(): Promise<{ hit: number; miss: number }> {
    const all = await Promise.all(this.list.map((n) => n.metrics()));
    return {
      hit: all.reduce((a, m) => a + (m.get('ess_delivered_cache_hit_bytes_total') ?? 0), 0),
      miss: all.reduce((a, m) => a + (m.get('ess_delivered_cache_miss_bytes_total') ?? 0), 0),
    };
  }

  async stop(): Promise<void> {
    await Promise.all(this.list.map((n) => n.stop()));
  }
}

async function run(ctx: BenchContext): Promise<Section> {
  const quick = ctx.opts.quick;
  const reps = quick ? 1 : ctx.opts.reps;
  const hot = await ctx.hotDataset();
  const tinyRanges = quick ? 600 : 2000;
  const tiny = await createDataset(ctx.dataDir, { scope: 'bench', name: 'cluster-tiny', files: 1, eventsPerFile: tinyRanges, sizeMean: 1024, sizeDist: 'fixed', rangeSize: 1 });
  const agents = await ctx.pool.ensure(AGENTS);
  const configs: Config[] = [
    { label: '1 node, SQLite ledger', nodes: 1, redis: false },
    { label: '1 node, Redis', nodes: 1, redis: true },
    { label: '2 nodes, Redis', nodes: 2, redis: true },
    { label: '3 nodes, Redis', nodes: 3, redis: true },
  ].map((c) => ({ ...c, dispatch: [], throughput: [], hitRatio: [], nodeCpuPerK: [], redisCpuPerK: [] }));
  const memory = `${Math.ceil((hot.bytes * 1.25) / 2 ** 20)}MiB`;
  const redis = await startRedis({ appendfsync: 'always' });
  const origin = await startNginx(join(ctx.dataDir, 'datasets'));
  try {
    for (const [k, c] of configs.entries()) {
      const nodes = await Nodes.start(ctx, k, c, redis, origin, [hot, tiny], memory);
      try {
        // A pass that fills the cache (across the nodes' owners) and warms up the code, untimed.
        await nodes.connect(agents, `cw${k}`, 1);
        await nodes.run(agents, hot, null);
        await nodes.close(agents);
        for (let rep = 0; rep < reps; rep++) {
          if (rep > 0 && ctx.overBudget()) break;
          await nodes.connect(agents, `cd${k}-${rep}`, DISPATCH_SESSIONS_PER_AGENT);
          const d = await nodes.run(agents, tiny, c.redis ? redis.pid : null);
          await nodes.close(agents);
          c.dispatch.push(tiny.ranges.length / d.seconds);
          c.nodeCpuPerK.push((d.cpu / tiny.ranges.length) * 1000);
          c.redisCpuPerK.push((d.redisCpu / tiny.ranges.length) * 1000);
          await nodes.connect(agents, `ct${k}-${rep}`, 1);
          const before = await nodes.delivered();
          const t = await nodes.run(agents, hot, null);
          const after = await nodes.delivered();
          await nodes.close(agents);
          c.throughput.push(t.bytes / t.seconds / 1e9);
          c.hitRatio.push((after.hit - before.hit) / Math.max(1, after.hit - before.hit + after.miss - before.miss));
          ctx.log(`${c.label} rep ${rep + 1}: dispatch ${num(c.dispatch.at(-1)!, 3)} ranges/s, throughput ${num(c.throughput.at(-1)!)} GB/s`);
        }
      } finally {
        await nodes.stop();
      }
    }
  } finally {
    await origin.stop();
    await redis.stop();
  }
  const sm = (xs: number[]): Summary => summarize(xs);
  const base = configs[0]!;
  const table: Table = {
    title: 'Dispatch and delivery, one node on SQLite against one to three nodes on Redis',
    head: ['configuration', 'dispatch, ranges/s', 'vs SQLite', 'node CPU s per 1k ranges', 'Redis CPU s per 1k ranges', 'throughput (4 workers, cache-hot), GB/s', 'vs SQLite', 'cache hits, %'],
    rows: configs.map((c) => [
      c.label,
      fmt(sm(c.dispatch), 3),
      c === base ? '1' : fmt(pairedRatio(sm(c.dispatch), sm(base.dispatch))),
      fmt(sm(c.nodeCpuPerK)),
      c.redis ? fmt(sm(c.redisCpuPerK)) : '–',
      fmt(sm(c.throughput)),
      c === base ? '1' : fmt(pairedRatio(sm(c.throughput), sm(base.throughput))),
      fmt(sm(c.hitRatio.map((x) => x * 100)), 0),
    ]),
  };
  ctx.show(table);
  const redisOne = configs[1]!;
  const redisThree = configs[3]!;
  ctx.headlines.set('clusterDispatch', {
    label: 'Dispatch rate, SQLite (1 node) / Redis appendfsync always (1 node, 3 nodes)',
    value: `${fmt(sm(base.dispatch), 3)} / ${fmt(sm(redisOne.dispatch), 3)}, ${fmt(sm(redisThree.dispatch), 3)} ranges/s`,
    raw: sm(redisThree.dispatch).median,
  });
  ctx.raw.cluster = { configs, tinyRanges: tiny.ranges.length, hotBytes: hot.bytes };
  return {
    id: 'cluster',
    title: clusterScenario.title,
    intro:
      `Each configuration starts fresh \`ess serve\` processes; with Redis they share one redis-server (AOF, \`appendfsync always\`, as docs/SCALING.md requires) under their own key prefix, and all read one nginx origin. ` +
      `${AGENTS} agent processes connect round-robin over the nodes (agent i to node i mod n): ${AGENTS * DISPATCH_SESSIONS_PER_AGENT} sessions run a task of ${tiny.ranges.length} one-event ranges of 1 KiB (the dispatch rate: claim, stream, report, complete, per range, through the ledger), then 4 sessions stream the cache-hot dataset (${num(hot.bytes / 1e9)} GB) once. ` +
      'A warm-up pass fills each configuration\'s cache first, so that throughput is cache-bound and the first timed run does not pay for compiling the code.',
    tables: [table],
    notes: [
      'This machine has 2 cores: two or three nodes, Redis, nginx and the agents share them, so adding nodes here cannot add CPU; the figures show what the shared ledger and the cooperative cache cost per range and per byte, not how a cluster of real machines scales. On separate hosts each node brings its own cores and its own cache; the ledger\'s rate is then bounded by Redis (one core, and one fsync per outcome with `appendfsync always`), which the Redis CPU column shows.',
      'Tasks are created on the first node; the others learn of them through Redis (the `ranges-ready` event) and hand out ranges to their own workers. Throughput with several nodes includes blocks a node does not own being fetched from their owner node over the internal endpoint.',
    ],
  };
}
