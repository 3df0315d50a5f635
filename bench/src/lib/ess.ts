/**
 * An `ess serve` node as a separate process (so its CPU time and RSS are its own), from the built
 * CLI when dist/ is current, else from the sources through tsx; plus the HTTP API calls the
 * scenarios need.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '@ess/testkit';
import { REPO, SERVER_PKG, distIsFresh } from './paths.js';

export type ServerRuntime = 'dist' | 'source';

let runtime: ServerRuntime | undefined;
/** Which code the server processes run; decided once per benchmark run. */
export function serverRuntime(): ServerRuntime {
  runtime ??= distIsFresh().fresh ? 'dist' : 'source';
  return runtime;
}

export function serverCommand(): string[] {
  return serverRuntime() === 'dist'
    ? [join(SERVER_PKG, 'dist', 'cli', 'main.js')]
    : ['--conditions=source', '--import', 'tsx', join(SERVER_PKG, 'src', 'cli', 'main.ts')];
}

export interface EssOptions {
  readonly dataDir: string;
  /** More `ess serve` flags. */
  readonly args?: readonly string[];
  /** Write a CPU profile (node --cpu-prof) into this folder when the server exits. */
  readonly cpuProfDir?: string;
  /** More environment variables for the node process. */
  readonly env?: Record<string, string>;
}

/**
 * glibc malloc settings that keep freed 1 MiB buffers in the heap for reuse instead of returning
 * them to the kernel (mmap/munmap or trimming) and faulting fresh pages in for the next one.
 */
export const MALLOC_TUNABLES = 'glibc.malloc.mmap_threshold=4194304:glibc.malloc.trim_threshold=268435456';

export class EssProcess {
  private out = '';
  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {
    child.stdout?.on('data', (d: Buffer) => (this.out = (this.out + d.toString()).slice(-20_000)));
    child.stderr?.on('data', (d: Buffer) => (this.out = (this.out + d.toString()).slice(-20_000)));
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }
  get httpUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}`;
  }
  output(): string {
    return this.out;
  }

  static async start(o: EssOptions): Promise<EssProcess> {
    mkdirSync(o.dataDir, { recursive: true });
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const nodeArgs = [...(o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`] : []), ...serverCommand()];
      const args = ['serve', '--data', o.dataDir, '--port', String(port), '--log-level', 'warn', '--insecure-no-auth', ...(o.args ?? [])];
      const child = spawn(process.execPath, [...nodeArgs, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...o.env } });
      const p = new EssProcess(child, port);
      const deadline = Date.now() + 30_000;
      for (;;) {
        if (child.exitCode !== null) break;
        try {
          const r = await fetch(`${p.httpUrl}/healthz`);
          if (r.ok) return p;
        } catch {
          // not up yet
        }
        if (Date.now() > deadline) {
          child.kill('SIGKILL');
          throw new Error(`ess serve did not come up in 30 s: ${p.out.slice(-2000)}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      if (attempt >= 3 || !/in use|not available/.test(p.out)) throw new Error(`ess serve exited (${child.exitCode}): ${p.out.slice(-2000)}`);
    }
  }

  async api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const r = await fetch(this.httpUrl + path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const json = (await r.json()) as T;
    if (r.status < 200 || r.status > 299) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(json)}`);
    return json;
  }

  createTask(dataset: string, rangeSize: number, label = ''): Promise<{ id: number; rangesTotal: number; eventsTotal: number }> {
    return this.api('POST', '/api/v1/tasks', { dataset, rangeSize, label });
  }

  async health(): Promise<{ workers: number }> {
    return this.api('GET', '/healthz');
  }

  /** Prometheus samples, by metric name with labels (`name{a="b"}`) → value. */
  async metrics(): Promise<Map<string, number>> {
    const r = await fetch(`${this.httpUrl}/metrics`);
    const m = new Map<string, number>();
    for (const line of (await r.text()).split('\n')) {
      if (line.startsWith('#') || line.trim() === '') continue;
      const i = line.lastIndexOf(' ');
      m.set(line.slice(0, i), Number(line.slice(i + 1)));
    }
    return m;
  }

  /** Waits until the node counts `n` connected workers. */
  async waitWorkers(n: number, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const h = await this.health();
      if (h.workers >= n) return;
      if (Date.now() > deadline) throw new Error(`only ${h.workers} of ${n} workers connected`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
}
