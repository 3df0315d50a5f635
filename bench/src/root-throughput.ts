/**
 * ROOT → Arrow throughput (issue 7): events per second per core for each real ROOT file of
 * ../shared/data/root, through the whole pipeline in one process — the server side (jsroot reads
 * the TTree's baskets through our source and block cache, builds MessagePack records, cuts chunks)
 * and the worker side (decodes the records into Arrow builders, writes the range's IPC file) —
 * cold (a fresh cache: every byte from the origin, the local data directory or a real XRootD
 * HTTP origin) and warm (the same ranges again: the tree open, its baskets in the cache).
 * Only the WebSocket hop is left out (measured by the delivery benchmarks).
 *
 *   node --conditions=source --import tsx bench/src/root-throughput.ts [--quick] [--reps N] [--no-xrootd]
 *
 * `pnpm bench` calls runRootThroughput() (scenario `root`). Per core = events / CPU seconds of this
 * process (user + system), which runs everything on one thread.
 */
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ArrowRangeReceiver } from '@ess/client';
import { startXrootd, type XrootdHandle } from '@ess/testkit';
import { BlockCache } from '../../packages/server/src/cache/index.js';
import { Catalogue, describeLocalRootFile, makeDataset, type Dataset } from '../../packages/server/src/catalogue/index.js';
import { createLogger } from '../../packages/server/src/log.js';
import { CachedReader, Marshaller } from '../../packages/server/src/marshal/index.js';
import { FileSource, HttpSource, ReplicaReader, SourceSet, type Source } from '../../packages/server/src/sources/index.js';
import type { Table } from './lib/table.js';

const ROOT_DIR = fileURLToPath(new URL('../../../shared/data/root/', import.meta.url));

/** The sample files, the range size used for each (about 10 ranges a file) and a slim to compare with. */
const SAMPLES = [
  { file: 'uproot-Zmumu.root', rangeSize: 250, slim: ['Run', 'Event', 'E1', 'px1', 'py1', 'pz1', 'M'] },
  { file: 'uproot-HZZ.root', rangeSize: 250, slim: ['NMuon', 'Muon_Px', 'Muon_Py', 'Muon_Pz', 'MET_px', 'MET_py'] },
  { file: 'nanoAOD_2015_CMS_Open_Data_ttbar.root', rangeSize: 20, slim: ['run', 'event', 'nMuon', 'Muon_pt', 'Muon_eta', 'Muon_phi', 'MET_pt'] },
] as const;

export interface RootThroughputOptions {
  readonly quick?: boolean;
  /** Warm passes per file (the best is reported). Default 3 (2 quick). */
  readonly reps?: number;
  /** Where range files and the XRootD origin's copy go (a temporary folder by default). */
  readonly workDir?: string;
  /** Also measure cold reads through a real XRootD HTTP origin (default true; skipped if xrootd cannot start). */
  readonly xrootd?: boolean;
  readonly log?: (message: string) => void;
}

export interface Row {
  readonly file: string;
  /** `file`: the local data directory; `xrootd`: XRootD's HTTP port. */
  readonly origin: 'file' | 'xrootd';
  readonly pass: 'cold' | 'warm';
  /** `all` or the number of slimmed branches. */
  readonly branches: string;
  readonly events: number;
  readonly ranges: number;
  readonly wallMs: number;
  /** CPU of the server side (tree reads, records, chunks) and of the worker side (Arrow). */
  readonly serverCpuMs: number;
  readonly workerCpuMs: number;
  readonly eventsPerCoreSecond: number;
  /** Bytes read from the origin in this pass. */
  readonly originBytes: number;
  /** Arrow bytes written. */
  readonly arrowBytes: number;
}

export interface RootThroughputResult {
  readonly title: string;
  readonly intro: string;
  readonly tables: Table[];
  readonly notes: string[];
  readonly rows: Row[];
}

const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** One data path (origin → block cache → marshaller) over one ROOT file. */
async function dataPath(source: Source, file: string, url: string): Promise<{ marshaller: Marshaller; dataset: Dataset; close(): Promise<void> }> {
  const log = createLogger('silent');
  const sources = new SourceSet();
  sources.add(source);
  const replicas = new ReplicaReader(sources);
  const cache = await BlockCache.open({ blockSize: 1 << 20, memoryBytes: 256 << 20, diskBytes: 0, diskDir: null, log });
  const catalogue = new Catalogue(async (f, offset, length) => {
    const b = Buffer.allocUnsafe(length);
    await replicas.read(f, offset, length, b);
    return b;
  });
  const facts = await describeLocalRootFile(join(ROOT_DIR, file), file);
  const dataset = catalogue.add(makeDataset('bench', 'root', [{ lfn: file, guid: facts.guid, size: facts.size, events: facts.events, root: facts.ref }], () => [{ source: source.id, url }]));
  return { marshaller: new Marshaller(catalogue, new CachedReader(cache, replicas)), dataset, close: () => cache.close() };
}

/** Every range of the file, server side then worker side, timed. */
async function pass(marshaller: Marshaller, dataset: Dataset, slim: readonly string[] | null, rangeSize: number, outDir: string) {
  const file = dataset.files[0]!;
  let serverCpu = 0;
  let workerCpu = 0;
  let events = 0;
  let ranges = 0;
  let arrowBytes = 0;
  const wall0 = performance.now();
  let c0 = cpuMs();
  const selection = await marshaller.compile(dataset, slim ? { slim } : {});
  serverCpu += cpuMs() - c0;
  for (let start = 0; start < file.events; start += rangeSize) {
    const last = Math.min(start + rangeSize, file.events) - 1;
    const id = `1-0-${ranges}-1`;
    c0 = cpuMs();
    const stream = await marshaller.open({ eventRangeID: id, dataset: dataset.id, file: 0, startEvent: start, lastEvent: last, selection }, 1 << 20);
    const chunks = [];
    for (let i = 0; i < stream.chunks.length; i++) {
      const c = await stream.prepare(i);
      stream.sent(c);
      chunks.push(c);
    }
    const end = stream.end();
    const c1 = cpuMs();
    serverCpu += c1 - c0;
    const range = { eventRangeID: id, taskID: 1, scope: 'bench', LFN: file.lfn, GUID: file.guid, startEvent: start, lastEvent: last, attempt: 1, dataset: dataset.id, bytes: stream.totalBytes };
    const receiver = new ArrowRangeReceiver(range, 'token', outDir, stream.content!);
    for (const c of chunks) {
      await receiver.accept({ type: 'chunk', range: id, seq: c.spec.seq, offset: c.spec.offset, entries: [...c.spec.entries], sizes: [...c.spec.sizes], data: new Uint8Array(c.data.buffer as ArrayBuffer, c.data.byteOffset, c.data.byteLength) });
    }
    const written = await receiver.finish(end);
    workerCpu += cpuMs() - c1;
    arrowBytes += written.size;
    events += end.events;
    ranges++;
  }
  return { events, ranges, serverCpu, workerCpu, wallMs: performance.now() - wall0, arrowBytes };
}

export async function runRootThroughput(opts: RootThroughputOptions = {}): Promise<RootThroughputResult> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const reps = Math.max(1, opts.reps ?? (opts.quick ? 2 : 3));
  const work = await mkdtemp(join(opts.workDir ?? tmpdir(), 'ess-root-bench-'));
  const rows: Row[] = [];
  const notes: string[] = [];
  let xrootd: XrootdHandle | null = null;
  try {
    if (opts.xrootd !== false) {
      const originDir = join(work, 'origin');
      await mkdir(originDir, { recursive: true });
      for (const s of SAMPLES) await copyFile(join(ROOT_DIR, s.file), join(originDir, s.file));
      try {
        xrootd = await startXrootd(originDir);
      } catch (e) {
        notes.push(`XRootD could not be started (${(e as Error).message.split('\n')[0]}): no cold rows through it.`);
      }
    }
    // JIT warm-up on a throwaway data path, so that the first cold row measures the data path, not the compiler.
    for (const s of SAMPLES) {
      const source = new FileSource('local', ROOT_DIR);
      const path = await dataPath(source, s.file, join(ROOT_DIR, s.file));
      await pass(path.marshaller, path.dataset, null, s.rangeSize, join(work, 'warmup'));
      await pass(path.marshaller, path.dataset, s.slim, s.rangeSize, join(work, 'warmup'));
      await path.close();
      await source.close();
    }
    for (const s of SAMPLES) {
      for (const slim of [null, s.slim] as const) {
        const branches = slim ? String(slim.length) : 'all';
        const origins: { origin: Row['origin']; source: () => Source; url: string }[] = [{ origin: 'file', source: () => new FileSource('local', ROOT_DIR), url: join(ROOT_DIR, s.file) }];
        if (xrootd) {
          const base = xrootd.httpUrl;
          origins.push({ origin: 'xrootd', source: () => new HttpSource('xrootd', base), url: `${base}/${s.file}` });
        }
        for (const o of origins) {
          const source = o.source();
          const path = await dataPath(source, s.file, o.url);
          const out = join(work, `out-${o.origin}-${branches}`);
          try {
            const row = (p: 'cold' | 'warm', r: Awaited<ReturnType<typeof pass>>, originBytes: number): Row => ({
              file: s.file,
              origin: o.origin,
              pass: p,
              branches,
              events: r.events,
              ranges: r.ranges,
              wallMs: r.wallMs,
              serverCpuMs: r.serverCpu,
              workerCpuMs: r.workerCpu,
              eventsPerCoreSecond: r.events / ((r.serverCpu + r.workerCpu) / 1000),
              originBytes,
              arrowBytes: r.arrowBytes,
            });
            // Cold: a fresh cache and a tree opened for the first time (header, streamer infos, basket tables included).
            const cold = await pass(path.marshaller, path.dataset, slim, s.rangeSize, out);
            const coldBytes = source.stats.bytes;
            rows.push(row('cold', cold, coldBytes));
            // Warm: the best of `reps` passes over the same ranges, everything in the cache.
            if (o.origin === 'file') {
              let best: Awaited<ReturnType<typeof pass>> | null = null;
              for (let i = 0; i < reps; i++) {
                const w = await pass(path.marshaller, path.dataset, slim, s.rangeSize, out);
                if (!best || w.serverCpu + w.workerCpu < best.serverCpu + best.workerCpu) best = w;
              }
              rows.push(row('warm', best!, source.stats.bytes - coldBytes));
            }
            log(`root: ${s.file} ${o.origin} ${branches} branches done`);
          } finally {
            await path.close();
            await source.close();
            await rm(out, { recursive: true, force: true });
          }
        }
      }
    }
  } finally {
    await xrootd?.stop();
    await rm(work, { recursive: true, force: true });
  }
  const f = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  const table: Table = {
    title: 'ROOT → Arrow, events per second per core (server + worker side, one process)',
    head: ['file', 'branches', 'origin', 'pass', 'events', 'server CPU ms', 'worker CPU ms', 'events/s per core', 'origin KiB', 'Arrow KiB'],
    rows: rows.map((r) => [
      r.file,
      r.branches,
      r.origin,
      r.pass,
      f(r.events),
      f(r.serverCpuMs),
      f(r.workerCpuMs),
      f(r.eventsPerCoreSecond),
      f(r.originBytes / 1024),
      f(r.arrowBytes / 1024),
    ]),
    note: 'cold: fresh cache and data path, the tree opened for the first time (after a JIT warm-up on another data path); warm: best of the repeated passes with the tree open and its baskets cached.',
  };
  return {
    title: 'ROOT → Arrow throughput (issue 7)',
    intro:
      'Each real ROOT file of ../shared/data/root cut into ranges (all branches, then a slim), read by jsroot through the node\'s source and block cache, ' +
      'turned into MessagePack records and chunks (server side), then into an Arrow IPC range file (worker side), in one process. ' +
      'Per core = events / CPU seconds of both sides.',
    tables: [table],
    notes,
    rows,
  };
}

// Run as a script: print the table.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, reps: { type: 'string' }, 'no-xrootd': { type: 'boolean', default: false } } });
  const r = await runRootThroughput({ quick: values.quick, reps: values.reps ? Number(values.reps) : undefined, xrootd: !values['no-xrootd'] });
  const t = r.tables[0]!;
  const all = [t.head, ...t.rows];
  const w = t.head.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  process.stdout.write(`\n${t.title}\n${all.map((row) => row.map((c, i) => (i < 4 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ')).join('\n')}\n${t.note}\n`);
  for (const n of r.notes) process.stdout.write(`${n}\n`);
}
