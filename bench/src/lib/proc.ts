/** Process figures from /proc: CPU seconds (utime + stime) and RSS of a process or of its whole tree, and the machine. */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { cpus, totalmem, release } from 'node:os';

let tck: number | undefined;
/** Clock ticks per second (getconf CLK_TCK). */
export function clockTicks(): number {
  if (tck === undefined) {
    try {
      tck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      tck = 100;
    }
  }
  return tck;
}

interface Stat {
  pid: number;
  ppid: number;
  /** utime + stime, ticks. */
  ticks: number;
  /** cutime + cstime: children that exited and were waited for, ticks. */
  childTicks: number;
}

function readStat(pid: number): Stat | null {
  let s: string;
  try {
    s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name is in parentheses and may hold spaces: fields start after the last ')'.
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  // f[0] = state (field 3); utime is field 14 → f[11]; stime f[12]; cutime f[13]; cstime f[14]; ppid field 4 → f[1]
  return { pid, ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]), childTicks: Number(f[13]) + Number(f[14]) };
}

/** CPU seconds a process has used (itself only). */
export function cpuSeconds(pid: number): number {
  const s = readStat(pid);
  return s ? s.ticks / clockTicks() : 0;
}

function allStats(): Stat[] {
  const out: Stat[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const s = readStat(Number(e));
    if (s) out.push(s);
  }
  return out;
}

/** Pids of `root` and all its live descendants. */
export function treePids(root: number): number[] {
  const stats = allStats();
  const kids = new Map<number, number[]>();
  for (const s of stats) {
    const l = kids.get(s.ppid) ?? [];
    l.push(s.pid);
    kids.set(s.ppid, l);
  }
  const out: number[] = [];
  const walk = (p: number) => {
    out.push(p);
    for (const c of kids.get(p) ?? []) walk(c);
  };
  if (stats.some((s) => s.pid === root)) walk(root);
  return out;
}

/**
 * CPU seconds of a process tree: every live member's own time plus what its exited, waited-for
 * children used. Take it twice and subtract; members that exit in between are still counted
 * through their parent's cutime/cstime.
 */
export function treeCpuSeconds(root: number): number {
  let t = 0;
  for (const pid of treePids(root)) {
    const s = readStat(pid);
    if (s) t += s.ticks + s.childTicks;
  }
  return t / clockTicks();
}

/** Resident set size in bytes (VmRSS), 0 if the process is gone. */
export function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Busy and total CPU time of the whole machine so far (from /proc/stat), in seconds. */
export function machineCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: (total - idle) / clockTicks(), total: total / clockTicks() };
}

/** CPU seconds used so far by this process and every descendant (live or reaped). */
export function ownCpuSeconds(): number {
  return treeCpuSeconds(process.pid);
}

export interface MachineInfo {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memGiB: number;
  readonly kernel: string;
  readonly node: string;
  readonly loadavg: string;
  readonly freeLine: string;
}

export function machineInfo(): MachineInfo {
  let freeLine = '';
  try {
    freeLine = execFileSync('free', ['-m'], { encoding: 'utf8' }).split('\n')[1]?.replace(/\s+/g, ' ').trim() ?? '';
  } catch {
    // no free(1)
  }
  const model = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model ?? 'unknown';
  return {
    cpuModel: model.trim(),
    cores: cpus().length,
    memGiB: totalmem() / 2 ** 30,
    kernel: release(),
    node: process.version,
    loadavg: readFileSync('/proc/loadavg', 'utf8').trim(),
    freeLine,
  };
}

/** Samples a process's RSS every `everyMs` until stopped; returns the samples (bytes) with their times (ms). */
export function sampleRss(pid: number, everyMs: number): { stop(): { t: number; rss: number }[] } {
  const samples: { t: number; rss: number }[] = [];
  const t0 = performance.now();
  const take = () => samples.push({ t: performance.now() - t0, rss: rssBytes(pid) });
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return samples;
    },
  };
}
