// ReplicaReader: ranking by expected completion time, failover, down marking and half-open
// probes, with scripted in-memory sources (the same against real origins is in
// tests/integration/origins.test.ts).
import { describe, expect, it } from 'vitest';
import type { CatalogueFile } from '../src/catalogue/Catalogue.js';
import { createLogger } from '../src/log.js';
import type { DataReader } from '../src/marshal/Marshaller.js';
import { ReplicaReadError, ReplicaReader } from '../src/sources/ReplicaReader.js';
import { SourceError, SourceStats, type ReadOptions, type Source } from '../src/sources/Source.js';
import { SourceSet } from '../src/sources/SourceSet.js';

const DATA = Buffer.from(Array.from({ length: 64 * 1024 }, (_, i) => (i * 13) & 0xff));

type Mode = 'ok' | 'error' | 'not_found' | 'hang';

class ScriptedSource implements Source {
  readonly kind = 'file' as const;
  readonly endpoint = 'memory';
  readonly stats: SourceStats;
  mode: Mode = 'ok';
  delayMs = 0;
  reads = 0;
  /** Resolvers of hung reads (non-abortable ones finish when released). */
  readonly hung: (() => void)[] = [];

  constructor(
    readonly id: string,
    readonly abortable = false,
  ) {
    this.stats = new SourceStats(id, 'file', 'memory');
  }

  async read(_url: string, offset: number, length: number, into?: Buffer, o: ReadOptions = {}): Promise<Buffer> {
    this.reads++;
    const start = this.stats.begin();
    const dest = into ?? Buffer.alloc(length);
    const mode = this.mode;
    try {
      if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
      if (mode === 'hang') {
        await new Promise<void>((resolve, reject) => {
          this.hung.push(resolve);
          if (this.abortable) o.signal?.addEventListener('abort', () => reject(o.signal!.reason as Error));
        });
      } else if (mode !== 'ok') {
        throw new SourceError(mode === 'error' ? 'io' : 'not_found', `${this.id}: scripted ${mode}`);
      }
      DATA.copy(dest, 0, offset, offset + length);
      this.stats.success(start, start + this.delayMs, length);
      return dest;
    } catch (e) {
      const err = e as SourceError;
      this.stats.failure(err.code, err.message);
      throw e;
    }
  }

  async size(): Promise<number> {
    return DATA.length;
  }

  async close(): Promise<void> {}
}

function setup(...ids: (string | ScriptedSource)[]): { set: SourceSet; file: CatalogueFile; src: ScriptedSource[] } {
  const set = new SourceSet();
  const src = ids.map((s) => (typeof s === 'string' ? new ScriptedSource(s) : s));
  for (const s of src) set.add(s);
  const file: CatalogueFile = {
    dataset: 's:d',
    index: 0,
    scope: 's',
    lfn: 'd._000001.ess',
    guid: 'g',
    size: DATA.length,
    events: 1,
    replicas: src.map((s) => ({ source: s.id, url: `mem://${s.id}/d._000001.ess` })),
  };
  return { set, file, src };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('ReplicaReader', () => {
  it('tries unmeasured sources, then prefers the one expected to finish first', async () => {
    const { set, file, src } = setup('slow', 'fast');
    const [slow, fast] = src as [ScriptedSource, ScriptedSource];
    slow.delayMs = 25;
    const reader = new ReplicaReader(set, { log: createLogger('silent') });
    // a drop-in for the data path's reader
    const asDataReader: DataReader = reader;
    expect(asDataReader).toBe(reader);
    const served: string[] = [];
    for (let i = 0; i < 12; i++) {
      const into = Buffer.alloc(8192);
      const r = await reader.read(file, i * 1000, 8192, into);
      expect(into.equals(DATA.subarray(i * 1000, i * 1000 + 8192))).toBe(true);
      served.push(r.source);
    }
    // first read: nothing known, replica order; second: the unmeasured one; then the faster
    expect(served.slice(0, 2)).toEqual(['slow', 'fast']);
    expect(served.slice(2).every((s) => s === 'fast')).toBe(true);
    expect(slow.reads).toBe(1);
    expect(fast.stats.latencyMs).toBeLessThan(slow.stats.latencyMs!);
  });

  it('ranks by latency + transfer time, with a penalty for requests in flight, and re-measures stale figures', () => {
    const { set, file, src } = setup('a', 'b');
    const [a, b] = src as [ScriptedSource, ScriptedSource];
    const reader = new ReplicaReader(set, { refreshMs: 1000 });
    const now = Date.now();
    Object.assign(a.stats, { latencyMs: 50, throughput: 1e9, lastSampleAt: now }); // far, fat pipe
    Object.assign(b.stats, { latencyMs: 1, throughput: 10e6, lastSampleAt: now }); // near, thin pipe
    const order = (len: number): string[] => reader.rank(file, len, now).candidates.map((c) => c.source.id);
    expect(order(4096)).toEqual(['b', 'a']); // small read: latency dominates
    expect(order(8 << 20)).toEqual(['a', 'b']); // 8 MiB: 839 ms on b vs 58 ms on a
    b.stats.inFlight = 0;
    a.stats.inFlight = 100; // a is busy: 100 requests share its bandwidth
    expect(order(1 << 20)).toEqual(['b', 'a']);
    a.stats.inFlight = 0;
    // figures older than refreshMs count as unknown (optimistic): the slow one is tried again
    Object.assign(b.stats, { latencyMs: 500, lastSampleAt: now - 5000 });
    expect(reader.expectedMs(b.stats, 4096, now)).toBe(0);
    expect(order(4096)).toEqual(['b', 'a']);
  });

  it('fails over on an error: the caller gets the bytes, the failed source counts a failover', async () => {
    const { set, file, src } = setup('first', 'second');
    const [first, second] = src as [ScriptedSource, ScriptedSource];
    first.mode = 'error';
    const reader = new ReplicaReader(set);
    const into = Buffer.alloc(1000);
    const r = await reader.read(file, 500, 1000, into);
    expect(r).toMatchObject({ source: 'second', attempts: 2, missBytes: 1000 });
    expect(into.equals(DATA.subarray(500, 1500))).toBe(true);
    expect(first.stats.failovers).toBe(1);
    expect(second.stats.failovers).toBe(0);
    expect(first.stats.health()).toBe('degraded');
    // not_found elsewhere: fail over without harming the source's health
    first.mode = 'not_found';
    first.stats.consecutiveErrors = 0;
    for (let i = 0; i < 5; i++) await reader.read(file, 0, 10, Buffer.alloc(10));
    expect(first.stats.consecutiveErrors).toBe(0);
    expect(first.stats.downUntil).toBe(0);
  });

  it('marks a source down after downAfterErrors failures, skips it, then lets one probe through', async () => {
    const { set, file, src } = setup('flaky', 'steady');
    const [flaky, steady] = src as [ScriptedSource, ScriptedSource];
    steady.delayMs = 5; // flaky would be preferred if it worked
    flaky.mode = 'error';
    const reader = new ReplicaReader(set, { downAfterErrors: 3, downForMs: 150 });
    for (let i = 0; i < 3; i++) await reader.read(file, 0, 100, Buffer.alloc(100));
    expect(flaky.reads).toBe(3);
    expect(flaky.stats.health()).toBe('down');
    expect(flaky.stats.row().health).toBe('down');
    for (let i = 0; i < 5; i++) expect((await reader.read(file, 0, 100, Buffer.alloc(100))).source).toBe('steady');
    expect(flaky.reads).toBe(3); // skipped while down

    // down time over, still broken: one probe, which fails and renews the mark at once
    await sleep(160);
    expect(flaky.stats.state()).toBe('half-open');
    await reader.read(file, 0, 100, Buffer.alloc(100));
    expect(flaky.reads).toBe(4);
    expect(flaky.stats.state()).toBe('down');

    // fixed: the next probe succeeds and the source is back
    flaky.mode = 'ok';
    await sleep(160);
    // concurrent reads while the probe is in flight skip the half-open source
    flaky.delayMs = 40;
    const probe = reader.read(file, 0, 100, Buffer.alloc(100));
    await sleep(5);
    const during = await reader.read(file, 0, 100, Buffer.alloc(100));
    expect(during.source).toBe('steady');
    expect((await probe).source).toBe('flaky');
    expect(flaky.reads).toBe(5);
    expect(flaky.stats.state()).toBe('up');
    expect(flaky.stats.health()).toBe('up');
    expect(steady.stats.errors).toBe(0);
  });

  it('names every replica when all fail, and says which were down', async () => {
    const { set, file, src } = setup('a', 'b', 'c');
    for (const s of src) s.mode = 'error';
    src[2]!.mode = 'not_found';
    const reader = new ReplicaReader(set, { downAfterErrors: 1, downForMs: 60_000 });
    const err = await reader.read(file, 0, 10, Buffer.alloc(10)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReplicaReadError);
    const e = err as ReplicaReadError;
    expect(e.code).toBe('io');
    expect(e.attempts.map((x) => x.source)).toEqual(['a', 'b', 'c']);
    for (const s of ['a (mem://a/d._000001.ess): io', 'b (mem://b/d._000001.ess): io', 'c (mem://c/d._000001.ess): not_found']) expect(e.message).toContain(s);
    // a and b are now down, c is not (not_found): the next failure names a and b as down
    const again = (await reader.read(file, 0, 10, Buffer.alloc(10)).catch((x: unknown) => x)) as ReplicaReadError;
    expect(again.attempts.map((x) => `${x.source}:${x.code}`)).toEqual(['c:not_found', 'a:down', 'b:down']);
    expect(again.message).toMatch(/a \(mem:\/\/a\/d\._000001\.ess\): down: marked down for \d+ ms more/);
    // all down
    src[2]!.mode = 'error';
    await reader.read(file, 0, 10, Buffer.alloc(10)).catch(() => undefined);
    const down = (await reader.read(file, 0, 10, Buffer.alloc(10)).catch((x: unknown) => x)) as ReplicaReadError;
    expect(down.code).toBe('down');
    expect(down.attempts).toHaveLength(3);
    // unknown source and no replica at all
    const none = await reader.read({ ...file, replicas: [] }, 0, 1, Buffer.alloc(1)).catch((x: unknown) => x);
    expect((none as Error).message).toMatch(/no replica/);
    const unknown = (await reader.read({ ...file, replicas: [{ source: 'zz', url: 'x' }] }, 0, 1, Buffer.alloc(1)).catch((x: unknown) => x)) as ReplicaReadError;
    expect(unknown.message).toMatch(/zz \(x\): not_found: unknown source/);
  });

  it('the stallMs backstop fails over from a hung source without letting its late answer touch the buffer', async () => {
    const hungPlain = new ScriptedSource('hung', false);
    const hungAbortable = new ScriptedSource('hung-abortable', true);
    for (const hung of [hungPlain, hungAbortable]) {
      const { set, file, src } = setup(hung, 'ok');
      hung.mode = 'hang';
      const reader = new ReplicaReader(set, { stallMs: 100 });
      const into = Buffer.alloc(2000, 0);
      const t0 = performance.now();
      const r = await reader.read(file, 100, 2000, into);
      const took = performance.now() - t0;
      expect(r.source).toBe('ok');
      expect(took).toBeGreaterThanOrEqual(95);
      expect(took).toBeLessThan(600);
      expect(into.equals(DATA.subarray(100, 2100))).toBe(true);
      expect(hung.stats.failovers).toBe(1);
      expect(hung.stats.errors).toBe(1);
      expect(hung.stats.lastError).toMatch(/stalled/);
      // the hung read finishes late (the plain one writes into its own scratch buffer)
      into.fill(0x77);
      for (const release of hung.hung) release();
      await sleep(10);
      expect(into.every((b) => b === 0x77)).toBe(true);
      expect(src[1]!.stats.inFlight).toBe(0);
    }
    expect(hungAbortable.stats.inFlight).toBe(0);
  });
});
