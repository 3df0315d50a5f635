/** The peers: Debian's nginx and XRootD serving the datasets folder, their server processes, and whole-file copies with curl and xrdcp. */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { startNginx, startXrootd, type NginxHandle, type XrootdHandle } from '@ess/testkit';
import type { BenchDataset } from './data.js';

export interface Origins {
  readonly nginx: NginxHandle;
  readonly xrootd: XrootdHandle;
  /** Pid of nginx's master (its workers are its children). */
  readonly nginxPid: number;
  /** Pid of the xrootd daemon. */
  readonly xrootdPid: number;
  stop(): Promise<void>;
}

function pidFile(path: string): number {
  const n = Number(readFileSync(path, 'utf8').trim());
  if (!Number.isSafeInteger(n) || n <= 1) throw new Error(`no pid in ${path}`);
  return n;
}

export async function startOrigins(root: string): Promise<Origins> {
  const nginx = await startNginx(root);
  const xrootd = await startXrootd(root).catch(async (e: unknown) => {
    await nginx.stop();
    throw e;
  });
  return {
    nginx,
    xrootd,
    nginxPid: pidFile(join(dirname(nginx.errorLog), 'nginx.pid')),
    xrootdPid: pidFile(join(dirname(xrootd.logFile), 'xrootd.pid')),
    async stop() {
      await Promise.all([nginx.stop(), xrootd.stop()]);
    },
  };
}

function run(cmd: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.on('error', reject);
    c.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${err.slice(-500)}`))));
  });
}

export interface CopyJob {
  readonly lfn: string;
  readonly size: number;
  readonly events: number;
}

/** The dataset's whole files, `passes` times over. */
export function copyJobs(ds: BenchDataset, passes: number): CopyJob[] {
  const files = ds.manifest.files.map((f) => ({ lfn: f.lfn, size: f.size, events: f.events }));
  return Array.from({ length: passes }, () => files).flat();
}

/** One curl process per slot, fetching its files back to back on one kept-alive connection, to /dev/null. Returns bytes received. */
export async function curlSlot(baseUrl: string, relDir: string, jobs: readonly CopyJob[]): Promise<number> {
  if (jobs.length === 0) return 0;
  const args = ['-s', '--fail', '-w', '%{size_download}\\n'];
  for (const j of jobs) args.push('-o', '/dev/null', `${baseUrl}/${relDir}/${j.lfn}`);
  const out = await run('curl', args);
  return out
    .split(/\\n|\n/)
    .filter((l) => l.trim() !== '')
    .reduce((a, l) => a + Number(l), 0);
}

/** One xrdcp per file (as users run it), back to back in a slot, to /dev/null. */
export async function xrdcpSlot(rootUrl: string, relDir: string, jobs: readonly CopyJob[]): Promise<number> {
  let bytes = 0;
  for (const j of jobs) {
    await run('xrdcp', ['-s', '-f', `${rootUrl}/${relDir}/${j.lfn}`, '/dev/null']);
    bytes += j.size;
  }
  return bytes;
}
