/**
 * The `http` source: byte-range GETs (XRootD's HTTP port, nginx, S3 presigned URLs) through an
 * undici Agent, i.e. one keep-alive connection pool per origin with at most `connections`
 * sockets, so concurrency per host is bounded and connections are reused.
 *
 * Strict about answers: only a 206 whose Content-Range is exactly the bytes asked for, with
 * exactly that many body bytes, is data. A 200 to a range request (an origin or proxy that
 * ignored or never saw the Range header: XRootD matches header names case-sensitively, so the
 * header is sent as `Range`) is an error, never data. The body is copied chunk by chunk
 * straight into the caller's buffer. A request that receives no byte for `stallMs` is aborted.
 */
import { Agent, type Dispatcher } from 'undici';
import { LRUCache } from 'lru-cache';
import { SourceError, SourceStats, type ReadOptions, type Source, type SourceErrorCode } from './Source.js';

export interface HttpSourceOptions {
  /** Connections (= concurrent requests) per origin (default 8). */
  connections?: number;
  /** Abort a request when no byte arrives for this long (default 5000 ms). */
  stallMs?: number;
  /** Abort a request that has not completed after this long, queueing included (default 120 s). */
  timeoutMs?: number;
  /** TCP connect timeout (default: stallMs, since no byte arrives while connecting either). */
  connectTimeoutMs?: number;
  /** Idle keep-alive connections are closed after this long (default 30 s). */
  keepAliveTimeoutMs?: number;
  /** Extra request headers (authorization, ...). Names are sent exactly as given. */
  headers?: Record<string, string>;
  /** Sizes kept in the size cache (default 100 000 URLs). */
  sizeCacheMax?: number;
}

const CONTENT_RANGE = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i;
const UNSATISFIED_RANGE = /^\s*bytes\s+\*\/(\d+)\s*$/i;

interface RangeResult {
  /** When the request went out on a socket and when its response headers arrived (performance.now()). */
  sentAt: number;
  firstByteAt: number;
  /** Complete length of the object, from Content-Range (null when the origin says `*`). */
  total: number | null;
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export class HttpSource implements Source {
  readonly kind = 'http' as const;
  readonly abortable = true;
  readonly stats: SourceStats;
  readonly stallMs: number;
  readonly timeoutMs: number;
  readonly connections: number;
  private readonly agent: Agent;
  private readonly extraHeaders: Record<string, string>;
  private readonly sizes: LRUCache<string, Promise<number>>;
  private readonly base: URL | undefined;
  private closed = false;

  /**
   * `endpoint` is shown to operators; when it is an http(s) URL, relative replica URLs are
   * resolved against it (absolute replica URLs are used as they are).
   */
  constructor(
    readonly id: string,
    readonly endpoint: string,
    o: HttpSourceOptions = {},
  ) {
    this.stats = new SourceStats(id, 'http', endpoint);
    this.connections = o.connections ?? 8;
    this.stallMs = o.stallMs ?? 5000;
    this.timeoutMs = o.timeoutMs ?? 120_000;
    if (!Number.isSafeInteger(this.connections) || this.connections < 1) throw new RangeError(`connections must be a positive integer (got ${this.connections})`);
    if (!(this.stallMs > 0) || !(this.timeoutMs > 0)) throw new RangeError('stallMs and timeoutMs must be positive');
    const keepAlive = o.keepAliveTimeoutMs ?? 30_000;
    this.agent = new Agent({
      connections: this.connections,
      pipelining: 1,
      keepAliveTimeout: keepAlive,
      keepAliveMaxTimeout: Math.max(keepAlive, 60_000),
      // Stalls and the overall deadline are timed here, per request, with our own timers.
      headersTimeout: 0,
      bodyTimeout: 0,
      connect: { timeout: o.connectTimeoutMs ?? this.stallMs },
    });
    this.extraHeaders = { ...o.headers };
    this.sizes = new LRUCache({ max: o.sizeCacheMax ?? 100_000 });
    try {
      const u = new URL(endpoint);
      this.base = u.protocol === 'http:' || u.protocol === 'https:' ? u : undefined;
    } catch {
      this.base = undefined;
    }
  }

  private resolve(url: string): URL {
    let u: URL;
    try {
      u = this.base ? new URL(url, this.base) : new URL(url);
    } catch {
      throw new SourceError('not_found', `${this.id}: not a valid URL: ${url}`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new SourceError('not_found', `${this.id}: not an http(s) URL: ${url}`);
    return u;
  }

  async read(url: string, offset: number, length: number, into?: Buffer, options: ReadOptions = {}): Promise<Buffer> {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw new RangeError(`invalid read of ${length} bytes at ${offset}`);
    }
    const dest = into ?? Buffer.allocUnsafe(length);
    if (dest.length < length) throw new RangeError(`buffer of ${dest.length} bytes is too small for ${length}`);
    if (length === 0) return dest;
    this.stats.begin();
    try {
      const u = this.resolve(url);
      const r = await this.rangeGet(u, offset, length, dest, options.signal);
      this.stats.success(r.sentAt, r.firstByteAt, length);
      if (r.total !== null && !this.sizes.has(u.href)) this.sizes.set(u.href, Promise.resolve(r.total));
      return dest;
    } catch (e) {
      const err = e instanceof SourceError ? e : new SourceError('io', `${this.id}: ${(e as Error).message}`);
      this.stats.failure(err.code, err.message);
      throw err;
    }
  }

  /** Size of the object, from the Content-Range total of a `Range: bytes=0-0` request; cached. */
  size(url: string): Promise<number> {
    const u = this.resolve(url);
    let p = this.sizes.get(u.href);
    if (p === undefined) {
      p = this.probeSize(u);
      p.catch(() => this.sizes.delete(u.href));
      this.sizes.set(u.href, p);
    }
    return p;
  }

  private async probeSize(u: URL): Promise<number> {
    this.stats.begin();
    try {
      const r = await this.rangeGet(u, 0, 1, Buffer.allocUnsafe(1), undefined, true);
      this.stats.success(r.sentAt, r.firstByteAt, 0);
      if (r.total === null) throw new SourceError('bad_response', `${this.id}: ${u.href}: the Content-Range gives no total size`);
      return r.total;
    } catch (e) {
      const err = e instanceof SourceError ? e : new SourceError('io', `${this.id}: ${(e as Error).message}`);
      this.stats.failure(err.code, err.message);
      throw err;
    }
  }

  /**
   * One GET of bytes [offset, offset + length) into dest[0..length). With `sizeProbe`, a 416
   * whose Content-Range is `bytes * /N` (an empty object) resolves with total N and no data.
   */
  private rangeGet(u: URL, offset: number, length: number, dest: Buffer, signal: AbortSignal | undefined, sizeProbe = false): Promise<RangeResult> {
    if (this.closed) return Promise.reject(new SourceError('io', `${this.id}: the source is closed`));
    if (signal?.aborted) return Promise.reject(abortError(signal, this.id));
    const last = offset + length - 1;
    const what = `${u.href} [${offset}-${last}]`;
    const stallMs = this.stallMs;
    return new Promise<RangeResult>((resolve, reject) => {
      let settled = false;
      let controller: Dispatcher.DispatchController | undefined;
      let received = 0;
      let sentAt = performance.now();
      let firstByteAt = 0;
      let lastProgress = sentAt;
      let total: number | null = null;
      let stallTimer: NodeJS.Timeout | undefined;
      const deadline = setTimeout(() => fail('timeout', `${what}: no complete answer after ${this.timeoutMs} ms`), this.timeoutMs);

      const cleanup = (): void => {
        clearTimeout(deadline);
        if (stallTimer !== undefined) clearTimeout(stallTimer);
        signal?.removeEventListener('abort', onAbort);
      };
      const fail = (code: SourceErrorCode, message: string, err?: SourceError): void => {
        if (settled) return;
        settled = true;
        cleanup();
        const e = err ?? new SourceError(code, `${this.id}: ${message}`);
        if (controller !== undefined && !controller.aborted) controller.abort(e);
        reject(e);
      };
      const done = (): void => {
        if (settled) return;
        settled = true;
        cleanup();
        resolve({ sentAt, firstByteAt, total });
      };
      const onAbort = (): void => fail('io', '', abortError(signal!, this.id));
      signal?.addEventListener('abort', onAbort, { once: true });
      const checkStall = (): void => {
        stallTimer = undefined;
        if (settled) return;
        const idle = performance.now() - lastProgress;
        if (idle >= stallMs - 1) {
          fail('stalled', `${what}: no bytes for ${Math.round(idle)} ms (${received} of ${length} received)`);
        } else {
          stallTimer = setTimeout(checkStall, stallMs - idle);
        }
      };

      const handler: Dispatcher.DispatchHandler = {
        onRequestStart: (c) => {
          controller = c;
          if (settled) {
            c.abort(new SourceError('io', `${this.id}: ${what}: cancelled`));
            return;
          }
          sentAt = performance.now();
          lastProgress = sentAt;
          if (stallTimer === undefined) stallTimer = setTimeout(checkStall, stallMs);
        },
        onResponseStart: (_c, status, headers) => {
          if (settled) return;
          firstByteAt = lastProgress = performance.now();
          if (status === 206) {
            const cr = header(headers, 'content-range');
            const m = cr === undefined ? null : CONTENT_RANGE.exec(cr);
            if (m === null) return fail('bad_response', `${what}: 206 with ${cr === undefined ? 'no' : `an unreadable Content-Range "${cr}" and no`} usable Content-Range`);
            const a = Number(m[1]);
            const b = Number(m[2]);
            total = m[3] === '*' ? null : Number(m[3]);
            if (a !== offset || b !== last || (total !== null && b >= total)) {
              return fail('bad_response', `${what}: Content-Range is "${cr}", expected bytes ${offset}-${last}${total !== null && b >= total ? ' within the object' : ''}`);
            }
            const cl = header(headers, 'content-length');
            if (cl !== undefined && Number(cl) !== length) return fail('bad_response', `${what}: Content-Length ${cl}, expected ${length}`);
            return;
          }
          if (status === 416 && sizeProbe) {
            const m = UNSATISFIED_RANGE.exec(header(headers, 'content-range') ?? '');
            if (m !== null && Number(m[1]) === 0) {
              total = 0;
              return done();
            }
          }
          if (status === 404 || status === 410) return fail('not_found', `${what}: HTTP ${status}`);
          if (status >= 200 && status < 300) {
            return fail('bad_response', `${what}: HTTP ${status} to a range request (Range ignored or dropped on the way); refusing the body`);
          }
          if (status === 416) return fail('bad_response', `${what}: HTTP 416, range not satisfiable (Content-Range ${header(headers, 'content-range') ?? 'absent'})`);
          if (status >= 300 && status < 400) return fail('bad_response', `${what}: HTTP ${status} (redirects are not followed)`);
          return fail(status >= 500 ? 'io' : 'bad_response', `${what}: HTTP ${status}`);
        },
        onResponseData: (_c, chunk) => {
          if (settled) return;
          lastProgress = performance.now();
          if (received + chunk.length > length) {
            return fail('bad_response', `${what}: more than the ${length} bytes asked for`);
          }
          chunk.copy(dest, received);
          received += chunk.length;
        },
        onResponseEnd: () => {
          if (settled) return;
          if (received !== length) return fail('bad_response', `${what}: short body, ${received} of ${length} bytes`);
          done();
        },
        onResponseError: (_c, err) => {
          if (settled) return;
          const code = (err as { code?: string }).code;
          if (firstByteAt > 0) {
            // The origin answered 206 and then ended the response early (XRootD does this for
            // ranges past the end of the file) or the connection broke mid-body.
            return fail(code === 'UND_ERR_SOCKET' ? 'bad_response' : 'io', `${what}: short body, ${received} of ${length} bytes (${code ?? err.name}: ${err.message})`);
          }
          fail('io', `${what}: ${code ?? err.name}: ${err.message}`);
        },
      };
      try {
        this.agent.dispatch(
          {
            origin: u.origin,
            path: `${u.pathname}${u.search}`,
            method: 'GET',
            // Capitalised on purpose: XRootD's HTTP port ignores a lower-case `range`.
            headers: { ...this.extraHeaders, Range: `bytes=${offset}-${last}` },
          },
          handler,
        );
      } catch (e) {
        fail('io', `${what}: ${(e as Error).message}`);
      }
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), 1000)));
    const outcome = await Promise.race([this.agent.close().then(() => 'closed' as const), grace]);
    clearTimeout(timer);
    if (outcome === 'late') await this.agent.destroy();
  }
}

function abortError(signal: AbortSignal, id: string): SourceError {
  const r: unknown = signal.reason;
  if (r instanceof SourceError) return r;
  return new SourceError('io', `${id}: read aborted${r instanceof Error ? `: ${r.message}` : ''}`);
}
