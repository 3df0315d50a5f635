// The http source and replica selection against real origins: Debian's nginx and XRootD (HTTP
// port) serving a generated dataset, with a reverse proxy to add latency, stalls, errors and
// to drop the Range header.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { makeDataset, startNginx, startProxy, startXrootd, tempDir, type NginxHandle, type ProxyHandle, type TempDir, type XrootdHandle } from '@ess/testkit';
import { HttpSource } from '../../packages/server/src/sources/HttpSource.js';
import { ReplicaReadError, ReplicaReader } from '../../packages/server/src/sources/ReplicaReader.js';
import { SourceError } from '../../packages/server/src/sources/Source.js';
import { SourceSet } from '../../packages/server/src/sources/SourceSet.js';
import type { CatalogueFile } from '../../packages/server/src/catalogue/Catalogue.js';

const run = promisify(execFile);

interface Origin {
  name: 'nginx' | 'xrootd';
  base: () => string;
}

let dir: TempDir;
let nginx: NginxHandle | undefined;
let xrootd: XrootdHandle | undefined;
const proxies: ProxyHandle[] = [];
/** Paths (under the origins' root) and bytes of the dataset's files. */
let files: { path: string; bytes: Buffer; lfn: string }[] = [];

const origins: Origin[] = [
  { name: 'nginx', base: () => nginx!.url },
  { name: 'xrootd', base: () => xrootd!.httpUrl },
];

async function proxy(target: string, o: Parameters<typeof startProxy>[1] = {}): Promise<ProxyHandle> {
  const p = await startProxy(target, o);
  proxies.push(p);
  return p;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (!(e instanceof SourceError)) throw e;
    return e.code;
  }
}

function rnd(seed: number): (n: number) => number {
  let s = seed;
  return (n) => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return Math.floor((s / 2 ** 32) * n);
  };
}

beforeAll(async () => {
  dir = await tempDir('ess-origins-');
  const ds = await makeDataset(dir.path, { scope: 'orig', name: 'events', files: 3, eventsPerFile: 150, sizeMean: 16 * 1024, sizeDist: 'lognormal', seed: 5 });
  files = await Promise.all(ds.files.map(async (f) => ({ lfn: f.lfn, path: `/datasets/orig/events/${f.lfn}`, bytes: await readFile(join(ds.dir, f.lfn)) })));
  [nginx, xrootd] = await Promise.all([startNginx(dir.path), startXrootd(dir.path)]);
});

afterAll(async () => {
  await Promise.allSettled([nginx?.stop(), xrootd?.stop(), ...proxies.map((p) => p.stop())]);
  await dir?.remove();
});

describe.each(origins)('HttpSource against $name', (origin) => {
  it('reads random ranges equal to the file bytes, sizes the files, and says not_found for a missing one', async () => {
    const src = new HttpSource(origin.name, origin.base());
    try {
      const pick = rnd(origin.name.length);
      for (let k = 0; k < 40; k++) {
        const f = files[pick(files.length)]!;
        const off = pick(f.bytes.length);
        const len = 1 + pick(Math.min(f.bytes.length - off, 256 * 1024));
        const into = Buffer.alloc(len);
        await src.read(`${origin.base()}${f.path}`, off, len, into);
        expect(into.equals(f.bytes.subarray(off, off + len)), `${f.path} ${off}+${len}`).toBe(true);
      }
      // the whole file and its last byte
      const f = files[0]!;
      expect((await src.read(`${origin.base()}${f.path}`, 0, f.bytes.length)).equals(f.bytes)).toBe(true);
      expect((await src.read(`${origin.base()}${f.path}`, f.bytes.length - 1, 1))[0]).toBe(f.bytes.at(-1));
      for (const g of files) expect(await src.size(`${origin.base()}${g.path}`)).toBe(g.bytes.length);
      expect(await codeOf(src.read(`${origin.base()}/datasets/orig/events/missing.ess`, 0, 10))).toBe('not_found');
      // a range past the end is refused however the origin answers it (nginx: 416, XRootD: a 206 with no body)
      expect(await codeOf(src.read(`${origin.base()}${f.path}`, f.bytes.length - 10, 20))).toBe('bad_response');
      expect(await codeOf(src.read(`${origin.base()}${f.path}`, f.bytes.length + 10, 20))).toBe('bad_response');
      expect(src.stats.row()).toMatchObject({ errors: 3, inFlight: 0 });
      expect(src.stats.latencyMs).toBeGreaterThan(0);
      expect(src.stats.throughput).toBeGreaterThan(0);
    } finally {
      await src.close();
    }
  });

  it('refuses the 200 an origin sends when the Range header is dropped on the way', async () => {
    const p = await proxy(origin.base(), { stripRange: true });
    const src = new HttpSource(origin.name, p.url);
    try {
      const f = files[1]!;
      const err = await src.read(`${p.url}${f.path}`, 100, 1000).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SourceError);
      expect((err as SourceError).code).toBe('bad_response');
      expect((err as SourceError).message).toMatch(/HTTP 200 to a range request/);
      expect(p.requestLog.at(-1)).toMatchObject({ path: f.path, range: 'bytes=100-1099', rangeHeaderName: 'Range' });
    } finally {
      await src.close();
    }
  });

  it('aborts a response that stalls mid-body after about stallMs', async () => {
    const p = await proxy(origin.base(), { stall: () => true, stallAfterBytes: 8192 });
    const src = new HttpSource(origin.name, p.url, { stallMs: 400 });
    try {
      const f = files[2]!;
      const t0 = performance.now();
      const err = await src.read(`${p.url}${f.path}`, 0, 200_000).catch((e: unknown) => e);
      const took = performance.now() - t0;
      expect((err as SourceError).code).toBe('stalled');
      expect((err as SourceError).message).toMatch(/8192 of 200000 received/);
      expect(took).toBeGreaterThanOrEqual(390);
      expect(took).toBeLessThan(1500);
      expect(p.stalls).toBe(1);
    } finally {
      await src.close();
    }
  });

  it('reuses keep-alive connections and keeps at most `connections` requests in flight', async () => {
    // Counted at a proxy in front of the origin (requests and TCP connections from the source) ...
    const p = await proxy(origin.base(), { delayMs: 5 });
    const src = new HttpSource(origin.name, p.url, { connections: 3 });
    try {
      const f = files[0]!;
      const reads = Array.from({ length: 60 }, (_, i) => src.read(`${p.url}${f.path}`, i * 1000, 4000));
      const bufs = await Promise.all(reads);
      bufs.forEach((b, i) => expect(b.equals(f.bytes.subarray(i * 1000, i * 1000 + 4000))).toBe(true));
      for (let i = 0; i < 20; i++) await src.read(`${p.url}${f.path}`, i, 100);
      expect(p.requests).toBe(80);
      expect(p.maxInFlight).toBe(3);
      expect(p.connections).toBeLessThanOrEqual(3);
    } finally {
      await src.close();
    }
    // ... and for nginx also in its own access log ($connection).
    if (origin.name === 'nginx') {
      const direct = new HttpSource('nginx', nginx!.url, { connections: 2 });
      try {
        const before = (await nginx!.requests()).length;
        const f = files[1]!;
        await Promise.all(Array.from({ length: 40 }, (_, i) => direct.read(`${nginx!.url}${f.path}`, i * 500, 500)));
        const mine = (await nginx!.requests()).slice(before);
        expect(mine).toHaveLength(40);
        expect(mine.every((r) => r.status === 206 && r.bytes === 500 && r.range?.startsWith('bytes='))).toBe(true);
        expect(new Set(mine.map((r) => r.connection)).size).toBeLessThanOrEqual(2);
        expect(Math.max(...mine.map((r) => r.connectionRequests))).toBeGreaterThanOrEqual(20);
      } finally {
        await direct.close();
      }
    }
  });
});

describe('XRootD specifics', () => {
  const get = (url: string, headers: Record<string, string>): Promise<{ status: number; length: number }> =>
    new Promise((resolve, reject) => {
      const req = request(url, { headers, agent: false }, (res) => {
        let length = 0;
        res.on('data', (c: Buffer) => (length += c.length));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, length }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });

  it('answers `Range: bytes=0-99` with 206 and 100 bytes, but a lower-case `range` with 200 and the whole file', async () => {
    const f = files[0]!;
    expect(await get(`${xrootd!.httpUrl}${f.path}`, { Range: 'bytes=0-99' })).toEqual({ status: 206, length: 100 });
    expect(await get(`${xrootd!.httpUrl}${f.path}`, { range: 'bytes=0-99' })).toEqual({ status: 200, length: f.bytes.length });
  });

  it('serves the same files over root:// (xrdcp)', async () => {
    const f = files[2]!;
    const out = join(dir.path, 'copy.ess');
    await run('xrdcp', ['-f', '-s', `${xrootd!.rootUrl}${f.path}`, out], { timeout: 15_000 });
    expect((await readFile(out)).equals(f.bytes)).toBe(true);
  });
});

describe('ReplicaReader across real origins', () => {
  let near: ProxyHandle;
  let far: ProxyHandle;
  beforeAll(async () => {
    near = await proxy(xrootd!.httpUrl);
    far = await proxy(nginx!.url);
  });
  beforeEach(() => {
    for (const p of [near, far]) {
      for (const k of Object.keys(p.options) as (keyof typeof p.options)[]) delete p.options[k];
    }
    far.options.delayMs = 40;
  });

  function setup(o: { stallMs?: number; downForMs?: number } = {}): { reader: ReplicaReader; set: SourceSet; file: (i: number) => CatalogueFile; nearSrc: HttpSource; farSrc: HttpSource } {
    const set = new SourceSet();
    const nearSrc = new HttpSource('xrootd-near', near.url, { stallMs: o.stallMs ?? 5000 });
    const farSrc = new HttpSource('nginx-far', far.url, { stallMs: o.stallMs ?? 5000 });
    set.add(nearSrc);
    set.add(farSrc);
    const reader = new ReplicaReader(set, { downAfterErrors: 3, downForMs: o.downForMs ?? 10_000 });
    const file = (i: number): CatalogueFile => {
      const f = files[i]!;
      return {
        dataset: 'orig:events',
        index: i,
        scope: 'orig',
        lfn: f.lfn,
        guid: 'g',
        size: f.bytes.length,
        events: 150,
        // the far replica first: replica order alone would pick it
        replicas: [
          { source: 'nginx-far', url: `${far.url}${f.path}` },
          { source: 'xrootd-near', url: `${near.url}${f.path}` },
        ],
      };
    };
    return { reader, set, file, nearSrc, farSrc };
  }

  async function readOk(reader: ReplicaReader, file: CatalogueFile, offset: number, length: number): Promise<string> {
    const into = Buffer.alloc(length);
    const r = await reader.read(file, offset, length, into);
    const want = files[file.index]!.bytes.subarray(offset, offset + length);
    expect(into.equals(want)).toBe(true);
    return r.source;
  }

  it('prefers the faster origin once it has figures for both', async () => {
    const { reader, set, file } = setup();
    try {
      const served: string[] = [];
      for (let i = 0; i < 20; i++) served.push(await readOk(reader, file(i % 3), i * 7000, 60_000));
      expect(served.slice(0, 2).sort()).toEqual(['nginx-far', 'xrootd-near']);
      expect(served.slice(2).every((s) => s === 'xrootd-near')).toBe(true);
      expect(set.require('nginx-far').stats.latencyMs).toBeGreaterThan(35);
    } finally {
      await set.close();
    }
  });

  it('fails over when the preferred origin errors or stalls; the caller gets correct bytes', async () => {
    const { reader, set, file, nearSrc } = setup({ stallMs: 300 });
    try {
      for (let i = 0; i < 3; i++) await readOk(reader, file(0), i * 1000, 50_000);
      expect(await readOk(reader, file(0), 0, 50_000)).toBe('xrootd-near');
      near.options.failWith = () => 503;
      expect(await readOk(reader, file(1), 1234, 50_000)).toBe('nginx-far');
      expect(nearSrc.stats.failovers).toBe(1);
      expect(nearSrc.stats.lastError).toMatch(/HTTP 503/);
      delete near.options.failWith;
      expect(await readOk(reader, file(1), 1234, 50_000)).toBe('xrootd-near');
      near.options.stall = () => true;
      const t0 = performance.now();
      expect(await readOk(reader, file(2), 999, 100_000)).toBe('nginx-far');
      expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
      expect(nearSrc.stats.failovers).toBe(2);
      expect(nearSrc.stats.lastError).toMatch(/^stalled/);
    } finally {
      await set.close();
    }
  });

  it('marks an origin down after repeated failures, probes it again later, and names every replica when all fail', async () => {
    const { reader, set, file, nearSrc, farSrc } = setup({ downForMs: 400 });
    try {
      await readOk(reader, file(0), 0, 10_000);
      await readOk(reader, file(0), 0, 10_000);
      near.options.failWith = () => 503;
      for (let i = 0; i < 3; i++) expect(await readOk(reader, file(0), i, 10_000)).toBe('nginx-far');
      expect(nearSrc.stats.health()).toBe('down');
      const asked = near.requests;
      for (let i = 0; i < 4; i++) expect(await readOk(reader, file(1), i, 10_000)).toBe('nginx-far');
      expect(near.requests).toBe(asked); // not even asked while down
      delete near.options.failWith;
      await new Promise((r) => setTimeout(r, 420));
      expect(await readOk(reader, file(1), 0, 10_000)).toBe('xrootd-near'); // the probe
      expect(nearSrc.stats.health()).toBe('up');

      near.options.failWith = () => 503;
      far.options.failWith = () => 500;
      const err = await reader.read(file(2), 0, 100, Buffer.alloc(100)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ReplicaReadError);
      const msg = (err as Error).message;
      expect(msg).toContain(`xrootd-near (${near.url}${files[2]!.path}): io`);
      expect(msg).toContain(`nginx-far (${far.url}${files[2]!.path}): io`);
      expect(farSrc.stats.errors).toBeGreaterThan(0);
    } finally {
      await set.close();
    }
  });
});
