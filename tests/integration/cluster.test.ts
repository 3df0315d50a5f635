/**
 * Scale-out: three node processes sharing one Redis (AOF, appendfsync always) and one nginx
 * origin. A node killed mid-task, a node frozen past its workers' leases, Redis killed and
 * restarted from its AOF: every range still ends exactly once. And a block read by workers on all
 * three nodes is fetched from the origin once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MONITOR_PATH, PROTOCOL_VERSION, type MonitorSnapshot } from '@ess/protocol';
import {
  checkRangeFiles,
  ESS_CLI,
  freePort,
  killNow,
  makeDataset,
  RawWorker,
  runFromSource,
  spawnWorker,
  startNginx,
  startRedis,
  tempDir,
  Teardown,
  waitFor,
  type ProcessHandle,
} from '@ess/testkit';

const ADMIN = 'cluster-admin-token-0123456789abcdef';
const WORKER = 'cluster-worker-token-0123456789abcdef';
const KiB = 1024;

interface Node {
  readonly url: string;
  readonly ws: string;
  readonly port: number;
  proc: ProcessHandle;
}

interface TaskJson {
  id: number;
  state: string;
  rangesTotal: number;
  ranges: Record<string, number>;
}

describe('a cluster of three nodes on Redis', () => {
  const teardown = new Teardown();
  afterEach(() => teardown.run());

  async function cluster(o: { heartbeat?: number; lease?: number; grace?: number } = {}) {
    const dir = teardown.own(await tempDir(), (d) => d.remove());
    const redis = teardown.own(await startRedis(), (r) => r.stop());
    const ds = await makeDataset(join(dir.path, 'origin'), { scope: 'cl', name: 'ds', files: 4, eventsPerFile: 60, sizeMean: 32 * KiB, sizeDist: 'fixed', seed: 91 });
    const nginx = teardown.own(await startNginx(join(dir.path, 'origin')), (x) => x.stop());
    const tokens = join(dir.path, 'tokens.json');
    await writeFile(tokens, JSON.stringify([{ token: ADMIN, role: 'admin', name: 'ops' }, { token: WORKER, role: 'worker', name: 'pilots' }]));
    const nodes: Node[] = [];
    const start = async (n: Node, i: number) => {
      n.proc = runFromSource(ESS_CLI, [
        'serve', '--data', join(dir.path, `node-${i}`), '--port', String(n.port), '--redis', redis.url, '--tokens', tokens, '--log-level', 'warn',
        '--heartbeat', String(o.heartbeat ?? 1000), '--lease', String(o.lease ?? 6000), '--grace', String(o.grace ?? 3000),
        '--cache-memory', '64MiB', '--cache-disk', '0', '--block-size', '256KiB', '--prefetch-ranges', '2',
      ]);
      teardown.own(n.proc, killNow);
      await waitFor(async () => (await fetch(`${n.url}/healthz`).catch(() => null))?.ok, { timeoutMs: 30_000, message: `node ${i}` });
    };
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const n: Node = { url: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}`, port, proc: undefined as unknown as ProcessHandle };
      nodes.push(n);
      await start(n, i);
    }
    // Every node sees the three: block ownership is the same whichever node computes it.
    for (const n of nodes) {
      await waitFor(async () => ((await (await fetch(`${n.url}/healthz`)).json()) as { cluster?: string[] }).cluster?.length === 3, { timeoutMs: 20_000, message: `node ${n.port} seeing all three` });
    }
    const api = async <T>(n: Node, method: string, path: string, body?: unknown): Promise<T> => {
      const res = await fetch(n.url + path, { method, headers: { authorization: `Bearer ${ADMIN}`, ...(body !== undefined && { 'content-type': 'application/json' }) }, ...(body !== undefined && { body: JSON.stringify(body) }) });
      if (!res.ok) throw new Error(`${method} ${path} on ${n.url}: ${res.status} ${await res.text()}`);
      return (await res.json()) as T;
    };
    // Registered once, on one node: the others learn it through Redis.
    await api(nodes[0]!, 'POST', '/api/v1/sources', { id: 'origin', kind: 'http', endpoint: nginx.url });
    await api(nodes[0]!, 'POST', '/api/v1/datasets', { scope: ds.scope, name: ds.name, files: ds.files.map((f) => ({ lfn: f.lfn, replicas: [{ source: 'origin', url: `${nginx.url}/datasets/${ds.scope}/${ds.name}/${f.lfn}` }] })) });
    for (const n of nodes) await waitFor(async () => (await api<{ datasets: { id: string }[] }>(n, 'GET', '/api/v1/datasets')).datasets.some((d) => d.id === ds.id), { message: 'the dataset on every node' });
    // Workers: two per node, each knowing all three nodes (its own first).
    const workers = (task: number, payload: string) =>
      [0, 1, 2, 3, 4, 5].map((i) => {
        const order = [0, 1, 2].map((k) => nodes[(i + k) % 3]!.ws).join(',');
        const w = spawnWorker({ server: order, task, outDir: join(dir.path, `out-${task}-${i}`), id: `cw-${task}-${i}`, extra: ['--token', WORKER, '--exec', payload] });
        teardown.own(w, killNow);
        return { w, out: join(dir.path, `out-${task}-${i}`) };
      });
    return { dir, redis, nginx, ds, nodes, api, start, workers };
  }

  const finished = (t: TaskJson) => t.ranges.finished ?? 0;

  /** What a dashboard opening node `n`'s monitor channel now sees first. */
  async function snapshot(n: Node): Promise<MonitorSnapshot> {
    const m = await RawWorker.connect(n.ws, { path: MONITOR_PATH });
    try {
      m.send({ type: 'hello', protocol: PROTOCOL_VERSION, role: 'monitor', token: ADMIN });
      return await m.next('snapshot');
    } finally {
      m.terminate();
    }
  }

  it('kill -9 of a node mid-task: its workers move to the others, every range finished exactly once; one view on every node', async () => {
    const { ds, nodes, api, workers } = await cluster();
    const task = await api<TaskJson>(nodes[0]!, 'POST', '/api/v1/tasks', { dataset: ds.id, rangeSize: 4 });
    const ws = workers(task.id, 'sleep 0.1');
    // One view: node C's dashboard shows the three nodes up and the workers of all three.
    const ids = (await Promise.all(nodes.map(async (n) => ((await (await fetch(`${n.url}/healthz`)).json()) as { node: string }).node))).sort();
    const seen = await waitFor(
      async () => {
        const v = await snapshot(nodes[2]!);
        const live = v.workers.filter((w) => w.health !== 'gone');
        const ok = v.nodes.length === 3 && v.nodes.every((r) => r.health === 'up') && live.length === 6 && new Set(live.map((w) => w.node)).size === 3;
        return ok ? v : null;
      },
      { timeoutMs: 30_000, message: 'node 2 showing every node and its workers' },
    );
    expect(seen.nodes.map((r) => r.id).sort()).toEqual(ids);
    expect(seen.workers.filter((w) => w.health !== 'gone').map((w) => w.id).sort()).toEqual([0, 1, 2, 3, 4, 5].map((i) => `cw-${task.id}-${i}`));
    expect(seen.tasks.find((t) => t.id === task.id)).toBeDefined();
    await waitFor(async () => finished(await api<TaskJson>(nodes[0]!, 'GET', `/api/v1/tasks/${task.id}`)) >= 15, { timeoutMs: 60_000, message: 'a quarter of the task' });
    nodes[1]!.proc.kill('SIGKILL');
    // The dead node drops out of the view once its membership lapses.
    const dead = ids.find((id) => id.endsWith(`:${nodes[1]!.port}`));
    await waitFor(async () => (await snapshot(nodes[2]!)).nodes.map((r) => r.id).sort().join() === ids.filter((id) => id !== dead).join(), {
      timeoutMs: 30_000,
      message: 'the killed node gone from the view',
    });
    for (const { w } of ws) expect((await w.exited).code, w.output()).toBe(0);
    const status = await api<TaskJson>(nodes[2]!, 'GET', `/api/v1/tasks/${task.id}`);
    expect(status).toMatchObject({ state: 'complete', ranges: { finished: 60, fatal: 0 } });
    const check = await checkRangeFiles(ws.map((x) => x.out), ds.dir);
    expect(check.mismatches).toEqual([]);
    expect(check.seen.size).toBe(240);
  }, 180_000);

  it('a node frozen (SIGSTOP) past its workers\' leases: its late reports are refused as fenced, nothing is recorded twice', async () => {
    const { ds, nodes, api, workers } = await cluster({ heartbeat: 2000, lease: 3000, grace: 1000 });
    const task = await api<TaskJson>(nodes[0]!, 'POST', '/api/v1/tasks', { dataset: ds.id, rangeSize: 2 });
    const ws = workers(task.id, 'sleep 0.3');
    await waitFor(async () => finished(await api<TaskJson>(nodes[0]!, 'GET', `/api/v1/tasks/${task.id}`)) >= 10, { timeoutMs: 60_000, message: 'some of the task' });
    nodes[1]!.proc.child.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, 9_000));
    nodes[1]!.proc.child.kill('SIGCONT');
    for (const { w } of ws) expect((await w.exited).code, w.output()).toBe(0);
    const status = await api<TaskJson>(nodes[0]!, 'GET', `/api/v1/tasks/${task.id}`);
    expect(status).toMatchObject({ state: 'complete', ranges: { finished: 120, fatal: 0 } });
    // The frozen node, thawed, found its workers' leases taken over: what it tried to record was fenced.
    const metrics = await (await fetch(`${nodes[1]!.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } })).text();
    const fenced = Number(/ess_reports_fenced_total (\d+)/.exec(metrics)?.[1] ?? 0);
    const lapsed = (await api<{ ranges: { attempt: number }[] }>(nodes[0]!, 'GET', `/api/v1/tasks/${task.id}/ranges`)).ranges.filter((r) => r.attempt > 1).length;
    expect(lapsed).toBeGreaterThan(0);
    expect(fenced + lapsed).toBeGreaterThan(0);
    const check = await checkRangeFiles(ws.map((x) => x.out), ds.dir);
    expect(check.mismatches).toEqual([]);
    expect(check.seen.size).toBe(240);
  }, 180_000);

  it('kill -9 of Redis mid-task and a restart from its AOF: no finished range is lost', async () => {
    const { redis, ds, nodes, api, workers } = await cluster({ lease: 20_000 });
    const task = await api<TaskJson>(nodes[0]!, 'POST', '/api/v1/tasks', { dataset: ds.id, rangeSize: 4 });
    const ws = workers(task.id, 'sleep 0.1');
    await waitFor(async () => finished(await api<TaskJson>(nodes[0]!, 'GET', `/api/v1/tasks/${task.id}`)) >= 20, { timeoutMs: 60_000, message: 'a third of the task' });
    const before = finished(await api<TaskJson>(nodes[0]!, 'GET', `/api/v1/tasks/${task.id}`));
    await redis.kill();
    await new Promise((r) => setTimeout(r, 2_000));
    await redis.restart();
    const after = finished(await waitFor(() => api<TaskJson>(nodes[0]!, 'GET', `/api/v1/tasks/${task.id}`), { timeoutMs: 30_000, message: 'the ledger back' }));
    expect(after).toBeGreaterThanOrEqual(before);
    for (const { w } of ws) expect((await w.exited).code, w.output()).toBe(0);
    const status = await api<TaskJson>(nodes[0]!, 'GET', `/api/v1/tasks/${task.id}`);
    expect(status).toMatchObject({ state: 'complete', ranges: { finished: 60, fatal: 0 } });
    const check = await checkRangeFiles(ws.map((x) => x.out), ds.dir);
    expect(check.mismatches).toEqual([]);
    expect(check.seen.size).toBe(240);
  }, 180_000);

  it('a block read by workers on all three nodes is fetched from the origin once', async () => {
    const { dir, nginx, ds, nodes, api } = await cluster();
    const lfn = ds.files[0]!.lfn;
    const path = `/datasets/${ds.scope}/${ds.name}/${lfn}`;
    const before = (await nginx.requests()).length;
    // Three tasks over the same file's first 24 events; one worker on each node.
    const outs: string[] = [];
    const picks = await (async () => {
      const { openEventFile } = await import('@ess/format');
      const f = await openEventFile(join(ds.dir, lfn));
      const ids = Array.from({ length: 24 }, (_, i) => f.index.idsAt(i)!);
      await f.close();
      return ids;
    })();
    for (let i = 0; i < 3; i++) {
      const task = await api<TaskJson>(nodes[i]!, 'POST', '/api/v1/tasks', { dataset: ds.id, events: picks, rangeSize: 24 });
      const out = join(dir.path, `coop-${i}`);
      outs.push(out);
      const w = spawnWorker({ server: nodes[i]!.ws, task: task.id, outDir: out, id: `coop-${i}`, extra: ['--token', WORKER, '--no-reconnect'] });
      teardown.own(w, killNow);
      // One after another, so each node's reads find the owner's cache warm rather than coalescing by chance.
      expect((await w.exited).code, w.output()).toBe(0);
    }
    const reads = (await nginx.requests()).slice(before).filter((r) => r.path === path && r.range !== null);
    const blockSize = 256 * KiB;
    const starts = reads.map((r) => Number(/bytes=(\d+)-/.exec(r.range!)![1])).filter((s) => s % blockSize === 0);
    // The 24 events (8-byte header, 32 KiB each) span these blocks; each came from nginx once, whichever node read it.
    const blocks = Math.ceil((8 + 24 * 32 * KiB) / blockSize);
    // On failure, the nodes' warnings say why a block went to the origin again (an owner that failed, a membership change).
    expect(starts.sort((a, b) => a - b), nodes.map((n) => n.proc.output()).join('\n')).toEqual(Array.from({ length: blocks }, (_, b) => b * blockSize));
    const check = await checkRangeFiles(outs, ds.dir);
    expect(check.mismatches).toEqual([]);
    expect([...check.seen.values()].every((n) => n === 3)).toBe(true);
  }, 120_000);
});
