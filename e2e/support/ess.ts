/**
 * Real processes for end-to-end tests, from the built packages (what `pnpm build` produces and
 * operators run): `ess serve` on a free port, `ess gen`, `ess worker`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@ess/testkit';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
const ESS = join(REPO, 'packages/server/dist/cli/main.js');

export function tempDir(): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), 'ess-e2e-'));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export function gen(dataDir: string, dataset: string, files: number, events: number, sizeMean = '64KiB', seed = 1): void {
  const r = spawnSync(process.execPath, [ESS, 'gen', '--data', dataDir, '--dataset', dataset, '--files', String(files), '--events', String(events), '--size-mean', sizeMean, '--seed', String(seed)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ess gen failed: ${r.stderr}`);
}

export interface EssProcess {
  /** The generated admin token (the node runs with the default access control). */
  readonly token: string;
  /** The dashboard's address with the token. */
  readonly dashboard: string;
  readonly url: string;
  readonly wsUrl: string;
  readonly port: number;
  readonly child: ChildProcess;
  output(): string;
  /** SIGTERM, or SIGKILL with `kill9`; resolves when the process is gone. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

function track(child: ChildProcess): { output: () => string; exited: Promise<void> } {
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { output: () => out, exited };
}

/**
 * Starts `ess serve` on `port` (default: a free port below the ephemeral range, so that the same
 * port can be used again after a restart); resolves once it logs that it listens.
 */
export async function serve(dataDir: string, args: string[] = [], port?: number): Promise<EssProcess> {
  port ??= await freePort();
  const child = spawn(process.execPath, [ESS, 'serve', '--data', dataDir, '--port', String(port), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const t = track(child);
  const bound = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ess serve did not start:\n${t.output()}`)), 20_000);
    const onData = () => {
      for (const line of t.output().split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          const rec = JSON.parse(line) as { msg?: string; port?: number };
          if (rec.msg === 'listening' && rec.port) {
            clearTimeout(timer);
            child.stdout?.off('data', onData);
            resolve(rec.port);
            return;
          }
        } catch {
          // not a log line
        }
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', () => reject(new Error(`ess serve exited:\n${t.output()}`)));
  });
  const token = readFileSync(join(dataDir, 'state', 'admin.token'), 'utf8').trim();
  return {
    token,
    dashboard: `http://127.0.0.1:${bound}/?token=${token}`,
    url: `http://127.0.0.1:${bound}`,
    wsUrl: `ws://127.0.0.1:${bound}`,
    port: bound,
    child,
    output: t.output,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await t.exited;
    },
  };
}

export interface WorkerProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  output(): string;
  kill(signal?: NodeJS.Signals): void;
}

/** Starts `ess worker` against a node, with its token. */
export function worker(ess: EssProcess, outDir: string, id: string, args: string[] = []): WorkerProcess {
  const child = spawn(process.execPath, [ESS, 'worker', '--server', ess.wsUrl, '--token', ess.token, '--out', outDir, '--id', id, '--label', id, '--no-progress', '--log-level', 'warn', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const t = track(child);
  return {
    child,
    exited: t.exited,
    output: t.output,
    kill: (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}

/** POST /api/v1/tasks. */
export async function createTask(ess: EssProcess, dataset: string, rangeSize: number): Promise<number> {
  const res = await fetch(`${ess.url}/api/v1/tasks`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ess.token}` }, body: JSON.stringify({ dataset, rangeSize }) });
  if (res.status !== 201) throw new Error(`create task: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: number }).id;
}
