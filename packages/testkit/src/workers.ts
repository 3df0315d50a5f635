/**
 * Real worker processes: the `ess-worker` CLI from source (through tsx), as a separate OS
 * process with its own socket, so tests exercise exactly what operators run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const WORKER_CLI = fileURLToPath(new URL('../../client/src/cli/main.ts', import.meta.url));
export const ESS_CLI = fileURLToPath(new URL('../../server/src/cli/main.ts', import.meta.url));

/** Node arguments that run a TypeScript entry point of this repository from source. */
export const FROM_SOURCE = ['--conditions=source', '--import', 'tsx'];

export interface ProcessHandle {
  readonly child: ChildProcess;
  /** Resolves when the process exits. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  kill(signal?: NodeJS.Signals): void;
}

/** Runs a TypeScript CLI of this repository from source. */
export function runFromSource(entry: string, args: readonly string[], env: Record<string, string> = {}): ProcessHandle {
  const child = spawn(process.execPath, [...FROM_SOURCE, entry, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    exited,
    output: () => out,
    kill: (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}

export interface WorkerProcessOptions {
  readonly server: string;
  readonly task?: number;
  readonly outDir: string;
  readonly id?: string;
  readonly extra?: readonly string[];
  readonly env?: Record<string, string>;
}

/** Starts `ess-worker` against a node. */
export function spawnWorker(o: WorkerProcessOptions): ProcessHandle {
  const args = ['--server', o.server, '--out', o.outDir, '--log-level', 'warn', '--no-progress'];
  if (o.task !== undefined) args.push('--task', String(o.task));
  if (o.id) args.push('--id', o.id);
  return runFromSource(WORKER_CLI, [...args, ...(o.extra ?? [])], o.env);
}

/** Kills a process with SIGKILL and resolves once it has exited (for teardown). */
export async function killNow(p: ProcessHandle): Promise<void> {
  p.kill('SIGKILL');
  await p.exited;
}
