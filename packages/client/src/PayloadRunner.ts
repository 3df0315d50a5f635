/**
 * Runs the payload on each finished range file: `--exec 'cmd {file}'` through the shell (the path
 * also in $ESS_RANGE_FILE), at most `slots` at a time, in arrival order. Exit 0 means finished;
 * anything else means failed.
 */
import { spawn } from 'node:child_process';

export interface PayloadResult {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  /** The last lines the payload wrote to stderr, for the failure report. */
  readonly stderrTail: string;
  readonly ms: number;
}

/** Quotes a path for a POSIX shell. */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

export class PayloadRunner {
  private running = 0;
  private readonly queue: (() => void)[] = [];
  private readonly children = new Set<ReturnType<typeof spawn>>();

  constructor(
    private readonly command: string,
    private readonly slots: number,
  ) {
    if (command.trim() === '') throw new Error('the payload command is empty');
    if (!Number.isInteger(slots) || slots < 1) throw new Error('payload slots must be a positive integer');
  }

  /** Waits for a free slot, then runs the payload; `started` is called when it starts. */
  async run(file: string, env: Record<string, string>, started?: () => void): Promise<PayloadResult> {
    if (this.running >= this.slots) await new Promise<void>((resolve) => this.queue.push(resolve));
    this.running++;
    started?.();
    const t0 = performance.now();
    try {
      return await new Promise<PayloadResult>((resolve) => {
        const child = spawn('/bin/sh', ['-c', this.command.replaceAll('{file}', shellQuote(file))], {
          stdio: ['ignore', 'inherit', 'pipe'],
          env: { ...process.env, ...env, ESS_RANGE_FILE: file },
        });
        this.children.add(child);
        let tail = '';
        child.stderr?.on('data', (d: Buffer) => {
          process.stderr.write(d);
          tail = (tail + d.toString()).slice(-2000);
        });
        const finish = (exitCode: number | null, signal: NodeJS.Signals | null) => {
          this.children.delete(child);
          resolve({ exitCode, signal, stderrTail: tail.trim().split('\n').slice(-5).join('\n'), ms: performance.now() - t0 });
        };
        child.on('error', (e) => {
          tail += e.message;
          finish(127, null);
        });
        child.on('close', finish);
      });
    } finally {
      this.running--;
      this.queue.shift()?.();
    }
  }

  /** Kills running payloads (used when the worker is stopped). */
  killAll(signal: NodeJS.Signals = 'SIGTERM'): void {
    for (const c of this.children) c.kill(signal);
  }
}
