/** Starts the bare uWebSockets.js ceiling server (procs/ceiling.ts) as its own process and loads a dataset's chunk frames into it. */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from '@ess/testkit';
import { agentEnv } from './agents.js';
import { nodeArgs, type Bundle } from './build.js';
import type { BenchDataset } from './data.js';

export class CeilingProcess {
  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {}

  get pid(): number {
    return this.child.pid ?? -1;
  }
  get url(): string {
    return `ws://127.0.0.1:${this.port}/`;
  }

  static async start(program: Bundle, ds: BenchDataset): Promise<CeilingProcess> {
    const port = await freePort();
    const args = nodeArgs(program);
    const child = fork(args[args.length - 1]!, [String(port)], { execArgv: args.slice(0, -1), env: { ...process.env, ...agentEnv() }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const next = () =>
      new Promise<Record<string, unknown>>((resolve, reject) => {
        child.once('message', (m: Record<string, unknown>) => resolve(m));
        child.once('exit', (code) => reject(new Error(`ceiling server exited (${code})`)));
      });
    const listening = await next();
    if (listening.ok === false) throw new Error(String(listening.error));
    const byFile = new Map<number, { path: string; chunks: unknown[] }>();
    for (const r of ds.ranges) {
      let f = byFile.get(r.file);
      if (!f) byFile.set(r.file, (f = { path: join(ds.dir, r.lfn), chunks: [] }));
      f.chunks.push(...r.chunks);
    }
    const loaded = next();
    child.send({ cmd: 'load', files: [...byFile.values()] });
    const m = await loaded;
    if (m.ok !== true) throw new Error(`ceiling load failed: ${String(m.error)}`);
    return new CeilingProcess(child, port);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill('SIGTERM');
    await exited;
  }
}
