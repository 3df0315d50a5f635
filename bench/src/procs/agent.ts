/**
 * A benchmark client process, driven by the benchmark over IPC. One agent plays one or more
 * clients of one kind at a time:
 *
 * - ESS workers speaking the protocol over `ws` (hello, subscribe to any task, grant credit as
 *   data arrives, report each range finished when its `end` arrives), counting bytes and
 *   writing nothing to disk; or idle sessions (hello and heartbeats only); or a simulated
 *   payload that spends a fixed time per event on each range once its data is complete; or
 *   slow consumers that stop reading their socket after some bytes.
 * - A receiver of the bare uWebSockets.js ceiling server.
 * - An HTTP client fetching byte spans with range GETs (undici, keep-alive, k requests in flight),
 *   or fetching them one at a time for a simulated payload (with optional read-ahead).
 *
 * Frames are decoded with the project's MessagePack codec but not validated with zod, in every
 * mode alike, so the receiving cost is the same for ESS and for the ceiling.
 */
import { createRequire } from 'node:module';
import { PROTOCOL_VERSION, ReceiveWindow, STREAM_PATH, encode, unpackStandard, type ClientMessage } from '@ess/protocol';
import type { AgentCommand, AgentMessage, EssConnectOptions, EssStats, PayloadResult, SpanJob, TransferResult } from './messages.js';

// ---- npm packages the bench package does not depend on itself: loaded from the paths the driver resolved ----

interface WsSocketLike {
  readyState: number;
  send(data: Uint8Array | string): void;
  close(code?: number): void;
  terminate(): void;
  on(event: 'open', cb: () => void): void;
  on(event: 'message', cb: (data: Buffer, isBinary: boolean) => void): void;
  on(event: 'close', cb: (code: number, reason: Buffer) => void): void;
  on(event: 'error', cb: (e: Error) => void): void;
  on(event: 'unexpected-response', cb: (req: unknown, res: { statusCode?: number }) => void): void;
  _socket?: { pause(): void; resume(): void };
}
type WsCtor = new (url: string, o: { perMessageDeflate: boolean; maxPayload: number }) => WsSocketLike;

interface UndiciBody extends AsyncIterable<Buffer> {
  dump(): Promise<void>;
}
interface UndiciPool {
  request(o: { path: string; method: 'GET'; headers: Record<string, string> }): Promise<{ statusCode: number; body: UndiciBody }>;
  close(): Promise<void>;
}
type PoolCtor = new (origin: string, o: { connections: number; pipelining: number; keepAliveTimeout: number }) => UndiciPool;

const load = createRequire(import.meta.url);
const WebSocket = load(required('ESS_BENCH_WS')) as WsCtor;
let PoolClass: PoolCtor | null = null;
function Pool(): PoolCtor {
  PoolClass ??= (load(required('ESS_BENCH_UNDICI')) as { Pool: PoolCtor }).Pool;
  return PoolClass;
}

function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`agent: ${name} is not set`);
  return v;
}

const AGENT = Number(process.env.ESS_BENCH_AGENT ?? '0');

function post(m: AgentMessage): void {
  process.send?.(m);
}

const now = (): number => performance.now();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---- ranges finished, batched to the driver once per turn of the event loop ----

const pending = { ranges: 0, bytes: 0, events: 0, scheduled: false };
function rangeFinished(bytes: number, events: number): void {
  pending.ranges++;
  pending.bytes += bytes;
  pending.events += events;
  if (pending.scheduled) return;
  pending.scheduled = true;
  setImmediate(() => {
    pending.scheduled = false;
    post({ ev: 'ranges', ranges: pending.ranges, bytes: pending.bytes, events: pending.events });
    pending.ranges = pending.bytes = pending.events = 0;
  });
}

// ---- ESS protocol peers ----

interface Decoded {
  type: string;
  [k: string]: unknown;
}

interface HeldRange {
  token: string;
  bytes: number;
  events: number;
}

const payloadClock = { t0: now() };

class EssConn {
  private ws!: WsSocketLike;
  private credit: ReceiveWindow | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private readonly held = new Map<string, HeldRange>();
  welcomed = false;
  paused = false;
  closed = false;
  bytes = 0;
  events = 0;
  ranges = 0;
  readonly errors: string[] = [];
  // payload mode
  private readonly ready: { range: string; token: string; events: number; bytes: number }[] = [];
  private busy = false;
  private waitingSince: number | null = now();
  busyMs = 0;
  waitMs = 0;
  lastDoneMs = 0;
  /** When the payload could start its first range, since the clock was reset (-1: not yet). */
  firstMs = -1;

  constructor(
    private readonly o: EssConnectOptions,
    private readonly id: string,
  ) {}

  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.o.url.replace(/\/$/, '') + STREAM_PATH, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
      this.ws = ws;
      let settled = false;
      const settle = (e?: Error) => {
        if (settled) return;
        settled = true;
        if (e) reject(e);
        else resolve();
      };
      ws.on('open', () => {
        const hello = { type: 'hello', protocol: PROTOCOL_VERSION, role: 'worker', worker: { id: this.id }, agent: 'ess-bench', ...(this.o.want && { want: this.o.want }) };
        this.send(hello as ClientMessage);
      });
      ws.on('message', (data) => {
        try {
          const m = unpackStandard(data) as Decoded;
          if (m.type === 'welcome') settle();
          this.onMessage(m);
        } catch (e) {
          this.errors.push(`decode: ${(e as Error).message}`);
        }
      });
      ws.on('unexpected-response', (_req, res) => settle(new Error(`HTTP ${res.statusCode} on upgrade`)));
      ws.on('error', (e) => {
        this.errors.push(`socket: ${e.message}`);
        settle(e);
      });
      ws.on('close', (code, reason) => {
        this.closed = true;
        if (this.heartbeat) clearInterval(this.heartbeat);
        if (code !== 1000 && code !== 1005) this.errors.push(`closed ${code} ${reason.toString()}`);
        settle(new Error(`closed ${code} before welcome`));
      });
    });
  }

  private send(m: ClientMessage): void {
    if (this.ws.readyState === 1) this.ws.send(encode(m));
  }

  private onMessage(m: Decoded): void {
    switch (m.type) {
      case 'welcome': {
        const limits = m.limits as { window: number; heartbeatMs: number };
        this.welcomed = true;
        this.credit = new ReceiveWindow(limits.window);
        this.heartbeat = setInterval(() => this.send({ type: 'heartbeat', t: Date.now() }), limits.heartbeatMs);
        if (this.o.mode !== 'idle') this.send({ type: 'subscribe', task: null });
        return;
      }
      case 'assign': {
        const range = m.range as { eventRangeID: string };
        this.held.set(range.eventRangeID, { token: m.token as string, bytes: 0, events: 0 });
        return;
      }
      case 'chunk': {
        const data = m.data as Uint8Array;
        const n = data.length;
        const credit = this.credit!;
        const r = credit.receive(n);
        if (!r.ok) this.errors.push(r.error.message);
        this.bytes += n;
        const h = this.held.get(m.range as string);
        const ev = (m.entries as unknown[]).length;
        this.events += ev;
        if (h) {
          h.bytes += n;
          h.events += ev;
        }
        const limit = credit.release(n);
        if (limit !== null) this.send({ type: 'credit', limit });
        if (this.o.pauseAfterBytes !== undefined && !this.paused && this.bytes >= this.o.pauseAfterBytes) {
          this.paused = true;
          this.ws._socket?.pause();
        }
        return;
      }
      case 'end': {
        const range = m.range as string;
        const h = this.held.get(range);
        if (!h) return;
        if (this.o.mode === 'payload') {
          this.ready.push({ range, token: h.token, events: h.events, bytes: h.bytes });
          this.runPayload();
        } else this.send({ type: 'report', range, token: h.token, status: 'finished' });
        return;
      }
      case 'ack': {
        const range = m.range as string;
        const h = this.held.get(range);
        if (h && m.status === 'finished') {
          this.held.delete(range);
          this.ranges++;
          rangeFinished(h.bytes, h.events);
        }
        return;
      }
      case 'revoke':
        this.held.delete(m.range as string);
        return;
      case 'error':
        this.errors.push(`${String(m.code)}: ${String(m.message)}`);
        return;
      default:
        return; // heartbeat, done, resumed
    }
  }

  /** The simulated payload: one range at a time, `events × cost` ms each, once the range's data is all here. */
  private runPayload(): void {
    if (this.busy || this.ready.length === 0) return;
    const t = now();
    if (this.waitingSince !== null) {
      this.waitMs += t - Math.max(this.waitingSince, payloadClock.t0);
      this.waitingSince = null;
    }
    const r = this.ready.shift()!;
    if (this.firstMs < 0) this.firstMs = t - payloadClock.t0;
    this.busy = true;
    setTimeout(() => {
      const done = now();
      this.busyMs += done - t;
      this.busy = false;
      this.lastDoneMs = done - payloadClock.t0;
      this.send({ type: 'report', range: r.range, token: r.token, status: 'finished' });
      this.waitingSince = done;
      this.runPayload();
    }, r.events * (this.o.costMsPerEvent ?? 0));
  }

  resetClock(): void {
    this.busyMs = 0;
    this.waitMs = 0;
    this.lastDoneMs = 0;
    this.firstMs = -1;
    if (!this.busy) this.waitingSince = now();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.ws._socket?.resume();
  }

  close(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.closed) return;
    // A paused socket would never read the server's close reply: drop it instead.
    if (this.paused) this.ws.terminate();
    else this.ws.close(1000);
  }
}

const conns: EssConn[] = [];

async function essConnect(o: EssConnectOptions): Promise<{ connected: number }> {
  const base = conns.length;
  const concurrency = Math.max(1, o.concurrency ?? 64);
  let next = 0;
  const lane = async () => {
    while (next < o.count) {
      const i = next++;
      const c = new EssConn(o, `${o.idPrefix}-a${AGENT}-c${base + i}`);
      conns.push(c);
      await c.open();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, o.count) }, lane));
  return { connected: o.count };
}

function essStats(resetClock: boolean): EssStats {
  if (resetClock) {
    payloadClock.t0 = now();
    for (const c of conns) c.resetClock();
  }
  const errors: string[] = [];
  let bytes = 0;
  let events = 0;
  let ranges = 0;
  let busyMs = 0;
  let waitMs = 0;
  let lastDoneMs = 0;
  let firstMs = 0;
  let welcomed = 0;
  let paused = 0;
  for (const c of conns) {
    bytes += c.bytes;
    events += c.events;
    ranges += c.ranges;
    busyMs += c.busyMs;
    waitMs += c.waitMs;
    lastDoneMs = Math.max(lastDoneMs, c.lastDoneMs);
    firstMs += Math.max(0, c.firstMs);
    if (c.welcomed && !c.closed) welcomed++;
    if (c.paused) paused++;
    errors.push(...c.errors.splice(0));
  }
  return { connections: conns.length, welcomed, paused, bytes, events, ranges, errors: errors.slice(0, 20), busyMs, waitMs, lastDoneMs, firstMs };
}

async function essClose(): Promise<void> {
  for (const c of conns) c.close();
  const deadline = Date.now() + 3000;
  while (conns.some((c) => !c.closed) && Date.now() < deadline) await sleep(20);
  conns.length = 0;
}

// ---- the ceiling's receiver ----

function ceiling(url: string, index: number, total: number, passes: number, mode: string): Promise<TransferResult> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
    let bytes = 0;
    let events = 0;
    let frames = 0;
    const t0 = now();
    ws.on('open', () => ws.send(JSON.stringify({ index, total, passes, mode })));
    ws.on('message', (data) => {
      const m = unpackStandard(data) as Decoded;
      if (m.type === 'chunk') {
        bytes += (m.data as Uint8Array).length;
        events += (m.entries as unknown[]).length;
        frames++;
      } else if (m.type === 'fin') {
        const ms = now() - t0;
        ws.close(1000);
        resolve({ bytes, events, ms, requests: frames });
      }
    });
    ws.on('error', reject);
    ws.on('close', (code) => reject(new Error(`ceiling connection closed (${code}) before fin`)));
  });
}

// ---- HTTP range GETs ----

const pools = new Map<string, UndiciPool>();
function pool(origin: string, connections: number): UndiciPool {
  const key = `${origin}#${connections}`;
  let p = pools.get(key);
  if (!p) {
    p = new (Pool())(origin, { connections, pipelining: 1, keepAliveTimeout: 120_000 });
    pools.set(key, p);
  }
  return p;
}

async function getSpan(p: UndiciPool, s: SpanJob): Promise<number> {
  // `Range` capitalised: XRootD's HTTP port matches header names case-sensitively.
  const res = await p.request({ path: new URL(s.url).pathname, method: 'GET', headers: { Range: `bytes=${s.offset}-${s.offset + s.length - 1}` } });
  if (res.statusCode !== 206) {
    await res.body.dump();
    throw new Error(`GET ${s.url} ${s.offset}+${s.length}: status ${res.statusCode} (expected 206)`);
  }
  let n = 0;
  for await (const c of res.body) n += c.length;
  if (n !== s.length) throw new Error(`GET ${s.url}: ${n} bytes instead of ${s.length}`);
  return n;
}

async function http(origin: string, spans: readonly SpanJob[], inflight: number): Promise<TransferResult> {
  const p = pool(origin, inflight);
  let next = 0;
  let bytes = 0;
  let events = 0;
  const t0 = now();
  const lane = async () => {
    while (next < spans.length) {
      const s = spans[next++]!;
      // Not `bytes += await ...`: that reads `bytes` before the await, racing the other lanes.
      const n = await getSpan(p, s);
      bytes += n;
      events += s.events;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, inflight) }, lane));
  return { bytes, events, ms: now() - t0, requests: spans.length };
}

/** A payload reading its ranges straight from the origin: fetch (with `readAhead` ranges fetched ahead), then process. */
async function directPayload(origin: string, spans: readonly SpanJob[], costMsPerEvent: number, readAhead: number): Promise<PayloadResult> {
  const p = pool(origin, readAhead + 1);
  const fetches: (Promise<number> | undefined)[] = [];
  const start = (i: number) => {
    if (i < spans.length && !fetches[i]) {
      const f = getSpan(p, spans[i]!);
      f.catch(() => undefined);
      fetches[i] = f;
    }
  };
  let busyMs = 0;
  let waitMs = 0;
  let bytes = 0;
  let firstMs = -1;
  const t0 = now();
  for (let i = 0; i < spans.length; i++) {
    for (let j = i; j <= i + readAhead; j++) start(j);
    const w = i === 0 ? t0 : now();
    const got = await fetches[i]!;
    bytes += got;
    fetches[i] = undefined;
    const b = now();
    waitMs += b - w;
    if (firstMs < 0) firstMs = b - t0;
    await sleep(spans[i]!.events * costMsPerEvent);
    busyMs += now() - b;
  }
  return { busyMs, waitMs, wallMs: now() - t0, ranges: spans.length, bytes, firstMs };
}

// ---- the command loop ----

async function handle(c: AgentCommand): Promise<unknown> {
  switch (c.cmd) {
    case 'ess-connect':
      return essConnect(c.o);
    case 'ess-close':
      await essClose();
      return {};
    case 'ess-stats':
      return essStats(c.resetClock === true);
    case 'ess-resume':
      for (const x of conns) x.resume();
      return {};
    case 'ceiling':
      return ceiling(c.url, c.index, c.total, c.passes, c.mode ?? 'prebuilt');
    case 'http':
      return http(c.origin, c.spans, c.inflight);
    case 'direct-payload':
      return directPayload(c.origin, c.spans, c.costMsPerEvent, c.readAhead);
    case 'exit':
      await essClose();
      await Promise.all([...pools.values()].map((p) => p.close().catch(() => undefined)));
      setImmediate(() => process.exit(0));
      return {};
  }
}

process.on('message', (raw: { id: number; c: AgentCommand }) => {
  handle(raw.c).then(
    (result) => post({ id: raw.id, ok: true, result }),
    (e: unknown) => post({ id: raw.id, ok: false, error: (e as Error)?.stack ?? String(e) }),
  );
});
process.on('disconnect', () => process.exit(0));
