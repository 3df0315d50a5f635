/**
 * Property: for random worker counts, credit windows, chunk sizes, event sizes, range sizes and
 * prefetch depths, with workers that read, release and report at random paces, repeat reports,
 * drop their connections and come back (resuming what they held, or having forgotten it), (1) no
 * worker ever holds more unreleased bytes than it granted, and (2) every range is finished exactly
 * once, with the bytes the source holds (resumed data continues exactly where it stopped).
 *
 * The whole server side is real (StreamChannel, WorkerSession, Dispatcher, MemoryLedger,
 * Marshaller, Catalogue, FileSource); only the socket is an in-memory queue.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { crc32 } from 'node:zlib';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { datasetDir, generateDataset, openEventFile } from '@ess/format';
import {
  DEFAULT_LIMIT_POLICY,
  PROTOCOL_VERSION,
  ReceiveWindow,
  decodeServerMessage,
  encode,
  type ClientMessage,
} from '@ess/protocol';
import { Authenticator } from '../src/auth/index.js';
import { Catalogue, readDataDir } from '../src/catalogue/index.js';
import { Dispatcher } from '../src/dispatch/Dispatcher.js';
import { MemoryLedger } from '../src/dispatch/MemoryLedger.js';
import type { LedgerOutcome } from '../src/dispatch/Ledger.js';
import { createLogger } from '../src/log.js';
import { Marshaller } from '../src/marshal/index.js';
import { FileSource, ReplicaReader, SourceSet } from '../src/sources/index.js';
import { StreamChannel } from '../src/stream/StreamChannel.js';
import { DeliveryTotals } from '../src/stream/WorkerSession.js';
import type { WsSocket } from '../src/transport/index.js';

const log = createLogger('silent');

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let socketIds = 1;

type ChannelSocket = Parameters<StreamChannel['message']>[0];

/** The in-memory socket: what the server sends waits in `inbox` until the simulated worker reads it. */
class MemSocket implements WsSocket<unknown> {
  readonly id = socketIds++;
  readonly remoteAddress = 'memory';
  closed = false;
  state: unknown;
  readonly inbox: Uint8Array[] = [];
  private buffered = 0;
  closeCode: number | null = null;

  send(frame: Uint8Array): void {
    if (this.closed) return;
    this.inbox.push(frame);
    this.buffered += frame.length;
  }
  take(): Uint8Array | undefined {
    const f = this.inbox.shift();
    if (f) this.buffered -= f.length;
    return f;
  }
  bufferedAmount(): number {
    return this.buffered;
  }
  end(code: number): void {
    this.closed = true;
    this.closeCode = code;
  }
  terminate(): void {
    this.closed = true;
  }
}

interface Params {
  workers: number;
  windows: number[];
  maxChunk: number;
  files: number;
  eventsPerFile: number;
  sizeMean: number;
  sizeDist: 'fixed' | 'exp' | 'lognormal';
  rangeSize: number;
  prefetch: number;
  seed: number;
  chaos: boolean;
  /** How long vanished workers' ranges wait for them (0: released at once). */
  graceMs: number;
}

const params: fc.Arbitrary<Params> = fc
  .record({
    workers: fc.integer({ min: 1, max: 5 }),
    windowFactors: fc.array(fc.integer({ min: 2, max: 10 }), { minLength: 5, maxLength: 5 }),
    maxChunk: fc.constantFrom(4096, 8192, 16384, 65536),
    files: fc.integer({ min: 1, max: 3 }),
    eventsPerFile: fc.integer({ min: 1, max: 40 }),
    sizeMean: fc.integer({ min: 200, max: 24_000 }),
    sizeDist: fc.constantFrom('fixed' as const, 'exp' as const, 'lognormal' as const),
    rangeSize: fc.integer({ min: 1, max: 12 }),
    prefetch: fc.integer({ min: 1, max: 4 }),
    seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
    chaos: fc.boolean(),
    graceMs: fc.constantFrom(0, 200),
  })
  .map(({ windowFactors, ...p }) => ({ ...p, windows: windowFactors.map((f) => f * p.maxChunk) }));

interface Violations {
  list: string[];
}

/** A worker that reads, holds and releases data at a random pace, and reports every range. */
class SimWorker {
  socket = new MemSocket();
  credit: ReceiveWindow | null = null;
  private held: { bytes: number; at: number }[] = [];
  /** Ranges held: what arrived of each, kept across reconnects for `resume`. */
  private readonly ranges = new Map<string, { token: string; crc: number; bytes: number; seq: number; complete: boolean }>();
  done = false;
  gone = false;

  constructor(
    readonly id: string,
    readonly window: number,
    private readonly channel: StreamChannel,
    private readonly p: Params,
    private readonly random: () => number,
    private readonly v: Violations,
    private readonly crcs: Map<string, number>,
  ) {}

  /** Connects; with `resume`, says what it still holds of its ranges, otherwise forgets them (a restarted worker). */
  connect(resume = false): void {
    this.socket = new MemSocket();
    this.credit = null;
    this.held = [];
    if (!resume) this.ranges.clear();
    this.gone = false;
    this.socket.state = this.channel.open(this.socket as unknown as Parameters<StreamChannel['open']>[0]);
    const entries = [...this.ranges].map(([range, r]) => ({ range, token: r.token, bytes: r.bytes, chunks: r.seq, crc32: r.crc >>> 0, complete: r.complete }));
    this.say({ type: 'hello', protocol: PROTOCOL_VERSION, role: 'worker', worker: { id: this.id }, want: { maxChunk: this.p.maxChunk, window: this.window, prefetch: this.p.prefetch }, resume: entries });
    this.say({ type: 'subscribe', task: 1 });
  }

  private say(m: ClientMessage): void {
    if (!this.socket.closed) this.channel.message(this.socket as unknown as ChannelSocket, encode(m));
  }

  /** Drops the connection as a vanished worker would. */
  vanish(): void {
    this.gone = true;
    this.socket.closed = true;
    this.channel.close(this.socket as unknown as ChannelSocket, 1006);
  }

  step(tick: number): void {
    if (this.gone || this.done) return;
    // Release data "written" a while ago, which may grant credit.
    const due = this.held.filter((h) => h.at <= tick);
    this.held = this.held.filter((h) => h.at > tick);
    for (const h of due) {
      const limit = this.credit?.release(h.bytes) ?? null;
      if (limit !== null) this.say({ type: 'credit', limit });
    }
    // Read a random number of frames.
    const reads = Math.floor(this.random() * 4);
    for (let i = 0; i < reads; i++) {
      const frame = this.socket.take();
      if (!frame) break;
      this.onFrame(frame, tick);
    }
    if (reads > 0) this.channel.writable(this.socket as unknown as ChannelSocket);
  }

  private onFrame(frame: Uint8Array, tick: number): void {
    const r = decodeServerMessage(frame);
    if (!r.ok) return void this.v.list.push(`${this.id}: undecodable frame: ${r.error.message}`);
    const m = r.value;
    switch (m.type) {
      case 'welcome':
        this.credit = new ReceiveWindow(m.limits!.window);
        return;
      case 'assign':
        this.ranges.set(m.range.eventRangeID, { token: m.token, crc: 0, bytes: 0, seq: 0, complete: false });
        return;
      case 'resumed':
        for (const r of m.refused) this.ranges.delete(r.range);
        for (const id of m.ranges) {
          const r = this.ranges.get(id)!;
          // A range whose end arrived before the link dropped: its report may have been lost.
          if (r.complete) this.say({ type: 'report', range: id, token: r.token, status: 'finished' });
        }
        return;
      case 'chunk': {
        const got = this.credit!.receive(m.data.length);
        if (!got.ok) this.v.list.push(`${this.id}: ${got.error.message}`);
        if (this.credit!.unreleased > this.window) this.v.list.push(`${this.id}: holds ${this.credit!.unreleased} unreleased bytes with a window of ${this.window}`);
        const range = this.ranges.get(m.range);
        if (range) {
          if (m.seq !== range.seq || m.offset !== range.bytes) this.v.list.push(`${m.range}: chunk ${m.seq} out of order`);
          range.seq++;
          range.bytes += m.data.length;
          range.crc = crc32(m.data, range.crc);
        }
        this.held.push({ bytes: m.data.length, at: tick + Math.floor(this.random() * 6) });
        return;
      }
      case 'end': {
        const range = this.ranges.get(m.range)!;
        range.complete = true;
        if (m.crc32 !== range.crc >>> 0 || m.bytes !== range.bytes || m.chunks !== range.seq) this.v.list.push(`${m.range}: end marker disagrees with what arrived`);
        this.crcs.set(m.range.split('-').slice(0, 3).join('-'), range.crc >>> 0);
        this.say({ type: 'report', range: m.range, token: range.token, status: 'finished' });
        if (this.p.chaos && this.random() < 0.2) this.say({ type: 'report', range: m.range, token: range.token, status: 'finished' });
        return;
      }
      case 'ack':
        this.ranges.delete(m.range);
        return;
      case 'done':
        this.done = true;
        return;
      case 'error':
        if (m.fatal) this.v.list.push(`${this.id}: fatal error ${m.code}: ${m.message}`);
        return;
      default:
        return;
    }
  }
}

/** The reference ledger, counting the finishes it records. */
class CountingLedger extends MemoryLedger {
  readonly finishes = new Map<string, number>();
  override async finish(key: string, token: string): Promise<LedgerOutcome> {
    const outcome = await super.finish(key, token);
    if (outcome.kind === 'ok') this.finishes.set(key, (this.finishes.get(key) ?? 0) + 1);
    return outcome;
  }
}

async function runScenario(p: Params): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'ess-prop-'));
  try {
    const gen = { seed: p.seed, scope: 'prop', name: 'ds', files: p.files, eventsPerFile: p.eventsPerFile, sizeMean: p.sizeMean, sizeDist: p.sizeDist, sizeSigma: 0.8 };
    await generateDataset(gen, datasetDir(dir, 'prop', 'ds'));
    const sources = new SourceSet();
    sources.add(new FileSource('local', dir));
    const replicas = new ReplicaReader(sources);
    const catalogue = new Catalogue(async (file, offset, length) => {
      const buf = Buffer.allocUnsafe(length);
      await replicas.read(file, offset, length, buf);
      return buf;
    });
    for (const d of (await readDataDir(dir, 'local', log)).local) catalogue.add(d);
    const ledger = new CountingLedger();
    const totals = new DeliveryTotals();
    const limits = { ...DEFAULT_LIMIT_POLICY, maxChunk: p.maxChunk, defaultPrefetch: p.prefetch };
    const dispatcher = new Dispatcher(ledger, catalogue, new Marshaller(catalogue, replicas), totals, { leaseMs: 60_000, graceMs: p.graceMs, retryDelayMs: 0, reapIntervalMs: 60_000, log });
    const auth = await Authenticator.create({ mode: 'open' });
    const channel = new StreamChannel({ dispatcher, limits, server: { id: 'sim', version: '0' }, highWater: 2 * p.maxChunk, helloTimeoutMs: 60_000, totals, auth, log });
    await dispatcher.createTask({ dataset: 'prop:ds', rangeSize: p.rangeSize, attempts: 1000 });
    const ranges = await ledger.ranges(1);

    const random = mulberry32(p.seed);
    const v: Violations = { list: [] };
    const crcs = new Map<string, number>();
    const workers = Array.from({ length: p.workers }, (_, i) => new SimWorker(`w${i}`, p.windows[i]!, channel, p, random, v, crcs));
    for (const w of workers) w.connect();

    for (let tick = 0; tick < 20_000 && v.list.length === 0; tick++) {
      if (workers.every((w) => w.done)) break;
      for (const w of workers) {
        w.step(tick);
        if (p.chaos && !w.done && !w.gone && random() < 0.015) w.vanish();
        else if (w.gone && random() < 0.05) w.connect(random() < 0.7);
      }
      await new Promise((r) => setImmediate(r));
    }
    await dispatcher.stop();

    expect(v.list.slice(0, 5)).toEqual([]);
    expect(workers.every((w) => w.done), 'every worker was told the task is done').toBe(true);
    const end = await ledger.ranges(1);
    expect(end.every((r) => r.state === 'finished')).toBe(true);
    // Exactly once: the ledger recorded one "finished" per range, and no more.
    for (const r of ranges) expect(ledger.finishes.get(r.key), r.key).toBe(1);
    expect(ledger.finishes.size).toBe(ranges.length);
    // The bytes finished are the source's bytes.
    for (const r of ranges) {
      const file = await openEventFile(join(datasetDir(dir, 'prop', 'ds'), r.LFN));
      try {
        expect(crcs.get(r.key), r.key).toBe(crc32(await file.readSpan(r.startEvent, r.lastEvent)) >>> 0);
      } finally {
        await file.close();
      }
    }
    await sources.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('credit and dispatch under random workloads', () => {
  it('never overruns a worker\'s credit and finishes every range exactly once', async () => {
    await fc.assert(fc.asyncProperty(params, runScenario), { numRuns: 40, endOnFailure: true });
  }, 120_000);
});
