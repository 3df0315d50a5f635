/**
 * Event picking: a task over 1,000 (run, event) pairs of a multi-file dataset delivers exactly those
 * events and nothing else, found through the run and event numbers in the files' footers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { openEventFile } from '@ess/format';
import { api, checkRangeFiles, createTask, makeDataset, spawnWorker, startTestServer, taskStatus, tempDir, Teardown } from '@ess/testkit';

describe('event picking', () => {
  const teardown = new Teardown();
  afterEach(() => teardown.run());

  it('delivers 1,000 picked (run, event) pairs exactly, and nothing else', async () => {
    const dir = teardown.own(await tempDir(), (d) => d.remove());
    const ds = await makeDataset(dir.path, { scope: 'pick', name: 'multi', files: 5, eventsPerFile: 600, sizeMean: 2048, seed: 51 });
    // Every event's identity, from the files themselves.
    const all: { lfn: string; entry: number; run: number; event: number }[] = [];
    for (const f of ds.files) {
      const file = await openEventFile(join(ds.dir, f.lfn));
      for (let i = 0; i < file.index.count; i++) all.push({ lfn: f.lfn, entry: file.index.entryAt(i), ...file.index.idsAt(i)! });
      await file.close();
    }
    // 1,000 picks: some in runs of neighbours (to coalesce), most scattered.
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const picked = new Map<string, (typeof all)[number]>();
    while (picked.size < 1000) {
      const at = Math.floor(rand() * all.length);
      const run = rand() < 0.2 ? 5 : 1;
      for (let k = 0; k < run && at + k < all.length; k++) picked.set(`${all[at + k]!.lfn}#${all[at + k]!.entry}`, all[at + k]!);
    }
    const pairs = [...picked.values()].slice(0, 1000);

    const server = teardown.own(await startTestServer({ dataDir: dir.path }), (s) => s.close());
    const task = await createTask(server, { dataset: ds.id, events: pairs.map(({ run, event }) => ({ run, event })), rangeSize: 50 });
    expect(task.eventsTotal).toBe(1000);
    expect(task.rangesTotal).toBeLessThan(1000); // neighbours coalesced into shared ranges
    const out = join(dir.path, 'out');
    const w = spawnWorker({ server: server.wsUrl, task: task.id, outDir: out, id: 'picker' });
    expect((await w.exited).code, w.output()).toBe(0);
    expect((await taskStatus(server, task.id)).state).toBe('complete');

    const check = await checkRangeFiles([out], ds.dir);
    expect(check.mismatches).toEqual([]);
    expect(new Set(check.seen.keys())).toEqual(new Set(pairs.map((p) => `${p.lfn}#${p.entry}`)));
    expect([...check.seen.values()].every((n) => n === 1)).toBe(true);

    // Unknown pairs are refused with the ones that were not found.
    const bad = await api(server, 'POST', '/api/v1/tasks', { dataset: ds.id, events: [{ run: 1, event: 999_999_999 }] });
    expect(bad.status).toBe(404);
    expect(JSON.stringify(bad.json)).toMatch(/999999999/);
    // One event can be looked up.
    const one = pairs[0]!;
    const found = await api<{ lfn: string; entry: number }>(server, 'GET', `/api/v1/datasets/${encodeURIComponent(ds.id)}/events?run=${one.run}&event=${one.event}`);
    expect(found.json).toMatchObject({ lfn: one.lfn, entry: one.entry });
  }, 90_000);
});
