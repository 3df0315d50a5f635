/** Forked agent processes (procs/agent.ts) and the calls the scenarios make on them. */
import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { nodeArgs, type Bundle } from './build.js';
import { SERVER_PKG, TESTKIT_PKG } from './paths.js';
import type { AgentCommand, AgentMessage } from '../procs/messages.js';

/** Paths of npm packages the agents load at run time (dependencies of testkit and server, not of bench). */
export function agentEnv(): Record<string, string> {
  const fromTestkit = createRequire(join(TESTKIT_PKG, 'package.json'));
  const fromServer = createRequire(join(SERVER_PKG, 'package.json'));
  return {
    ESS_BENCH_WS: fromTestkit.resolve('ws'),
    ESS_BENCH_UNDICI: fromServer.resolve('undici'),
    ESS_BENCH_UWS: fromServer.resolve('@trufflesuite/uws-js-unofficial'),
  };
}

export interface RangeEvents {
  ranges: number;
  bytes: number;
  events: number;
}

export class Agent {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  /** Called for every batch of finished ranges. */
  onRanges: ((r: RangeEvents) => void) | null = null;
  readonly exited: Promise<void>;

  constructor(
    readonly index: number,
    readonly child: ChildProcess,
  ) {
    child.on('message', (m: AgentMessage) => {
      if ('ev' in m) {
        if (m.ev === 'ranges') this.onRanges?.(m);
        else process.stderr.write(`[agent ${index}] ${m.message}\n`);
        return;
      }
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.ok) w.resolve(m.result);
      else w.reject(new Error(`agent ${index}: ${m.error}`));
    });
    this.exited = new Promise((r) =>
      child.once('exit', () => {
        for (const w of this.waiting.values()) w.reject(new Error(`agent ${index} exited`));
        this.waiting.clear();
        r();
      }),
    );
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  call<T>(c: AgentCommand): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, c });
    });
  }
}

export class AgentPool {
  readonly agents: Agent[] = [];

  constructor(private readonly program: Bundle) {}

  /** Makes sure at least `n` agents run (started `parallel` at a time). */
  async ensure(n: number, parallel = 4): Promise<Agent[]> {
    const env = { ...process.env, ...agentEnv() };
    const start = async (i: number) => {
      const args = nodeArgs(this.program);
      const script = args[args.length - 1]!;
      const child = fork(script, [], {
        execArgv: args.slice(0, -1),
        env: { ...env, ESS_BENCH_AGENT: String(i) },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        serialization: 'advanced',
      });
      const a = new Agent(i, child);
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', () => resolve());
        child.once('error', reject);
      });
      this.agents[i] = a;
    };
    const todo: number[] = [];
    for (let i = this.agents.length; i < n; i++) todo.push(i);
    let k = 0;
    await Promise.all(
      Array.from({ length: Math.min(parallel, todo.length) }, async () => {
        while (k < todo.length) await start(todo[k++]!);
      }),
    );
    // A round trip to each proves it loaded.
    await Promise.all(this.agents.slice(0, n).map((a) => a.call({ cmd: 'ess-stats' })));
    return this.agents.slice(0, n);
  }

  async close(): Promise<void> {
    await Promise.all(
      this.agents.map(async (a) => {
        if (a.child.exitCode !== null || a.child.signalCode !== null) return;
        const timer = setTimeout(() => a.child.kill('SIGKILL'), 5000);
        a.call({ cmd: 'exit' }).catch(() => undefined);
        await a.exited;
        clearTimeout(timer);
      }),
    );
    this.agents.length = 0;
  }
}
