/**
 * A real redis-server (Debian's) for tests and benchmarks: started on a free loopback port below 32000, with its
 * data in a temporary directory, AOF on with `appendfsync always`, no RDB snapshots and
 * `maxmemory-policy noeviction` (what the Redis ledger requires) unless `args` say otherwise.
 * `kill()` is a real SIGKILL; `restart()` starts it again on the same port from the same
 * directory (so from its AOF).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './origins.js';

export interface RedisServerOptions {
  /** Extra redis-server arguments (`['--maxmemory-policy', 'allkeys-lru']`, `['--replicaof', '127.0.0.1', '1234']`). */
  readonly args?: readonly string[];
  /** Run as a one-node Redis Cluster that owns all 16384 slots (refuses every cross-slot access). */
  readonly cluster?: boolean;
  /** `appendfsync` (default `always`). */
  readonly appendfsync?: 'always' | 'everysec' | 'no';
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  readonly pid: number;
  /** A new client connection (the caller closes it). */
  client(): Redis;
  /** SIGKILL, and waits until the process is gone. */
  kill(): Promise<void>;
  /** Starts redis-server again on the same port and directory (after `kill`). */
  restart(): Promise<void>;
  /** SIGTERM (or SIGKILL after 5 s), then removes the directory. */
  stop(): Promise<void>;
}

const REDIS_SERVER = process.env.ESS_REDIS_SERVER ?? '/usr/bin/redis-server';
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

/** Spawns redis-server and resolves once it accepts connections; rejects (with its output) when it exits first. */
function launch(port: number, dir: string, o: RedisServerOptions): Promise<ChildProcess> {
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--appendonly', 'yes',
    '--appendfsync', o.appendfsync ?? 'always',
    '--save', '',
    '--maxmemory-policy', 'noeviction',
    '--protected-mode', 'no',
    '--daemonize', 'no',
    '--logfile', '',
    ...(o.cluster ? ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf')] : []),
    ...(o.args ?? []),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let ready = false;
    const onData = (d: string): void => {
      out += d;
      if (!ready && /Ready to accept connections/.test(out)) {
        ready = true;
        running.add(child);
        resolve(child);
      }
    };
    child.stdout!.setEncoding('utf8').on('data', onData);
    child.stderr!.setEncoding('utf8').on('data', onData);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      running.delete(child);
      if (!ready) reject(new Error(`redis-server on port ${port} exited (${code ?? signal}) before it was ready:\n${out.slice(-2000)}`));
    });
  });
}

const exited = (c: ChildProcess): Promise<void> =>
  c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((resolve) => c.once('exit', () => resolve()));

export async function startRedis(o: RedisServerOptions = {}): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'ess-redis-'));
  let port = 0;
  let child: ChildProcess | null = null;
  for (let attempt = 0; child === null; attempt++) {
    port = await freePort();
    try {
      child = await launch(port, dir, o);
    } catch (e) {
      // Another process took the port between the probe and the bind: try another one.
      if (attempt >= 5 || !/Address already in use|bind/i.test(String(e))) {
        rmSync(dir, { recursive: true, force: true });
        throw e;
      }
    }
  }
  const url = `redis://127.0.0.1:${port}`;
  if (o.cluster) {
    const c = new Redis(url);
    try {
      await c.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
      for (let i = 0; ; i++) {
        const info = (await c.call('CLUSTER', 'INFO')) as string;
        if (/cluster_state:ok/.test(info)) break;
        if (i > 200) throw new Error(`one-node cluster on ${port} never became ok:\n${info}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    } finally {
      c.disconnect();
    }
  }
  let proc = child;
  const server: RedisServer = {
    port,
    url,
    dir,
    get pid() {
      return proc.pid!;
    },
    client: () => new Redis(url, { maxRetriesPerRequest: 1 }).on('error', () => {}),
    async kill() {
      proc.kill('SIGKILL');
      await exited(proc);
    },
    async restart() {
      proc = await launch(port, dir, o);
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const guard = setTimeout(() => proc.kill('SIGKILL'), 5_000);
        await exited(proc);
        clearTimeout(guard);
      }
      running.delete(proc);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}
