/**
 * Real ROOT files (../shared/data/root) as datasets of a real node, delivered to real worker
 * processes as Arrow range files: for every file, chosen branches over every entry range equal
 * what jsroot reads from the original file, entry by entry, and the union of a task's range files
 * is the whole tree's selected branches; a skim passes exactly the events a direct computation
 * selects; bad predicates and branch names are refused at task creation; events are picked by
 * (Run, Event).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, readFile, readdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { readArrowRangeFile, type ArrowRangeFile } from '@ess/client';
import { api, apiOk, createTask, spawnWorker, startTestServer, taskStatus, tempDir, type TempDir } from '@ess/testkit';
import type { EssServer } from '@ess/server';
import { ROOT_SAMPLES, comparable, readDirect, rootSample } from '../../packages/server/test/root-direct.js';

let dir: TempDir;
let server: EssServer;

const DATASETS = [
  { id: 'cms:zmumu', ...ROOT_SAMPLES[0], slim: ['Type', 'Run', 'Event', 'E1', 'px1', 'Q1', 'M'], rangeSize: 500, workers: 1 },
  { id: 'cms:hzz', ...ROOT_SAMPLES[1], slim: ['NJet', 'Jet_*', 'NMuon', 'Muon_P?', 'MET_px', 'triggerIsoMu24', 'EventWeight'], rangeSize: 400, workers: 2 },
  { id: 'cms:ttbar', ...ROOT_SAMPLES[2], slim: ['run', 'event', 'nMuon', 'Muon_pt', 'Muon_charge', 'Muon_tightId', 'Muon_jetNDauCharged', 'MET_pt', 'PV_npvs', 'HLT_IsoMu27'], rangeSize: 60, workers: 1 },
] as const;

beforeAll(async () => {
  dir = await tempDir('ess-root-');
  for (const d of DATASETS) {
    const folder = join(dir.path, 'data', 'datasets', 'cms', d.id.slice(4));
    await mkdir(folder, { recursive: true });
    await symlink(rootSample(d.file), join(folder, d.file));
  }
  server = await startTestServer({ dataDir: join(dir.path, 'data') });
});

afterAll(async () => {
  await server?.close();
  await dir?.remove();
});

/** Runs `workers` worker processes on a task to the end; returns every Arrow range file they wrote. */
async function deliver(task: number, workers: number): Promise<{ name: string; file: ArrowRangeFile }[]> {
  const outs = Array.from({ length: workers }, (_, i) => join(dir.path, `out-${task}-${i}`));
  const procs = outs.map((outDir, i) => spawnWorker({ server: server.wsUrl, task, outDir, id: `root-${task}-${i}` }));
  for (const p of procs) expect((await p.exited).code, p.output()).toBe(0);
  expect((await taskStatus(server, task)).state).toBe('complete');
  const files: { name: string; file: ArrowRangeFile }[] = [];
  for (const out of outs) {
    let names: string[] = [];
    try {
      names = await readdir(out);
    } catch {
      continue; // a worker that got no range wrote nothing
    }
    expect(names.every((n) => n.endsWith('.arrow')), names.join(' ')).toBe(true);
    for (const name of names) files.push({ name, file: await readArrowRangeFile(await readFile(join(out, name))) });
  }
  return files;
}

describe('ROOT datasets', () => {
  it('delivers the chosen branches of every sample file, entry by entry equal to jsroot, the union of the range files being the whole tree', async () => {
    const tasks = await Promise.all(DATASETS.map((d) => createTask(server, { dataset: d.id, rangeSize: d.rangeSize, slim: d.slim })));
    const delivered = await Promise.all(DATASETS.map((d, i) => deliver(tasks[i]!.id, d.workers)));
    for (const [i, d] of DATASETS.entries()) {
      const meta = (await apiOk<{ files: { guid: string; events: number; root: { tree: string } }[] }>(server, 'GET', `/api/v1/datasets/${d.id}`)).files[0]!;
      expect(meta).toMatchObject({ events: d.entries, root: { tree: d.tree } });
      const files = delivered[i]!;
      expect(files).toHaveLength(Math.ceil(d.entries / d.rangeSize));
      const columns = files[0]!.file.columns;
      const names = columns.map((c) => c.name);
      const want = await readDirect(rootSample(d.file), d.tree, names);
      const seen = new Array<number>(d.entries).fill(0);
      for (const { name, file } of files) {
        // Exactly the requested branches (wildcards expanded in tree order), and where they come from.
        expect(file.columns, name).toEqual(columns);
        expect(file.metadata.get('ess.tree')).toBe(d.tree);
        expect(file.metadata.get('ess.lfn')).toBe(d.file);
        expect(file.metadata.get('ess.guid')).toBe(meta.guid);
        const first = Number(file.metadata.get('ess.startEvent'));
        const last = Number(file.metadata.get('ess.lastEvent'));
        expect(file.entries, name).toEqual(Array.from({ length: last - first + 1 }, (_, k) => first + k));
        for (const [row, entry] of file.entries.entries()) {
          seen[entry]!++;
          for (const c of columns) {
            expect(comparable(c.type, file.values.get(c.name)![row]), `${d.file} ${c.name} entry ${entry}`).toEqual(comparable(c.type, want[entry]!.values[c.name]));
          }
        }
      }
      expect(seen.every((n) => n === 1), `${d.file}: every entry in exactly one range file`).toBe(true);
    }
    // Wildcards were expanded, jagged branches are list columns.
    const hzz = delivered[1]![0]!.file.columns;
    expect(hzz.map((c) => c.name)).toEqual(['NJet', 'Jet_Px', 'Jet_Py', 'Jet_Pz', 'Jet_E', 'Jet_btag', 'Jet_ID', 'NMuon', 'Muon_Px', 'Muon_Py', 'Muon_Pz', 'MET_px', 'triggerIsoMu24', 'EventWeight']);
    expect(hzz.find((c) => c.name === 'Jet_ID')!.type).toBe('list<bool>');
  });

  it('skims: only the events passing the predicate, as many as a direct computation over the file; each range counts read and passed', async () => {
    const skim = 'NMuon >= 2 && MET_px > 0.0 && Muon_Px.exists(p, p > 20.0)';
    const task = await createTask(server, { dataset: 'cms:hzz', rangeSize: 1000, skim, slim: ['NMuon', 'Muon_Px', 'MET_px'] });
    const files = await deliver(task.id, 1);
    const rows = await readDirect(rootSample('uproot-HZZ.root'), 'events', ['NMuon', 'MET_px', 'Muon_Px']);
    const passing = rows.filter((r) => (r.values.NMuon as number) >= 2 && (r.values.MET_px as number) > 0 && (r.values.Muon_Px as number[]).some((p) => p > 20));
    const got = files.flatMap((f) => f.file.entries).sort((a, b) => a - b);
    expect(got).toEqual(passing.map((r) => r.entry));
    expect(passing.length).toBeGreaterThan(100);
    for (const { file } of files) {
      expect(file.metadata.get('ess.skim')).toBe(skim);
      for (const [row, entry] of file.entries.entries()) expect(file.values.get('MET_px')![row]).toBe(rows[entry]!.values.MET_px);
    }
    const { ranges } = await apiOk<{ ranges: { state: string; eventsRead: number; eventsPassed: number }[] }>(server, 'GET', `/api/v1/tasks/${task.id}/ranges`);
    expect(ranges.every((r) => r.state === 'finished')).toBe(true);
    expect(ranges.reduce((n, r) => n + r.eventsRead, 0)).toBe(2421);
    expect(ranges.reduce((n, r) => n + r.eventsPassed, 0)).toBe(passing.length);
    expect((await taskStatus(server, task.id)).eventsDone).toBe(2421);
  });

  it('refuses a task whose predicate or branch names do not fit the tree, saying where', async () => {
    const before = (await apiOk<{ tasks: unknown[] }>(server, 'GET', '/api/v1/tasks')).tasks.length;
    const bad = await api<{ code: string; message: string; position: { line: number; column: number; offset: number } }>(server, 'POST', '/api/v1/tasks', {
      dataset: 'cms:ttbar',
      rangeSize: 50,
      skim: 'nMuon >= 2 &&\n  MET_pt > 30.0 && (',
    });
    expect(bad.status).toBe(400);
    expect(bad.json.code).toBe('invalid_request');
    expect(bad.json.position).toMatchObject({ line: 2, column: 21, offset: 34 });
    expect(bad.json.message).toMatch(/^invalid skim at line 2, column 21/);
    const unknown = await api<{ message: string; position: { column: number } }>(server, 'POST', '/api/v1/tasks', { dataset: 'cms:ttbar', rangeSize: 50, skim: 'nMuon >= 2 && MET_Pt > 30.0' });
    expect(unknown.status).toBe(400);
    expect(unknown.json.message).toMatch(/Unknown variable: MET_Pt/);
    expect(unknown.json.position.column).toBe(15);
    const slim = await api<{ message: string }>(server, 'POST', '/api/v1/tasks', { dataset: 'cms:ttbar', rangeSize: 50, slim: ['Muon_pt', 'Gluino_*'] });
    expect(slim.status).toBe(400);
    expect(slim.json.message).toMatch(/slim pattern "Gluino_\*" matches no branch of TTree Events/);
    const type = await api<{ message: string }>(server, 'POST', '/api/v1/tasks', { dataset: 'cms:ttbar', rangeSize: 50, skim: 'MET_pt' });
    expect(type.json.message).toMatch(/must be a bool/);
    expect((await apiOk<{ tasks: unknown[] }>(server, 'GET', '/api/v1/tasks')).tasks).toHaveLength(before);
    // What a skim may use and a slim may name.
    const fields = await apiOk<{ records: string; tree: string; fields: { name: string; type: string; refused: string | null }[] }>(server, 'GET', '/api/v1/datasets/cms:ttbar/fields');
    expect(fields).toMatchObject({ records: 'root', tree: 'Events' });
    expect(fields.fields.find((f) => f.name === 'Muon_pt')).toEqual({ name: 'Muon_pt', type: 'list<float32>', refused: null });
  });

  it('picks events by (Run, Event) in uproot-Zmumu.root, every entry of each picked event', async () => {
    const rows = await readDirect(rootSample('uproot-Zmumu.root'), 'events', ['Run', 'Event', 'M']);
    const picks = [rows[10]!, rows[500]!, rows[501]!, rows[2000]!].map((r) => ({ run: r.values.Run as number, event: r.values.Event as number }));
    const task = await createTask(server, { dataset: 'cms:zmumu', events: picks, rangeSize: 100, slim: ['Run', 'Event', 'M'] });
    const files = await deliver(task.id, 1);
    const want = rows.filter((r) => picks.some((p) => p.run === r.values.Run && p.event === r.values.Event));
    expect(want.length).toBeGreaterThan(picks.length - 1);
    const got = files.flatMap(({ file }) => file.entries.map((entry, row) => ({ entry, run: file.values.get('Run')![row], event: file.values.get('Event')![row], M: file.values.get('M')![row] })));
    got.sort((a, b) => a.entry - b.entry);
    expect(got).toEqual(want.map((r) => ({ entry: r.entry, run: r.values.Run, event: r.values.Event, M: r.values.M })));
    const missing = await api<{ message: string }>(server, 'POST', '/api/v1/tasks', { dataset: 'cms:zmumu', events: [{ run: 1, event: 1 }] });
    expect(missing.status).toBe(404);
  });
});
