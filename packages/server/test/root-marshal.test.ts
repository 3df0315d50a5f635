// The marshaller on ROOT files and on skimmed/slimmed ESS files, over the real data path (a file
// source behind the block cache): built payloads equal direct reads, a slim reads fewer source
// bytes, prefetch warms exactly the baskets a range reads, a resume continues with the same bytes;
// and the SQLite ledger keeps a task's skim/slim and a range's counts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateDataset, openEventFile, type DatasetManifest } from '@ess/format';
import { unpackStandard } from '@ess/protocol';
import { BlockCache } from '../src/cache/index.js';
import { Catalogue, describeLocalRootFile, makeDataset, type CatalogueFile, type Dataset } from '../src/catalogue/index.js';
import { SqliteLedger } from '../src/dispatch/SqliteLedger.js';
import { createLogger } from '../src/log.js';
import { CachedReader, Marshaller, compileSelection, type RangeStream } from '../src/marshal/index.js';
import { FileSource, ReplicaReader, SourceSet } from '../src/sources/index.js';
import { comparable, readDirect, rootSample } from './root-direct.js';

const log = createLogger('silent');
let dir: string;
let ess: DatasetManifest & { dir: string };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ess-root-marshal-'));
  const params = { seed: 4, scope: 'gen', name: 'ev', files: 1, eventsPerFile: 120, sizeMean: 3000, sizeDist: 'fixed' as const };
  ess = { ...(await generateDataset(params, join(dir, 'ev'))), dir: join(dir, 'ev') };
});
const opened: { close(): Promise<void> }[] = [];
afterAll(async () => {
  for (const x of opened) await x.close();
  await rm(dir, { recursive: true, force: true });
});

/** A fresh data path: a file source behind a block cache of small blocks, a catalogue, a marshaller. */
async function dataPath(blockSize = 4096) {
  const source = new FileSource('local', dir);
  const sources = new SourceSet();
  sources.add(source);
  const replicas = new ReplicaReader(sources);
  const cache = await BlockCache.open({ blockSize, memoryBytes: 64 << 20, diskBytes: 0, diskDir: null, log });
  opened.push(sources, cache);
  const reader = new CachedReader(cache, replicas);
  const catalogue = new Catalogue(async (file, offset, length) => {
    const buf = Buffer.allocUnsafe(length);
    await replicas.read(file, offset, length, buf);
    return buf;
  });
  const marshaller = new Marshaller(catalogue, reader);
  catalogue.useRootEventIds((f) => marshaller.roots.eventIds(f));
  return { source, cache, reader, catalogue, marshaller };
}

async function rootDataset(catalogue: Catalogue, file: string, name: string): Promise<Dataset> {
  const facts = await describeLocalRootFile(rootSample(file), file);
  return catalogue.add(makeDataset('cms', name, [{ lfn: file, guid: facts.guid, size: facts.size, events: facts.events, root: facts.ref }], () => [{ source: 'local', url: rootSample(file) }]));
}

/** Every chunk of a stream, and the records its payload holds. */
async function drain(stream: RangeStream): Promise<{ payload: Buffer; entries: number[]; records: Record<string, unknown>[]; missBytes: number; hitBytes: number }> {
  const parts: Buffer[] = [];
  const entries: number[] = [];
  const sizes: number[] = [];
  let missBytes = 0;
  let hitBytes = 0;
  for (let i = 0; i < stream.chunks.length; i++) {
    const c = await stream.prepare(i);
    stream.sent(c);
    parts.push(Buffer.from(c.data));
    entries.push(...c.spec.entries);
    sizes.push(...c.spec.sizes);
    missBytes += c.receipt.missBytes;
    hitBytes += c.receipt.hitBytes;
  }
  const payload = Buffer.concat(parts);
  const records: Record<string, unknown>[] = [];
  let at = 0;
  for (const s of sizes) {
    records.push(unpackStandard(payload.subarray(at, at + s)) as Record<string, unknown>);
    at += s;
  }
  return { payload, entries, records, missBytes, hitBytes };
}

describe('Marshaller on ROOT files', () => {
  it('builds a range of chosen branches as one map per entry, equal to jsroot reading the file', async () => {
    const { catalogue, marshaller } = await dataPath();
    const d = await rootDataset(catalogue, 'uproot-HZZ.root', 'hzz');
    const sel = (await marshaller.compile(d, { slim: ['NJet', 'Jet_Px', 'Jet_ID', 'MET_px', 'EventWeight'] }))!;
    const stream = await marshaller.open({ eventRangeID: '1-0-3-1', dataset: d.id, file: 0, startEvent: 300, lastEvent: 449, selection: sel }, 8192);
    expect(stream.content).toEqual({
      records: 'root',
      file: 'arrow',
      tree: 'events',
      columns: [
        { name: 'NJet', type: 'int32' },
        { name: 'Jet_Px', type: 'list<float32>' },
        { name: 'Jet_ID', type: 'list<bool>' },
        { name: 'MET_px', type: 'float32' },
        { name: 'EventWeight', type: 'float32' },
      ],
      slim: ['NJet', 'Jet_Px', 'Jet_ID', 'MET_px', 'EventWeight'],
    });
    expect(stream.chunks.length).toBeGreaterThan(1);
    const got = await drain(stream);
    expect(stream.end()).toMatchObject({ events: 150, eventsRead: 150, bytes: got.payload.length });
    const want = await readDirect(rootSample('uproot-HZZ.root'), 'events', sel.columns.map((c) => c.name), 300, 449);
    expect(got.entries).toEqual(want.map((w) => w.entry));
    for (let i = 0; i < want.length; i++) {
      expect(Object.keys(got.records[i]!)).toEqual(sel.columns.map((c) => c.name));
      for (const c of sel.columns) expect(comparable(c.column!, got.records[i]![c.name]), `${c.name} @ ${want[i]!.entry}`).toEqual(comparable(c.column!, want[i]!.values[c.name]));
    }
  });

  it('skims: only passing entries, counted read and passed; a resume continues with the same bytes', async () => {
    const { catalogue, marshaller } = await dataPath();
    const d = await rootDataset(catalogue, 'uproot-Zmumu.root', 'zmumu');
    const sel = (await marshaller.compile(d, { skim: 'Q1 != Q2 && M > 80.0 && Type == "GG"', slim: ['Run', 'Event', 'M', 'Type'] }))!;
    const req = { eventRangeID: '1-0-0-1', dataset: d.id, file: 0, startEvent: 0, lastEvent: 2303, selection: sel };
    const first = await drain(await marshaller.open(req, 4096));
    const rows = await readDirect(rootSample('uproot-Zmumu.root'), 'events', ['Q1', 'Q2', 'M', 'Type']);
    const want = rows.filter((r) => r.values.Q1 !== r.values.Q2 && (r.values.M as number) > 80 && r.values.Type === 'GG').map((r) => r.entry);
    expect(first.entries).toEqual(want);
    expect(want.length).toBeGreaterThan(10);
    const stream = await marshaller.open(req, 4096);
    expect(stream.content?.skim).toBe(sel.skim);
    const c0 = await stream.prepare(0);
    stream.sent(c0);
    const c1 = await stream.prepare(1);
    stream.sent(c1);
    const resumed = await marshaller.open(req, 4096, { bytes: c0.spec.length + c1.spec.length, chunks: 2, crc32: 0 });
    const rest = await drain(resumed);
    expect(Buffer.concat([c0.data, c1.data, rest.payload])).toEqual(first.payload);
    expect(resumed.end()).toMatchObject({ events: want.length, eventsRead: 2304 });
  });

  it('reads measurably fewer source bytes for a slimmed range than for the whole tree', async () => {
    const slim = await dataPath(4096);
    const full = await dataPath(4096);
    const d1 = await rootDataset(slim.catalogue, 'uproot-HZZ.root', 'hzz');
    const d2 = await rootDataset(full.catalogue, 'uproot-HZZ.root', 'hzz');
    const s1 = (await slim.marshaller.compile(d1, { slim: ['MET_px', 'MET_py'] }))!;
    const s2 = (await full.marshaller.compile(d2, {}))!;
    await drain(await slim.marshaller.open({ eventRangeID: '1-0-0-1', dataset: d1.id, file: 0, startEvent: 0, lastEvent: 2420, selection: s1 }, 1 << 20));
    await drain(await full.marshaller.open({ eventRangeID: '1-0-0-1', dataset: d2.id, file: 0, startEvent: 0, lastEvent: 2420, selection: s2 }, 1 << 20));
    const a = slim.source.stats.bytes;
    const b = full.source.stats.bytes;
    expect(b).toBeGreaterThan(200_000);
    expect(a).toBeLessThan(b / 3);
  });

  it('locates a range as the baskets of the branches it reads, and a prefetch of them leaves nothing to fetch', async () => {
    const { catalogue, marshaller, reader } = await dataPath(4096);
    const d = await rootDataset(catalogue, 'uproot-HZZ.root', 'hzz');
    const sel = (await marshaller.compile(d, { slim: ['Muon_Px', 'Muon_Py'], skim: 'NMuon >= 1' }))!;
    const req = { dataset: d.id, file: 0, startEvent: 2000, lastEvent: 2420, selection: sel };
    const span = await marshaller.locate(req);
    expect(span.parts!.length).toBeGreaterThanOrEqual(2);
    const total = span.parts!.reduce((n, p) => n + p.length, 0);
    expect(total).toBeLessThan(span.length);
    await Promise.all(span.parts!.map((p) => reader.prefetch(span.file, p.offset, p.length).done));
    const got = await drain(await marshaller.open({ ...req, eventRangeID: '1-0-0-1' }, 1 << 20));
    expect(got.missBytes).toBe(0);
    expect(got.hitBytes).toBeGreaterThanOrEqual(total);
  });

  it('picks events of a ROOT file by (run, event) through the named branches, every entry of a repeated event', async () => {
    const { catalogue } = await dataPath();
    const d = await rootDataset(catalogue, 'uproot-Zmumu.root', 'zmumu');
    expect(d.files[0]!.root).toEqual({ tree: 'events', run: 'Run', event: 'Event' });
    const rows = await readDirect(rootSample('uproot-Zmumu.root'), 'events', ['Run', 'Event']);
    const ids = [rows[10]!, rows[1000]!, rows[2303]!].map((r) => ({ run: r.values.Run as number, event: r.values.Event as number }));
    const { found, missing } = await catalogue.locateEvents(d.id, [...ids, { run: 1, event: 2 }]);
    expect(missing).toEqual([{ run: 1, event: 2 }]);
    const want = rows.filter((r) => ids.some((id) => id.run === r.values.Run && id.event === r.values.Event)).map((r) => r.entry);
    expect(found.map((f) => f.entry).sort((a, b) => a - b)).toEqual(want);
    expect(want.length).toBeGreaterThan(3); // entries 10 and 11 are the same event
  });
});

describe('Marshaller on ESS files with skim and slim', () => {
  it('sends only passing events with only the slimmed fields, as the original bytes of those fields', async () => {
    const { catalogue, marshaller } = await dataPath();
    const d = catalogue.add(makeDataset('gen', 'ev', ess.files, (lfn) => [{ source: 'local', url: join(ess.dir, lfn) }]));
    const file = d.files[0] as CatalogueFile;
    const sel = (await marshaller.compile(d, { skim: 'size(jets) >= 6 && met.pt > 15.0', slim: ['run', 'event', 'entry', 'jets', 'met'] }))!;
    expect(await marshaller.compile(d, {})).toBeNull();
    const stream = await marshaller.open({ eventRangeID: '1-0-0-1', dataset: d.id, file: 0, startEvent: 10, lastEvent: 109, selection: sel }, 4096);
    expect(stream.content).toEqual({ records: 'ess', file: 'ess', skim: sel.skim, slim: ['run', 'event', 'entry', 'jets', 'met'] });
    const got = await drain(stream);
    const src = await openEventFile(join(ess.dir, file.lfn));
    try {
      const want: number[] = [];
      for (let e = 10; e <= 109; e++) {
        const rec = unpackStandard(await src.readEvent(e)) as { jets: unknown[]; met: { pt: number } } & Record<string, unknown>;
        if (rec.jets.length >= 6 && rec.met.pt > 15) want.push(e);
      }
      expect(got.entries).toEqual(want);
      expect(want.length).toBeGreaterThan(3);
      for (let i = 0; i < want.length; i++) {
        const full = unpackStandard(await src.readEvent(want[i]!)) as Record<string, unknown>;
        expect(got.records[i]).toEqual({ run: full.run, event: full.event, entry: full.entry, met: full.met, jets: full.jets });
      }
      expect(stream.end()).toMatchObject({ events: want.length, eventsRead: 100 });
    } finally {
      await src.close();
    }
    // Slim alone keeps every event.
    const slimOnly = (await marshaller.compile(d, { slim: ['run', 'event'] }))!;
    const all = await drain(await marshaller.open({ eventRangeID: '1-0-0-1', dataset: d.id, file: 0, startEvent: 0, lastEvent: 119, selection: slimOnly }, 4096));
    expect(all.entries).toHaveLength(120);
    expect(Object.keys(all.records[5]!)).toEqual(['run', 'event']);
  });

  it('refuses at compile time what does not fit the records', async () => {
    const { catalogue, marshaller } = await dataPath();
    const d = catalogue.add(makeDataset('gen', 'ev', ess.files, (lfn) => [{ source: 'local', url: join(ess.dir, lfn) }]));
    await expect(marshaller.compile(d, { skim: 'nMuon >= 2' })).rejects.toThrow(/Unknown variable: nMuon/);
    expect(compileSelection).toBeTypeOf('function');
  });
});

describe('SQLite ledger: skim, slim and counts', () => {
  it('keeps them across a reopen', async () => {
    const path = join(dir, 'ledger.db');
    let l = SqliteLedger.open(path);
    const t = await l.createTask({ dataset: 's:n', rangeSize: 10, attempts: 1, priority: 0, label: '', skim: 'run > 1', slim: ['run', 'met'] }, [{ file: 0, index: 0, scope: 's', LFN: 'f', GUID: 'g', startEvent: 0, lastEvent: 9 }], 0);
    const [lease] = await l.claim({ worker: 'w', task: t.id, max: 1, leaseMs: 1000, now: 0 });
    await l.finish(lease!.range.key, lease!.token, 1, { eventsRead: 10, eventsPassed: 3 });
    await l.close();
    l = SqliteLedger.open(path);
    try {
      expect((await l.getTask(t.id))!.spec).toMatchObject({ skim: 'run > 1', slim: ['run', 'met'] });
      expect(await l.getRange(lease!.range.key)).toMatchObject({ state: 'finished', eventsRead: 10, eventsPassed: 3 });
    } finally {
      await l.close();
    }
  });
});
