// HttpSource against a scripted in-process HTTP server: the answers a real origin gives only
// when broken (wrong Content-Range, short body, stalls, 200 to a range request). The real
// origins (nginx, XRootD) are exercised in tests/integration/origins.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { HttpSource } from '../src/sources/HttpSource.js';
import { SourceError } from '../src/sources/Source.js';

const DATA = Buffer.alloc(1 << 20);
for (let i = 0; i < DATA.length; i++) DATA[i] = (i * 31 + (i >> 8)) & 0xff;

interface Seen {
  path: string;
  rangeName: string | null;
  range: string | null;
  socket: number;
}

function parseRange(v: string | null): [number, number] | null {
  const m = v === null ? null : /^bytes=(\d+)-(\d+)$/.exec(v);
  return m ? [Number(m[1]), Number(m[2])] : null;
}

describe('HttpSource', () => {
  let server: Server;
  let base: string;
  const seen: Seen[] = [];
  const sockets = new Map<Socket, number>();
  const open = new Set<Socket>();
  let inFlight = 0;
  let maxInFlight = 0;

  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let rangeName: string | null = null;
    let range: string | null = null;
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      if (req.rawHeaders[i]!.toLowerCase() === 'range') {
        rangeName = req.rawHeaders[i]!;
        range = req.rawHeaders[i + 1]!;
      }
    }
    const path = req.url ?? '/';
    seen.push({ path, rangeName, range, socket: sockets.get(req.socket) ?? -1 });
    const r = parseRange(range);
    const partial = (a: number, b: number, body: Buffer, headers: Record<string, string> = {}): void => {
      res.writeHead(206, { 'Content-Range': `bytes ${a}-${b}/${DATA.length}`, 'Content-Length': String(b - a + 1), ...headers });
      res.end(body);
    };
    if (path === '/data' || path === '/slow') {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      if (path === '/slow') await new Promise((t) => setTimeout(t, 40));
      inFlight--;
      if (!r) {
        res.writeHead(200, { 'Content-Length': String(DATA.length) });
        res.end(DATA);
        return;
      }
      const b = Math.min(r[1], DATA.length - 1);
      partial(r[0], b, DATA.subarray(r[0], b + 1));
      return;
    }
    if (path === '/lower-only') {
      // Like XRootD: honours only the capitalised header name.
      if (rangeName === 'Range' && r) partial(r[0], r[1], DATA.subarray(r[0], r[1] + 1));
      else {
        res.writeHead(200, { 'Content-Length': String(DATA.length) });
        res.end(DATA);
      }
      return;
    }
    if (path === '/ignore-range') {
      res.writeHead(200, { 'Content-Length': String(DATA.length) });
      res.end(DATA);
      return;
    }
    if (path === '/wrong-range' && r) {
      partial(r[0] + 1, r[1] + 1, DATA.subarray(r[0] + 1, r[1] + 2));
      return;
    }
    if (path === '/no-content-range' && r) {
      res.writeHead(206, { 'Content-Length': String(r[1] - r[0] + 1) });
      res.end(DATA.subarray(r[0], r[1] + 1));
      return;
    }
    if (path === '/short' && r) {
      // Promises the whole range, sends half, closes (XRootD does this past the end of a file).
      res.writeHead(206, { 'Content-Range': `bytes ${r[0]}-${r[1]}/${DATA.length}`, 'Content-Length': String(r[1] - r[0] + 1) });
      res.write(DATA.subarray(r[0], r[0] + Math.floor((r[1] - r[0] + 1) / 2)));
      setTimeout(() => res.socket?.destroy(), 20);
      return;
    }
    if (path === '/stall-body' && r) {
      res.writeHead(206, { 'Content-Range': `bytes ${r[0]}-${r[1]}/${DATA.length}`, 'Content-Length': String(r[1] - r[0] + 1) });
      res.write(DATA.subarray(r[0], r[0] + 100));
      return; // never ends
    }
    if (path === '/stall-headers') return; // never answers
    if (path === '/trickle' && r) {
      res.writeHead(206, { 'Content-Range': `bytes ${r[0]}-${r[1]}/${DATA.length}`, 'Content-Length': String(r[1] - r[0] + 1) });
      let at = r[0];
      const t = setInterval(() => {
        if (res.destroyed) return clearInterval(t);
        res.write(DATA.subarray(at, at + 1));
        at++;
        if (at > r[1]) {
          clearInterval(t);
          res.end();
        }
      }, 50);
      return;
    }
    if (path === '/empty') {
      res.writeHead(416, { 'Content-Range': 'bytes */0', 'Content-Length': '0' });
      res.end();
      return;
    }
    if (path === '/error') {
      res.writeHead(503, { 'Content-Length': '0' });
      res.end();
      return;
    }
    res.writeHead(404, { 'Content-Length': '9' });
    res.end('not found');
  };

  beforeAll(async () => {
    server = createServer((req, res) => void handler(req, res));
    server.on('connection', (s: Socket) => {
      sockets.set(s, sockets.size);
      open.add(s);
      s.on('close', () => open.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const a = server.address();
    base = `http://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}`;
  });
  afterAll(async () => {
    for (const s of open) s.destroy();
    await new Promise((r) => server.close(r));
  });

  async function codeOf(p: Promise<unknown>): Promise<string> {
    try {
      await p;
      return 'ok';
    } catch (e) {
      expect(e).toBeInstanceOf(SourceError);
      return (e as SourceError).code;
    }
  }

  it('reads exact ranges into the caller buffer, sending the header as `Range`, and records figures', async () => {
    const src = new HttpSource('h', base);
    try {
      const into = Buffer.alloc(70_000 + 10, 0xee);
      const out = await src.read(`${base}/data`, 12_345, 70_000, into);
      expect(out).toBe(into);
      expect(into.subarray(0, 70_000).equals(DATA.subarray(12_345, 82_345))).toBe(true);
      expect(into.subarray(70_000).every((b) => b === 0xee)).toBe(true);
      // relative URLs resolve against an http endpoint
      expect((await src.read('/data', 0, 10)).equals(DATA.subarray(0, 10))).toBe(true);
      // XRootD-style origin that only honours the capitalised name
      expect((await src.read(`${base}/lower-only`, 5, 100)).equals(DATA.subarray(5, 105))).toBe(true);
      const mine = seen.filter((s) => s.path === '/data' || s.path === '/lower-only');
      expect(mine.every((s) => s.rangeName === 'Range')).toBe(true);
      expect(mine.map((s) => s.range)).toContain('bytes=12345-82344');
      const row = src.stats.row();
      expect(row).toMatchObject({ requests: 3, errors: 0, bytes: 70_110, inFlight: 0, health: 'up' });
      expect(src.stats.latencyMs).toBeGreaterThan(0);
      expect(src.stats.throughput).toBeGreaterThan(0);
      expect(await src.read(`${base}/data`, 0, 0)).toHaveLength(0);
    } finally {
      await src.close();
    }
  });

  it('refuses a 200, a wrong or missing Content-Range and a short body (bad_response); 404 is not_found; 5xx and refused connections are io', async () => {
    const src = new HttpSource('h', base);
    try {
      expect(await codeOf(src.read(`${base}/ignore-range`, 0, 1000))).toBe('bad_response');
      expect(await codeOf(src.read(`${base}/wrong-range`, 0, 1000))).toBe('bad_response');
      expect(await codeOf(src.read(`${base}/no-content-range`, 0, 1000))).toBe('bad_response');
      expect(await codeOf(src.read(`${base}/short`, 0, 100_000))).toBe('bad_response');
      expect(await codeOf(src.read(`${base}/data`, DATA.length - 10, 20))).toBe('bad_response'); // origin clips the range
      expect(await codeOf(src.read(`${base}/missing`, 0, 10))).toBe('not_found');
      expect(await codeOf(src.read(`${base}/error`, 0, 10))).toBe('io');
      expect(src.stats.errors).toBe(7);
      // not_found does not count against the source's health, the others do
      expect(src.stats.consecutiveErrors).toBe(6);
      expect(src.stats.lastError).toMatch(/HTTP 503/);
      expect(src.stats.inFlight).toBe(0);
    } finally {
      await src.close();
    }
    const dead = new HttpSource('dead', 'http://127.0.0.1:1');
    try {
      expect(await codeOf(dead.read('http://127.0.0.1:1/x', 0, 10))).toBe('io');
    } finally {
      await dead.close();
    }
  });

  it('aborts a stalled response (body or headers) after stallMs, and enforces the overall timeout', async () => {
    const src = new HttpSource('h', base, { stallMs: 300, timeoutMs: 400 });
    try {
      for (const path of ['/stall-body', '/stall-headers']) {
        const t0 = performance.now();
        const code = await codeOf(src.read(`${base}${path}`, 0, 10_000));
        const took = performance.now() - t0;
        expect(code).toBe('stalled');
        expect(took).toBeGreaterThanOrEqual(290);
        expect(took).toBeLessThan(800); // timers on a loaded 2-core machine
      }
      // bytes keep coming (no stall) but too slowly for the deadline
      const t0 = performance.now();
      expect(await codeOf(src.read(`${base}/trickle`, 0, 100))).toBe('timeout');
      expect(performance.now() - t0).toBeLessThan(700);
      expect(src.stats.inFlight).toBe(0);
    } finally {
      await src.close();
    }
  });

  it('size() comes from the Content-Range total of a 0-0 request, is cached, and handles an empty object', async () => {
    const src = new HttpSource('h', base);
    try {
      const before = seen.length;
      expect(await src.size(`${base}/data`)).toBe(DATA.length);
      expect(await src.size(`${base}/data`)).toBe(DATA.length);
      expect(seen.length - before).toBe(1);
      expect(seen.at(-1)?.range).toBe('bytes=0-0');
      expect(await src.size(`${base}/empty`)).toBe(0);
      expect(await codeOf(src.size(`${base}/missing`))).toBe('not_found');
      expect(await codeOf(src.size(`${base}/ignore-range`))).toBe('bad_response');
    } finally {
      await src.close();
    }
  });

  it('keeps connections alive and bounds concurrency per origin', async () => {
    const src = new HttpSource('h', base, { connections: 2 });
    try {
      maxInFlight = 0;
      const before = seen.length;
      const reads = Array.from({ length: 12 }, (_, i) => src.read(`${base}/slow`, i * 1000, 1000));
      await waitTrue(() => src.stats.inFlight === 12);
      const bufs = await Promise.all(reads);
      bufs.forEach((b, i) => expect(b.equals(DATA.subarray(i * 1000, i * 1000 + 1000))).toBe(true));
      for (let i = 0; i < 20; i++) await src.read(`${base}/data`, i * 10, 10);
      const mine = seen.slice(before);
      expect(mine).toHaveLength(32);
      expect(maxInFlight).toBe(2);
      expect(new Set(mine.map((s) => s.socket)).size).toBeLessThanOrEqual(2);
    } finally {
      await src.close();
    }
  });

  it('an aborted read rejects at once and never writes into the buffer afterwards', async () => {
    const src = new HttpSource('h', base, { stallMs: 5000 });
    try {
      const into = Buffer.alloc(10_000, 0xaa);
      const ctl = new AbortController();
      const p = src.read(`${base}/trickle`, 0, 10_000, into, { signal: ctl.signal });
      await new Promise((r) => setTimeout(r, 120));
      ctl.abort(new SourceError('stalled', 'test abort'));
      await expect(p).rejects.toMatchObject({ code: 'stalled' });
      const snapshot = Buffer.from(into);
      await new Promise((r) => setTimeout(r, 150));
      expect(into.equals(snapshot)).toBe(true);
      expect(src.stats.inFlight).toBe(0);
    } finally {
      await src.close();
    }
  });
});

async function waitTrue(probe: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 2));
  }
}
