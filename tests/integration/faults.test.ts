/**
 * Faults: a task of a thousand ranges with worker processes that are killed (kill -9) at random and
 * replaced, and a server that is killed (kill -9) once and stopped (SIGTERM) once, each time
 * restarted on its data directory. At the end every range is finished exactly once (the ledger and
 * the workers' range files agree), and no payload ran on a range after its range was finished.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { checkRangeFiles, ESS_CLI, freePort, makeDataset, runFromSource, spawnWorker, Teardown, killNow, tempDir, waitFor, type ProcessHandle } from '@ess/testkit';

interface TaskJson {
  id: number;
  state: string;
  rangesTotal: number;
  ranges: Record<string, number>;
}
interface RangeJson {
  key: string;
  state: string;
  attempt: number;
  eventRangeID: string | null;
}

describe('faults', () => {
  const teardown = new Teardown();
  afterEach(() => teardown.run());

  it('kill -9 of workers and two server restarts: every range finished exactly once, no payload after its range finished', async () => {
    const dir = teardown.own(await tempDir(), (d) => d.remove());
    const data = join(dir.path, 'node');
    const ds = await makeDataset(data, { scope: 'faults', name: 'ds', files: 10, eventsPerFile: 500, sizeMean: 1024, seed: 61 });
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const payloadLog = join(dir.path, 'payload.log');

    let server: ProcessHandle;
    const startServer = async () => {
      server = runFromSource(ESS_CLI, ['serve', '--data', data, '--port', String(port), '--grace', '3000', '--lease', '8000', '--heartbeat', '1000', '--drain', '2000', '--log-level', 'warn']);
      teardown.own(server, killNow);
      await waitFor(async () => (await fetch(`${url}/healthz`).catch(() => null))?.ok, { timeoutMs: 30_000, message: 'the server to listen' });
    };
    await startServer();
    const tokenFile = join(data, 'state', 'admin.token');
    const token = (await readFile(tokenFile, 'utf8')).trim();
    const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
      const res = await fetch(url + path, { method, headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }) }, ...(body !== undefined && { body: JSON.stringify(body) }) });
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status}`);
      return (await res.json()) as T;
    };
    const task = await api<TaskJson>('POST', '/api/v1/tasks', { dataset: ds.id, rangeSize: 5, attempts: 20 });
    expect(task.rangesTotal).toBe(1000);

    // Workers: each payload appends its eventRangeID to one log (O_APPEND: whole lines).
    let serial = 0;
    const outs: string[] = [];
    const workers = new Map<string, ProcessHandle>();
    const startWorker = (id = `w${serial}`) => {
      const out = join(dir.path, `out-${serial++}`);
      outs.push(out);
      const w = spawnWorker({
        server: `ws://127.0.0.1:${port}`,
        task: task.id,
        outDir: out,
        id,
        extra: ['--token-file', tokenFile, '--prefetch', '3', '--exec', `printf '%s\\n' "$ESS_EVENT_RANGE_ID" >> ${payloadLog}`],
      });
      teardown.own(w, killNow);
      workers.set(id, w);
    };
    for (let i = 0; i < 4; i++) startWorker();

    const progress = async () => (await api<TaskJson>('GET', `/api/v1/tasks/${task.id}`).catch(() => null))?.ranges.finished ?? 0;
    let kills = 0;
    let restarts = 0;
    const random = (() => {
      let s = 7;
      return () => ((s = (s * 48271) % 2147483647) / 2147483647);
    })();
    for (;;) {
      const done = await progress();

      if (done >= 1000) break;
      // The server: killed at a third of the task, stopped gracefully at two thirds.
      if ((restarts === 0 && done > 330) || (restarts === 1 && done > 660)) {
        server!.kill(restarts === 0 ? 'SIGKILL' : 'SIGTERM');
        await server!.exited;
        restarts++;
        await startServer();
      }
      // A worker: killed outright now and then, replaced by a fresh one (sometimes with the same id, as a restarted pilot).
      await new Promise((r) => setTimeout(r, 250 + random() * 500));
      const alive = [...workers.entries()].filter(([, w]) => w.child.exitCode === null && w.child.signalCode === null);
      if (alive.length > 0 && random() < 0.6) {
        const [id, victim] = alive[Math.floor(random() * alive.length)]!;
        victim.kill('SIGKILL');
        await victim.exited;
        workers.delete(id);
        kills++;
        startWorker(random() < 0.5 ? id : undefined);
      }
    }
    expect(restarts).toBe(2);
    expect(kills).toBeGreaterThan(3);
    for (const w of workers.values()) expect((await w.exited).code, w.output()).toBe(0);

    // The ledger: every range finished, once.
    const final = await api<TaskJson>('GET', `/api/v1/tasks/${task.id}`);
    expect(final).toMatchObject({ state: 'complete', ranges: { finished: 1000, fatal: 0, failed: 0 } });
    const { ranges } = await api<{ ranges: RangeJson[] }>('GET', `/api/v1/tasks/${task.id}/ranges`);
    const finishedAttempt = new Map(ranges.map((r) => [r.key, r.attempt]));

    // The workers' files: the file of each range's finishing attempt is there, byte-exact.
    const files = new Set<string>();
    for (const out of outs) for (const name of await readdir(out).catch(() => [])) if (name.endsWith('.ess')) files.add(name.replace(/\.ess$/, ''));
    for (const r of ranges) expect(files.has(r.eventRangeID!), `${r.eventRangeID} has no range file`).toBe(true);
    const check = await checkRangeFiles(outs, ds.dir);
    expect(check.mismatches).toEqual([]);
    expect(check.seen.size).toBe(5000);

    // The payloads: none ran on a range after the attempt that finished it.
    const runs = (await readFile(payloadLog, 'utf8')).trim().split('\n');
    const late = runs.filter((id) => {
      const [t, f, r, a] = id.split('-').map(Number);
      return a! > finishedAttempt.get(`${t}-${f}-${r}`)!;
    });
    expect(late).toEqual([]);
    for (const r of ranges) expect(runs, `no payload ran ${r.eventRangeID}`).toContain(r.eventRangeID);
    server!.kill('SIGTERM');
    await server!.exited;
  }, 300_000);
});
