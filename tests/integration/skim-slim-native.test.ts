/**
 * Skim and slim on native ESS event files, end to end with a real worker process: the range files
 * hold exactly the events passing the predicate (their original entries in the footer), each with
 * exactly the slimmed fields, equal to the source's; each range counts events read and passed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { openEventFile } from '@ess/format';
import { unpackStandard } from '@ess/protocol';
import { apiOk, createTask, makeDataset, spawnWorker, startTestServer, taskStatus, tempDir, type TempDir } from '@ess/testkit';
import type { EssServer } from '@ess/server';

let dir: TempDir;
let server: EssServer;
let ds: Awaited<ReturnType<typeof makeDataset>>;

beforeAll(async () => {
  dir = await tempDir('ess-skim-');
  ds = await makeDataset(join(dir.path, 'data'), { scope: 'skim', name: 'ev', files: 2, eventsPerFile: 120, sizeMean: 8 * 1024, seed: 17 });
  server = await startTestServer({ dataDir: join(dir.path, 'data') });
});

afterAll(async () => {
  await server?.close();
  await dir?.remove();
});

type Rec = Record<string, unknown> & { muons: unknown[]; met: { pt: number } };

describe('skim and slim of ESS event files', () => {
  it('delivers only passing events with only the slimmed fields, counted per range', async () => {
    const skim = 'size(muons) >= 2 || (met.pt > 45.0 && jets.exists(j, j.btag > 0.5))';
    const slim = ['run', 'event', 'entry', 'met', 'mu*'];
    const task = await createTask(server, { dataset: ds.id, rangeSize: 50, skim, slim });
    const out = join(dir.path, 'out');
    const p = spawnWorker({ server: server.wsUrl, task: task.id, outDir: out, id: 'skimmer' });
    expect((await p.exited).code, p.output()).toBe(0);
    expect((await taskStatus(server, task.id)).state).toBe('complete');

    const delivered = new Map<string, Record<string, unknown>>();
    for (const name of await readdir(out)) {
      const rf = await openEventFile(join(out, name));
      try {
        for (let i = 0; i < rf.index.count; i++) {
          const entry = rf.index.entryAt(i);
          delivered.set(`${rf.index.lfn}#${entry}`, unpackStandard(await rf.readEvent(entry)) as Record<string, unknown>);
        }
      } finally {
        await rf.close();
      }
    }
    let passing = 0;
    for (const f of ds.files) {
      const src = await openEventFile(join(ds.dir, f.lfn));
      try {
        for (let e = 0; e < 120; e++) {
          const r = unpackStandard(await src.readEvent(e)) as Rec & { jets: { btag: number }[] };
          const pass = r.muons.length >= 2 || (r.met.pt > 45 && r.jets.some((j) => j.btag > 0.5));
          const got = delivered.get(`${f.lfn}#${e}`);
          if (!pass) {
            expect(got, `${f.lfn}#${e} was skimmed`).toBeUndefined();
            continue;
          }
          passing++;
          expect(got, `${f.lfn}#${e}`).toEqual({ run: r.run, event: r.event, entry: r.entry, met: r.met, muons: r.muons });
        }
      } finally {
        await src.close();
      }
    }
    expect(delivered.size).toBe(passing);
    expect(passing).toBeGreaterThan(20);
    expect(passing).toBeLessThan(200);
    const { ranges } = await apiOk<{ ranges: { eventsRead: number; eventsPassed: number }[] }>(server, 'GET', `/api/v1/tasks/${task.id}/ranges`);
    expect(ranges).toHaveLength(6);
    expect(ranges.reduce((n, r) => n + r.eventsRead, 0)).toBe(240);
    expect(ranges.reduce((n, r) => n + r.eventsPassed, 0)).toBe(passing);
  });
});
