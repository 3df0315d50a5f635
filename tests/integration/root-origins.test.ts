/**
 * A ROOT file behind a real XRootD HTTP origin (started here) and in a node's data directory: the
 * same task gives the same range files from both; a second task over the remote one is served
 * from the node's cache; and a slimmed task reads measurably fewer bytes from the origin than the
 * whole tree does (the source's own figures).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFile, mkdir, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readArrowRangeFile, type ArrowRangeFile } from '@ess/client';
import { apiOk, createTask, spawnWorker, startTestServer, startXrootd, taskStatus, tempDir, type TempDir, type XrootdHandle } from '@ess/testkit';
import type { EssServer } from '@ess/server';
import type { SourceRow } from '@ess/protocol';
import { comparable, rootSample } from '../../packages/server/test/root-direct.js';

const FILE = 'uproot-HZZ.root';
const SLIM = ['NJet', 'Jet_Px', 'Jet_ID', 'NMuon', 'Muon_Px', 'MET_px', 'MET_py', 'EventWeight'];

let dir: TempDir;
let xrootd: XrootdHandle;
const servers: EssServer[] = [];

beforeAll(async () => {
  dir = await tempDir('ess-root-origin-');
  await mkdir(join(dir.path, 'origin', 'hzz'), { recursive: true });
  await copyFile(rootSample(FILE), join(dir.path, 'origin', 'hzz', FILE));
  xrootd = await startXrootd(join(dir.path, 'origin'));
});

afterAll(async () => {
  for (const s of servers) await s.close();
  await xrootd?.stop();
  await dir?.remove();
});

async function node(name: string, o: Parameters<typeof startTestServer>[0] extends infer T ? Partial<T> : never = {}): Promise<EssServer> {
  const s = await startTestServer({ dataDir: join(dir.path, name), ...o });
  servers.push(s);
  return s;
}

/** Registers the XRootD origin and the file on it (only its LFN and URL: the rest is read from the file). */
async function registerRemote(s: EssServer): Promise<string> {
  await apiOk(s, 'POST', '/api/v1/sources', { id: 'xrootd', kind: 'http', endpoint: xrootd.httpUrl, stallMs: 5_000 });
  await apiOk(s, 'POST', '/api/v1/datasets', { scope: 'cms', name: 'hzz', root: { tree: 'events' }, files: [{ lfn: FILE, replicas: [{ source: 'xrootd', url: `${xrootd.httpUrl}/hzz/${FILE}` }] }] });
  return 'cms:hzz';
}

async function run(s: EssServer, body: Record<string, unknown>, out: string): Promise<Map<string, ArrowRangeFile>> {
  const task = await createTask(s, body);
  const p = spawnWorker({ server: s.wsUrl, task: task.id, outDir: join(dir.path, out), id: out });
  expect((await p.exited).code, p.output()).toBe(0);
  expect((await taskStatus(s, task.id)).state).toBe('complete');
  const files = new Map<string, ArrowRangeFile>();
  // Keyed by file-range (the task id and attempt differ between tasks).
  for (const n of await readdir(join(dir.path, out))) files.set(n.split('-').slice(1, 3).join('-'), await readArrowRangeFile(await readFile(join(dir.path, out, n))));
  return files;
}

const originBytes = (s: EssServer): number => (s.sources.rows() as SourceRow[]).find((r) => r.id === 'xrootd')!.bytes;

/** A range file's content without what names the task: columns, values, entries, tree, source LFN and GUID. */
function content(f: ArrowRangeFile): unknown {
  const keep = ['ess.tree', 'ess.lfn', 'ess.guid', 'ess.startEvent', 'ess.lastEvent', 'ess.firstEntry', 'ess.entries', 'ess.eventsRead'];
  return {
    columns: f.columns,
    entries: f.entries,
    metadata: keep.map((k) => [k, f.metadata.get(k)]),
    values: f.columns.map((c) => f.values.get(c.name)!.map((v) => comparable(c.type, v))),
  };
}

describe('a ROOT file on a real XRootD origin', () => {
  it('gives the same range files as the data directory, and a second task over it comes from the cache', async () => {
    // The same file in a data directory (dataset cms:hzz from its folder) and on the origin.
    await mkdir(join(dir.path, 'local', 'datasets', 'cms', 'hzz'), { recursive: true });
    await copyFile(rootSample(FILE), join(dir.path, 'local', 'datasets', 'cms', 'hzz', FILE));
    const local = await node('local');
    const remote = await node('remote');
    const id = await registerRemote(remote);
    const body = { dataset: id, rangeSize: 500, slim: SLIM };
    const [fromDisk, fromOrigin] = await Promise.all([run(local, body, 'out-local'), run(remote, body, 'out-remote')]);
    expect(fromDisk.size).toBe(5);
    expect([...fromOrigin.keys()].sort()).toEqual([...fromDisk.keys()].sort());
    for (const [k, f] of fromDisk) expect(content(fromOrigin.get(k)!), k).toEqual(content(f));

    const cold = originBytes(remote);
    expect(cold).toBeGreaterThan(0);
    const hitsBefore = remote.totals.hitBytes;
    const again = await run(remote, body, 'out-remote-2');
    for (const [k, f] of fromDisk) expect(content(again.get(k)!), k).toEqual(content(f));
    expect(originBytes(remote), 'nothing more read from the origin').toBe(cold);
    expect(remote.totals.hitBytes - hitsBefore).toBeGreaterThan(0);
    expect(remote.totals.missBytes).toBeLessThanOrEqual(cold);
  });

  it('reads measurably fewer bytes from the origin for a slimmed task than for the whole tree', async () => {
    // No cache: every basket a task reads comes from the origin, so each task's bytes are its own.
    const s = await node('nocache', { cache: null });
    const id = await registerRemote(s);
    // Opening the tree (header, keys, streamer infos, the TTree with its basket tables) is paid once, before both.
    await apiOk(s, 'GET', `/api/v1/datasets/${id}/fields`);
    const opened = originBytes(s);
    const slim = await run(s, { dataset: id, rangeSize: 2421, slim: ['MET_px', 'MET_py'] }, 'out-slim');
    const slimBytes = originBytes(s) - opened;
    const full = await run(s, { dataset: id, rangeSize: 2421 }, 'out-full');
    const fullBytes = originBytes(s) - opened - slimBytes;
    expect([...slim.values()][0]!.columns.map((c) => c.name)).toEqual(['MET_px', 'MET_py']);
    expect([...full.values()][0]!.columns).toHaveLength(51);
    expect(fullBytes).toBeGreaterThan(150_000);
    expect(slimBytes).toBeGreaterThan(0);
    expect(slimBytes, `slim ${slimBytes} B vs full ${fullBytes} B`).toBeLessThan(fullBytes / 10);
  });
});
