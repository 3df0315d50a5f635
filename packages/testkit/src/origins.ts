/**
 * Real origins for tests: Debian's nginx and XRootD (its HTTP port and root://) serving a
 * directory, and a small reverse proxy that adds latency, caps bandwidth, stalls responses,
 * drops the Range header or answers with an error status, and counts what passes.
 *
 * Every start function cleans up on stop(): processes are started in their own process group
 * (killed as a group if a graceful stop does not finish), temporary config trees are removed,
 * and a process 'exit' hook kills any group still alive if a test forgot to stop it.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { request as httpRequest, createServer, Agent as HttpAgent, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

// ---------------------------------------------------------------------------------------------
// Process bookkeeping
// ---------------------------------------------------------------------------------------------

const liveGroups = new Set<number>();
let exitHook = false;

function track(pid: number): void {
  liveGroups.add(pid);
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const g of liveGroups) {
        try {
          process.kill(-g, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    });
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is gone
  }
}

/** Sends `signal`, waits up to `graceMs` for the exit, then SIGKILLs the process group. */
async function stopProcess(child: ChildProcess, signal: () => void, graceMs: number): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return;
  if (child.exitCode === null && child.signalCode === null) {
    signal();
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([exited(child).then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs)))]);
    clearTimeout(timer);
    if (late) {
      killGroup(pid, 'SIGKILL');
      await exited(child);
    }
  }
  // Anything the group left behind (nginx workers, a forked xrootd) goes too.
  killGroup(pid, 'SIGKILL');
  liveGroups.delete(pid);
}

// ---------------------------------------------------------------------------------------------
// Ports and probes
// ---------------------------------------------------------------------------------------------

/**
 * A TCP port that was free a moment ago on 127.0.0.1 (callers retry if it is taken meanwhile).
 * It lies below the kernel's ephemeral range on purpose: a port from that range, once its server
 * stops, can be taken by a client's own outgoing connection (a reconnecting client may even
 * connect to itself), so a server restarted on it would find it in use.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const srv = createNetServer();
      srv.unref();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free TCP port found between 20000 and 32000');
}

/** One GET with a Range header on a fresh connection; resolves with the status, rejects on a network error. */
function rangeProbe(url: string, range = 'bytes=0-0'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'GET', headers: { Range: range }, agent: false, timeout: 1000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('probe timed out')));
    req.on('error', reject);
    req.end();
  });
}

async function waitUntilAnswers(url: string, child: ChildProcess, what: string, timeoutMs: number, diagnostics: () => Promise<string>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new OriginStartError(`${what} exited during start-up (code ${child.exitCode}, signal ${child.signalCode}): ${await diagnostics()}`, true);
    }
    try {
      await rangeProbe(url);
      return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new OriginStartError(`${what} did not answer within ${timeoutMs} ms: ${await diagnostics()}`, false);
    await new Promise((r) => setTimeout(r, 20));
  }
}

class OriginStartError extends Error {
  constructor(
    message: string,
    readonly exitedEarly: boolean,
  ) {
    super(message);
  }
}

async function tail(path: string, bytes = 2000): Promise<string> {
  try {
    const s = await readFile(path, 'utf8');
    return s.slice(-bytes).trim() || '(empty log)';
  } catch {
    return `(no ${path})`;
  }
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

// ---------------------------------------------------------------------------------------------
// nginx
// ---------------------------------------------------------------------------------------------

/** One line of the nginx access log. */
export interface AccessRecord {
  method: string;
  path: string;
  status: number;
  /** The Range header as received (null when absent). */
  range: string | null;
  /** Body bytes sent. */
  bytes: number;
  /** nginx's connection serial number ($connection): equal numbers = one TCP connection. */
  connection: number;
  /** Requests served on that connection so far, this one included ($connection_requests). */
  connectionRequests: number;
  /** $request_time in ms. */
  timeMs: number;
}

export interface NginxHandle {
  /** Base URL, `http://127.0.0.1:<port>` (no trailing slash): files are `${url}/<path under rootDir>`. */
  readonly url: string;
  readonly port: number;
  /** Path of the access log (one JSON object per line). */
  readonly accessLog: string;
  readonly errorLog: string;
  /** The access log so far, parsed. nginx writes a line when a request completes. */
  requests(): Promise<AccessRecord[]>;
  stop(): Promise<void>;
}

function nginxConfig(dir: string, rootDir: string, port: number): string {
  return `# written by @ess/testkit startNginx
daemon off;
master_process on;
worker_processes 1;
${isRoot() ? 'user root;  # workers read test data in 0700 temp dirs' : ''}
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
worker_shutdown_timeout 1s;
events { worker_connections 1024; }
http {
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  types { }
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 75s;
  keepalive_requests 100000;
  log_format ess escape=json '{"method":"$request_method","path":"$uri","status":$status,"range":"$http_range","bytes":$body_bytes_sent,"connection":$connection,"connectionRequests":$connection_requests,"time":$request_time}';
  access_log ${dir}/access.log ess;
  server {
    listen 127.0.0.1:${port};
    root ${rootDir};
    location / { }
  }
}
`;
}

/** Starts Debian's nginx serving `rootDir` on a free 127.0.0.1 port. */
export async function startNginx(rootDir: string): Promise<NginxHandle> {
  const root = resolve(rootDir);
  const dir = await mkdtemp(join(tmpdir(), 'ess-nginx-'));
  const conf = join(dir, 'nginx.conf');
  const errorLog = join(dir, 'error.log');
  const accessLog = join(dir, 'access.log');
  try {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      await writeFile(conf, nginxConfig(dir, root, port));
      const child = spawn('nginx', ['-c', conf, '-e', errorLog], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      const spawnError = new Promise<never>((_, reject) => child.once('error', reject));
      spawnError.catch(() => undefined);
      if (child.pid !== undefined) track(child.pid);
      try {
        await Promise.race([waitUntilAnswers(`http://127.0.0.1:${port}/`, child, 'nginx', 10_000, async () => `${stderr.trim()} ${await tail(errorLog)}`), spawnError]);
      } catch (e) {
        await stopProcess(child, () => killGroup(child.pid!, 'SIGKILL'), 1000);
        const inUse = /Address already in use/.test(`${stderr} ${await tail(errorLog)}`);
        if (inUse && attempt < 5) continue;
        throw e;
      }
      const url = `http://127.0.0.1:${port}`;
      let stopped: Promise<void> | undefined;
      return {
        url,
        port,
        accessLog,
        errorLog,
        async requests(): Promise<AccessRecord[]> {
          let text: string;
          try {
            text = await readFile(accessLog, 'utf8');
          } catch {
            return [];
          }
          return text
            .split('\n')
            .filter((l) => l.trim() !== '')
            .map((l) => {
              const r = JSON.parse(l) as { method: string; path: string; status: number; range: string; bytes: number; connection: number; connectionRequests: number; time: number };
              return {
                method: r.method,
                path: r.path,
                status: r.status,
                range: r.range === '' ? null : r.range,
                bytes: r.bytes,
                connection: r.connection,
                connectionRequests: r.connectionRequests,
                timeMs: r.time * 1000,
              };
            });
        },
        stop(): Promise<void> {
          stopped ??= (async () => {
            await stopProcess(child, () => child.kill('SIGQUIT'), 3000);
            await rm(dir, { recursive: true, force: true });
          })();
          return stopped;
        },
      };
    }
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// XRootD
// ---------------------------------------------------------------------------------------------

export interface XrootdHandle {
  /** `http://127.0.0.1:<httpPort>` (no trailing slash): files are `${httpUrl}/<path under rootDir>`. */
  readonly httpUrl: string;
  /** `root://127.0.0.1:<port>/`: files are `${rootUrl}/<path under rootDir>` (xrdcp wants the double slash). */
  readonly rootUrl: string;
  readonly httpPort: number;
  readonly port: number;
  readonly logFile: string;
  stop(): Promise<void>;
}

/** Gives everyone read access to the tree and traverse access to its ancestors inside tmpdir(). */
async function makeReadable(root: string): Promise<void> {
  const walk = async (p: string): Promise<void> => {
    const s = await stat(p);
    if (s.isDirectory()) {
      if ((s.mode & 0o555) !== 0o555) await chmod(p, s.mode | 0o555);
      for (const e of await readdir(p)) await walk(join(p, e));
    } else if ((s.mode & 0o444) !== 0o444) {
      await chmod(p, s.mode | 0o444);
    }
  };
  await walk(root);
  const tmp = resolve(tmpdir());
  for (let d = dirname(root); d !== dirname(d); d = dirname(d)) {
    const s = await stat(d);
    if ((s.mode & 0o001) !== 0) continue;
    if (d.startsWith(`${tmp}/`)) await chmod(d, s.mode | 0o111);
    else throw new Error(`startXrootd: ${d} is not traversable by other users, so user xrootd cannot reach ${root}`);
  }
}

function xrootdIds(): { uid: number; gid: number } {
  const out = execFileSync('id', ['xrootd'], { encoding: 'utf8' });
  const uid = /uid=(\d+)/.exec(out);
  const gid = /gid=(\d+)/.exec(out);
  if (!uid || !gid) throw new Error(`startXrootd: cannot read the ids of user xrootd: ${out}`);
  return { uid: Number(uid[1]), gid: Number(gid[1]) };
}

function xrootdConfig(dir: string, root: string, port: number, httpPort: number): string {
  return `# written by @ess/testkit startXrootd
xrd.port ${port}
xrd.protocol XrdHttp:${httpPort} libXrdHttp.so
oss.localroot ${root}
all.export /
all.adminpath ${dir}/admin
all.pidpath ${dir}/admin
`;
}

/**
 * Starts Debian's XRootD serving `rootDir` over root:// and HTTP on free 127.0.0.1 ports. As
 * root it runs as user `xrootd` (xrootd refuses to run as root) through runuser, after making
 * the tree readable by that user; otherwise as the current user.
 */
export async function startXrootd(rootDir: string): Promise<XrootdHandle> {
  const root = resolve(rootDir);
  const dir = await mkdtemp(join(tmpdir(), 'ess-xrootd-'));
  try {
    const asRoot = isRoot();
    await mkdir(join(dir, 'admin'));
    if (asRoot) {
      const { uid, gid } = xrootdIds();
      await chmod(dir, 0o755);
      await chown(join(dir, 'admin'), uid, gid);
      await makeReadable(root);
    }
    const conf = join(dir, 'xrootd.cfg');
    // The log goes in the admin folder: the one place user xrootd may write.
    const logFile = join(dir, 'admin', 'xrootd.log');
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      let httpPort = await freePort();
      while (httpPort === port) httpPort = await freePort();
      await writeFile(conf, xrootdConfig(dir, root, port, httpPort));
      await chmod(conf, 0o644);
      const args = ['-c', conf, '-l', logFile];
      const child = asRoot
        ? spawn('runuser', ['-u', 'xrootd', '--', 'xrootd', ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
        : spawn('xrootd', args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      let output = '';
      child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
      const spawnError = new Promise<never>((_, reject) => child.once('error', reject));
      spawnError.catch(() => undefined);
      if (child.pid !== undefined) track(child.pid);
      const diagnostics = async (): Promise<string> => `${output.trim().slice(-1000)} ${await tail(logFile)}`;
      try {
        await Promise.race([waitUntilAnswers(`http://127.0.0.1:${httpPort}/`, child, 'xrootd', 15_000, diagnostics), spawnError]);
      } catch (e) {
        await stopProcess(child, () => killGroup(child.pid!, 'SIGKILL'), 1000);
        const inUse = /already in use|Unable to bind|EADDRINUSE/i.test(await diagnostics());
        if (inUse && attempt < 5) continue;
        throw e;
      }
      let stopped: Promise<void> | undefined;
      return {
        httpUrl: `http://127.0.0.1:${httpPort}`,
        rootUrl: `root://127.0.0.1:${port}/`,
        httpPort,
        port,
        logFile,
        stop(): Promise<void> {
          stopped ??= (async () => {
            await stopProcess(
              child,
              () => {
                // Signal xrootd itself: runuser exits as soon as its child does.
                void readXrootdPid(dir).then((pid) => {
                  if (pid !== undefined) {
                    try {
                      process.kill(pid, 'SIGTERM');
                      return;
                    } catch {
                      // fall through
                    }
                  }
                  killGroup(child.pid!, 'SIGTERM');
                });
              },
              3000,
            );
            await rm(dir, { recursive: true, force: true });
          })();
          return stopped;
        },
      };
    }
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

async function readXrootdPid(dir: string): Promise<number | undefined> {
  for (const p of [join(dir, 'admin', 'xrootd.pid')]) {
    try {
      const n = Number((await readFile(p, 'utf8')).trim());
      if (Number.isSafeInteger(n) && n > 1) return n;
    } catch {
      // try the next
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Reverse proxy
// ---------------------------------------------------------------------------------------------

export interface ProxyOptions {
  /** Added before each request is forwarded (ms). */
  delayMs?: number;
  /** Caps the response body rate of each response (bytes/s). */
  bytesPerSecond?: number;
  /** Asked once per request: true = send the headers and part of the body, then nothing more. */
  stall?: () => boolean;
  /** Body bytes sent before a stall (default: 16 KiB, at most half the body). */
  stallAfterBytes?: number;
  /** Forward requests without their Range header (the origin then answers 200 with the whole file). */
  stripRange?: boolean;
  /** Asked once per request: a status code to answer with instead of forwarding (e.g. 503), or undefined. */
  failWith?: () => number | undefined;
}

export interface ProxyHandle {
  /** `http://127.0.0.1:<port>` (no trailing slash); paths are forwarded as they are. */
  readonly url: string;
  readonly port: number;
  /** Live options: change them between requests. */
  readonly options: ProxyOptions;
  /** Requests received. */
  readonly requests: number;
  /** Every request: path and Range header (as received; null when absent), and the header's name as spelt. */
  readonly requestLog: { path: string; range: string | null; rangeHeaderName: string | null }[];
  /** TCP connections accepted from clients. */
  readonly connections: number;
  /** Requests being handled now, and the most there ever were at once. */
  readonly inFlight: number;
  readonly maxInFlight: number;
  /** Responses deliberately stalled. */
  readonly stalls: number;
  stop(): Promise<void>;
}

/** A node:http reverse proxy in front of `target` (an http://host:port base URL). */
export async function startProxy(target: string, o: ProxyOptions = {}): Promise<ProxyHandle> {
  const t = new URL(target);
  const options: ProxyOptions = { ...o };
  const upstream = new HttpAgent({ keepAlive: true, maxSockets: 64 });
  const sockets = new Set<Socket>();
  const held = new Set<ServerResponse>();
  const state = { requests: 0, connections: 0, inFlight: 0, maxInFlight: 0, stalls: 0 };
  const requestLog: ProxyHandle['requestLog'] = [];
  let closing = false;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    state.requests++;
    state.inFlight++;
    state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      state.inFlight--;
    };
    res.on('close', finish);
    let rangeName: string | null = null;
    let range: string | null = null;
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      if (req.rawHeaders[i]!.toLowerCase() === 'range') {
        rangeName = req.rawHeaders[i]!;
        range = req.rawHeaders[i + 1]!;
      }
    }
    requestLog.push({ path: req.url ?? '/', range, rangeHeaderName: rangeName });
    const stall = options.stall?.() ?? false;
    const failStatus = options.failWith?.();
    if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
    if (closing || res.destroyed) return;
    if (failStatus !== undefined) {
      res.writeHead(failStatus, { 'Content-Length': '0' });
      res.end();
      return;
    }
    // Forward the raw headers (names as spelt: XRootD is case-sensitive), minus hop-by-hop ones.
    const headers: string[] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i]!;
      const lower = name.toLowerCase();
      if (lower === 'connection' || lower === 'keep-alive' || lower === 'host') continue;
      if (lower === 'range' && options.stripRange) continue;
      headers.push(name, req.rawHeaders[i + 1]!);
    }
    headers.push('Host', t.host);
    const up = httpRequest(
      { protocol: t.protocol, hostname: t.hostname, port: t.port, method: req.method, path: req.url, headers: headers as unknown as Record<string, string>, agent: upstream },
      (ur) => {
        const raw: string[] = [];
        for (let i = 0; i < ur.rawHeaders.length; i += 2) {
          const lower = ur.rawHeaders[i]!.toLowerCase();
          if (lower === 'connection' || lower === 'keep-alive' || lower === 'transfer-encoding') continue;
          raw.push(ur.rawHeaders[i]!, ur.rawHeaders[i + 1]!);
        }
        res.writeHead(ur.statusCode ?? 502, raw as unknown as Record<string, string>);
        const contentLength = Number(ur.headers['content-length'] ?? NaN);
        const stallAt = stall ? Math.max(1, Math.min(options.stallAfterBytes ?? 16 * 1024, Number.isFinite(contentLength) ? Math.floor(contentLength / 2) : Infinity)) : Infinity;
        if (stall) state.stalls++;
        const started = performance.now();
        let sent = 0;
        ur.on('data', (chunk: Buffer) => {
          if (res.destroyed) return;
          if (sent >= stallAt) return;
          let part = chunk;
          if (sent + part.length > stallAt) part = part.subarray(0, stallAt - sent);
          sent += part.length;
          res.write(part);
          if (sent >= stallAt) {
            // Hold the response open with nothing more to send; drop the upstream side.
            held.add(res);
            res.on('close', () => held.delete(res));
            ur.destroy();
            return;
          }
          const bps = options.bytesPerSecond;
          if (bps !== undefined && bps > 0) {
            const dueMs = (sent / bps) * 1000 - (performance.now() - started);
            if (dueMs > 1) {
              ur.pause();
              setTimeout(() => ur.resume(), dueMs);
            }
          }
        });
        ur.on('end', () => {
          if (sent < stallAt) res.end();
        });
        ur.on('error', () => res.destroy());
      },
    );
    up.on('error', () => {
      if (!res.headersSent) {
        res.writeHead(502, { 'Content-Length': '0' });
        res.end();
      } else res.destroy();
    });
    req.pipe(up);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  server.keepAliveTimeout = 75_000;
  server.on('connection', (s: Socket) => {
    state.connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolveListen());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  let stopped: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    options,
    get requests() {
      return state.requests;
    },
    requestLog,
    get connections() {
      return state.connections;
    },
    get inFlight() {
      return state.inFlight;
    },
    get maxInFlight() {
      return state.maxInFlight;
    },
    get stalls() {
      return state.stalls;
    },
    stop(): Promise<void> {
      stopped ??= (async () => {
        closing = true;
        const closed = new Promise<void>((r) => server.close(() => r()));
        for (const r of held) r.destroy();
        for (const s of sockets) s.destroy();
        upstream.destroy();
        await closed;
      })();
      return stopped;
    },
  };
}
