// The generator: determinism (same seed, same bytes; any event regenerated alone), size
// distributions, unique (run, event) pairs, the PRNG against reference values, dataset layout.
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { decode as msgpackDecode } from '@msgpack/msgpack';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  MANIFEST_NAME,
  datasetDir,
  decodeEvent,
  eventHeader,
  eventIds,
  fileGuid,
  fileLfn,
  generateDataset,
  generateEvent,
  normalizeGenParams,
  openEventFile,
  parseDatasetName,
  readDatasetManifest,
  type GenParams,
} from '../src/index.js';
import { Xoshiro128, exp, ln, murmur3Words } from '../src/prng.js';
import { makeTempDir, normalize, testRng } from './helpers.js';

const base: GenParams = { seed: 42, scope: 'user.test', name: 'gen.small', files: 3, eventsPerFile: 40, sizeMean: 4096, sizeDist: 'lognormal', sizeSigma: 0.5 };

let tmp: { dir: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  tmp = await makeTempDir();
});
afterEach(async () => {
  await tmp.cleanup();
});

async function hashes(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of (await readdir(dir)).sort()) out[f] = createHash('sha256').update(await readFile(join(dir, f))).digest('hex');
  return out;
}

describe('PRNG and portable math', () => {
  it('xoshiro128** matches the reference output for state (1, 2, 3, 4)', () => {
    const x = new Xoshiro128(1, 2, 3, 4);
    expect(Array.from({ length: 6 }, () => x.nextUint32())).toEqual([11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
    const a = new Xoshiro128(1, 2, 3, 4);
    const words = new Uint32Array(6);
    a.fill(words);
    expect([...words]).toEqual([11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
  });

  it('MurmurHash3_x86_32 matches reference values', () => {
    expect(murmur3Words([], 0)).toBe(0);
    expect(murmur3Words([], 1)).toBe(0x514e28b7);
    expect(murmur3Words([0x74736574], 0)).toBe(0xba6bd213); // "test"
  });

  it('ln and exp agree with Math.log / Math.exp to ~1e-15', () => {
    const rnd = testRng(3);
    for (let i = 0; i < 5000; i++) {
      const x = rnd() * 10 ** (Math.floor(rnd() * 20) - 10);
      if (x > 0) expect(Math.abs(ln(x) - Math.log(x))).toBeLessThanOrEqual(2e-15 * Math.max(1, Math.abs(Math.log(x))));
      const y = (rnd() - 0.5) * 100;
      expect(Math.abs(exp(y) - Math.exp(y)) / Math.exp(y)).toBeLessThan(2e-15);
    }
    expect(ln(1)).toBe(0);
    expect(exp(0)).toBe(1);
  });
});

describe('generateEvent', () => {
  it('is pinned: these bytes are part of the format (changing them breaks virtual data)', () => {
    const p: GenParams = { seed: 12345, scope: 'user.golden', name: 'golden', files: 3, eventsPerFile: 50, sizeMean: 8192, sizeDist: 'lognormal', sizeSigma: 0.7 };
    const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
    expect(sha(generateEvent(p, 0, 0))).toBe('855bc8b8475a60fbfbf05103529b5e469bf7145387ad95c6a01d81125f17c615');
    expect(sha(generateEvent(p, 2, 49))).toBe('bea5e417e6c23ffb5f847e6a36e829c6b47242e4acff20ccd2934776825d5751');
    expect(sha(generateEvent(p, 1, 17))).toBe('202f9c495bfd8869d8694ed0d0be60a75888127f38ee233654fbee6cc0f972ca');
    expect(eventHeader(p, 2, 49)).toEqual({ run: 396036, event: 181187, lumi: 1, timestamp: 1617158453 });
  });

  it('writes standard MessagePack with the documented fields, decoded alike by two libraries', () => {
    const p = { ...base, sizeDist: 'fixed' as const, sizeMean: 20_000 };
    for (let e = 0; e < 20; e++) {
      const bytes = generateEvent(p, 1, e);
      const ev = decodeEvent(bytes);
      expect(normalize(msgpackDecode(bytes))).toEqual(normalize(ev));
      expect(Object.keys(ev)).toEqual(['run', 'event', 'lumi', 'entry', 'timestamp', 'met', 'jets', 'tracks', 'muons', 'electrons', 'payload']);
      expect(ev.entry).toBe(e);
      expect({ run: ev.run, event: ev.event }).toEqual(eventIds(p, 1, e));
      expect(Object.keys(ev.met)).toEqual(['pt', 'phi', 'sumEt']);
      for (const j of ev.jets) {
        expect(Object.keys(j)).toEqual(['pt', 'eta', 'phi', 'm', 'btag']);
        expect(j.pt).toBeGreaterThanOrEqual(20);
        expect(Math.abs(j.eta)).toBeLessThanOrEqual(2.5);
        expect(Math.abs(j.phi)).toBeLessThanOrEqual(Math.PI + 1e-6);
      }
      for (let i = 1; i < ev.jets.length; i++) expect(ev.jets[i]!.pt).toBeLessThanOrEqual(ev.jets[i - 1]!.pt);
      for (const t of ev.tracks) {
        expect(Object.keys(t)).toEqual(['pt', 'eta', 'phi', 'q', 'd0', 'z0']);
        expect([-1, 1]).toContain(t.q);
      }
      for (const l of [...ev.muons, ...ev.electrons]) expect(Object.keys(l)).toEqual(['pt', 'eta', 'phi', 'q', 'iso']);
      expect(ev.payload).toBeInstanceOf(Uint8Array);
      expect(bytes.length).toBe(20_000);
    }
  });

  it('regenerates any single event identically, in any order', () => {
    const rnd = testRng(11);
    for (let k = 0; k < 30; k++) {
      const f = Math.floor(rnd() * base.files);
      const e = Math.floor(rnd() * base.eventsPerFile);
      expect(generateEvent(base, f, e).equals(generateEvent({ ...base }, f, e))).toBe(true);
    }
    expect(generateEvent(base, 0, 1).equals(generateEvent(base, 0, 2))).toBe(false);
    expect(generateEvent(base, 0, 1).equals(generateEvent({ ...base, seed: 43 }, 0, 1))).toBe(false);
  });

  it('"fixed" hits the size exactly (including bin 8/16/32 boundaries); small targets give the bare record', () => {
    const p0 = { ...base, sizeDist: 'fixed' as const };
    const bare = generateEvent({ ...p0, sizeMean: 1 }, 0, 0).length;
    // Every size from the bare record upwards, around each bin-header boundary.
    const sizes = [bare, bare + 1, bare + 2, bare + 3, bare + 255, bare + 256, bare + 257, bare + 258, bare + 259, bare + 65535, bare + 65536, bare + 65537, bare + 65538, bare + 65539, bare + 65540, 1 << 20];
    for (const s of sizes) {
      const bytes = generateEvent({ ...p0, sizeMean: s }, 0, 0);
      expect(bytes.length).toBe(s);
      expect(decodeEvent(bytes).payload.length).toBeGreaterThanOrEqual(0);
      expect(normalize(msgpackDecode(bytes))).toEqual(normalize(decodeEvent(bytes)));
    }
    expect(generateEvent({ ...p0, sizeMean: 100 }, 0, 0).length).toBe(bare);
    for (let e = 0; e < 40; e++) expect(generateEvent({ ...p0, sizeMean: 10_000 }, 2, e).length).toBe(10_000);
  });

  it('"exp" and "lognormal" sizes have the requested mean (within tolerance) and vary', () => {
    const n = 3000;
    for (const [dist, sigma, tol] of [['exp', undefined, 0.06], ['lognormal', 0.5, 0.04], ['lognormal', 1.0, 0.08]] as const) {
      const p = { ...base, files: 1, eventsPerFile: n, sizeMean: 32 * 1024, sizeDist: dist, sizeSigma: sigma };
      let sum = 0;
      let min = Infinity;
      let max = 0;
      for (let e = 0; e < n; e++) {
        const len = generateEvent(p, 0, e).length;
        sum += len;
        min = Math.min(min, len);
        max = Math.max(max, len);
      }
      expect(Math.abs(sum / n / p.sizeMean - 1)).toBeLessThan(tol);
      expect(max).toBeGreaterThan(2 * p.sizeMean);
      expect(min).toBeLessThan(p.sizeMean / 2);
      expect(max).toBeLessThanOrEqual(20 * p.sizeMean);
    }
  });

  it('(run, event) pairs are unique across a dataset, use a few runs and non-contiguous event numbers', () => {
    const p = { ...base, files: 7, eventsPerFile: 3000 };
    const seen = new Set<string>();
    const runs = new Set<number>();
    let gaps = 0;
    for (let f = 0; f < p.files; f++) {
      let prev: { run: number; event: number } | undefined;
      for (let e = 0; e < p.eventsPerFile; e++) {
        const id = eventIds(p, f, e);
        const key = `${id.run}:${id.event}`;
        expect(seen.has(key)).toBe(false);
        seen.add(key);
        runs.add(id.run);
        if (prev !== undefined && prev.run === id.run && id.event !== prev.event + 1) gaps++;
        prev = id;
      }
    }
    expect(runs.size).toBe(3);
    expect(gaps).toBeGreaterThan(p.files * p.eventsPerFile * 0.5);
  });

  it('validates parameters and (fileIndex, entry) with clear errors', () => {
    expect(() => generateEvent(base, 3, 0)).toThrow(/fileIndex 3/);
    expect(() => generateEvent(base, 0, 40)).toThrow(/entry 40/);
    expect(() => normalizeGenParams({ ...base, seed: -1 })).toThrow(/seed/);
    expect(() => normalizeGenParams({ ...base, files: 0 })).toThrow(/files/);
    expect(() => normalizeGenParams({ ...base, sizeMean: 1.5 })).toThrow(/sizeMean/);
    expect(() => normalizeGenParams({ ...base, sizeDist: 'flat' as 'fixed' })).toThrow(/sizeDist/);
    expect(() => normalizeGenParams({ ...base, sizeSigma: 0 })).toThrow(/sizeSigma/);
    expect(() => normalizeGenParams({ ...base, scope: 'a/b' })).toThrow(/scope/);
    expect(normalizeGenParams({ ...base, sizeSigma: undefined }).sizeSigma).toBe(0.5);
  });

  it('names files like ATLAS (1-based) and derives distinct UUID-shaped GUIDs', () => {
    expect(fileLfn(base, 0)).toBe('gen.small._000001.ess');
    expect(fileLfn(base, 41)).toBe('gen.small._000042.ess');
    const guids = new Set(Array.from({ length: 1000 }, (_, f) => fileGuid(base, f)));
    expect(guids.size).toBe(1000);
    for (const g of guids) expect(g).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(fileGuid(base, 0)).toBe(fileGuid({ ...base }, 0));
    expect(fileGuid(base, 0)).not.toBe(fileGuid({ ...base, name: 'other' }, 0));
    expect(fileGuid(base, 0)).not.toBe(fileGuid({ ...base, seed: 1 }, 0));
  });
});

describe('generateDataset', () => {
  it('same seed: byte-identical files; another seed: different files', async () => {
    const a = join(tmp.dir, 'a');
    const b = join(tmp.dir, 'b');
    const c = join(tmp.dir, 'c');
    await generateDataset(base, a);
    await generateDataset({ ...base }, b);
    await generateDataset({ ...base, seed: 43 }, c);
    const ha = await hashes(a);
    expect(Object.keys(ha)).toEqual([MANIFEST_NAME, 'gen.small._000001.ess', 'gen.small._000002.ess', 'gen.small._000003.ess']);
    expect(await hashes(b)).toEqual(ha);
    const hc = await hashes(c);
    for (const f of Object.keys(ha)) expect(hc[f]).not.toBe(ha[f]);
  });

  it('files match generateEvent byte for byte, carry the index, ids and meta; the manifest lists them', async () => {
    const dir = datasetDir(tmp.dir, base.scope, base.name);
    expect(dir).toBe(join(tmp.dir, 'datasets', 'user.test', 'gen.small'));
    const progress: [number, number, number][] = [];
    const manifest = await generateDataset(base, dir, (done, est, files) => progress.push([done, est, files]));
    expect(await readDatasetManifest(dir)).toEqual(manifest);
    expect(manifest).toMatchObject({ format: 'ess-dataset', version: 1, scope: 'user.test', name: 'gen.small', dataset: 'user.test:gen.small', totalEvents: 120 });
    expect(manifest.generator?.params).toEqual(normalizeGenParams(base));
    const rnd = testRng(5);
    let dataBytes = 0;
    for (let f = 0; f < base.files; f++) {
      const entry = manifest.files[f]!;
      expect(entry).toMatchObject({ lfn: fileLfn(base, f), guid: fileGuid(base, f), events: 40, firstEntry: 0 });
      const file = await openEventFile(join(dir, entry.lfn));
      try {
        expect(file.source.size).toBe(entry.size);
        dataBytes += file.index.dataSize;
        expect(file.index).toMatchObject({ lfn: entry.lfn, guid: entry.guid, dataset: 'user.test:gen.small', scope: 'user.test', count: 40, contiguous: true });
        expect(file.index.meta).toEqual({ generator: 'ess-gen', generatorVersion: 1, params: normalizeGenParams(base), fileIndex: f });
        for (let k = 0; k < 8; k++) {
          const e = Math.floor(rnd() * 40);
          expect((await file.readEvent(e)).equals(generateEvent(base, f, e))).toBe(true);
          expect(file.index.idsAt(e)).toEqual(eventIds(base, f, e));
          const { run, event } = eventIds(base, f, e);
          expect(file.index.findEvent(run, event)).toBe(e);
        }
        const all = await file.readSpan(0, 39);
        expect(all.equals(Buffer.concat(Array.from({ length: 40 }, (_, e) => generateEvent(base, f, e))))).toBe(true);
      } finally {
        await file.close();
      }
    }
    expect(progress[0]).toEqual([0, 120 * 4096, 0]);
    expect(progress.at(-1)).toEqual([dataBytes, dataBytes, 3]);
  });

  it('parseDatasetName validates scope:name', () => {
    expect(parseDatasetName('user.jdoe:data18_13TeV.00348885.physics_Main')).toEqual({ scope: 'user.jdoe', name: 'data18_13TeV.00348885.physics_Main' });
    for (const bad of ['nocolon', ':name', 'scope:', 'a/b:c', 'a:b/c', 'a:..', 'a:.hidden', 'a:b c']) expect(() => parseDatasetName(bad)).toThrow(RangeError);
  });
});

