/** Writes BENCHMARKS.md and BENCHMARKS.svg from the sections the scenarios returned. */
import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { closingNote } from './analysis.js';
import type { BenchContext, Section } from './context.js';
import type { MachineInfo } from './proc.js';
import { figure, type BarPanel } from './svg.js';
import { markdown } from './table.js';

export interface RunInfo {
  readonly command: string;
  readonly quick: boolean;
  readonly reps: number;
  readonly startedAt: string;
  readonly wallSeconds: number;
  readonly machine: MachineInfo;
  readonly loadavgAfter: string;
  readonly machineBusyCpuSeconds: number;
  readonly benchCpuSeconds: number;
  readonly otherCpuSeconds: number;
  readonly machineCpuSeconds: number;
  readonly serverRuntime: 'dist' | 'source';
  readonly failures: readonly { readonly id: string; readonly error: string }[];
}

function plotPanels(ctx: BenchContext): BarPanel[] {
  const panels: BarPanel[] = [];
  const tp = ctx.raw.throughputPlot as { levels: number[]; series: { key: string; label: string; values: number[] }[] } | undefined;
  if (tp) {
    panels.push({
      title: 'Scenario 1: delivery throughput, cache-hot (median)',
      yLabel: 'GB/s',
      groups: tp.levels.map((n) => `${n} worker process${n > 1 ? 'es' : ''}`),
      series: tp.series,
    });
  }
  const lp = ctx.raw.latencyPlot as BarPanel | undefined;
  if (lp) panels.push(lp);
  return panels;
}

export function writeReport(out: string, info: RunInfo, sections: readonly Section[], ctx: BenchContext): void {
  const m = info.machine;
  const otherShare = info.machineCpuSeconds > 0 ? (100 * info.otherCpuSeconds) / info.machineCpuSeconds : 0;
  const svgName = basename(out).replace(/\.md$/, '') + '.svg';
  const panels = plotPanels(ctx);
  const lines: string[] = [];
  lines.push('# ESS benchmarks');
  lines.push('');
  lines.push(
    '_Written by `pnpm bench` (bench/src/main.ts); do not edit by hand — run it again. Benchmarks are not tests: nothing passes or fails on these numbers. ' +
      'Every figure is a median over repeated runs with its spread (±half the min–max range over the median); ratios are taken within one repetition of one run, then summarized the same way._',
  );
  lines.push('');
  lines.push('## How this run was made');
  lines.push('');
  lines.push(`- **Command**: \`${info.command}\` (from \`bench/\`; \`pnpm bench\` at the repository root does the same)${info.quick ? ' — the quick mode: smaller data, fewer levels' : ''}, ${info.reps} repetitions per figure.`);
  lines.push(`- **When**: started ${info.startedAt}, took ${(info.wallSeconds / 60).toFixed(1)} min.`);
  lines.push(`- **Machine**: ${m.cpuModel}, ${m.cores} cores (nproc), ${m.memGiB.toFixed(1)} GiB RAM (\`free -m\`: ${m.freeLine}), Linux ${m.kernel}, Node ${m.node}.`);
  lines.push(
    `- **Load**: load average ${m.loadavg.split(' ').slice(0, 3).join(' ')} before and ${info.loadavgAfter.split(' ').slice(0, 3).join(' ')} after; during the run the machine was busy ${info.machineBusyCpuSeconds.toFixed(0)} of ${info.machineCpuSeconds.toFixed(0)} CPU-seconds, of which processes outside this benchmark used ${info.otherCpuSeconds.toFixed(0)} (${otherShare.toFixed(0)} % of the machine) — ` +
      (otherShare > 5 ? 'other work shared the two cores, so absolute numbers are noisy; ratios within a repetition are the robust figures.' : 'the machine was otherwise quiet.'),
  );
  lines.push(
    `- **Code measured**: the ESS node ran ${info.serverRuntime === 'dist' ? 'the built CLI (`packages/server/dist`)' : 'from the current sources through tsx (`dist/` was older than `src/`; `pnpm build` first to measure the built CLI — the run-time code is the same, only start-up differs)'} as its own process; worker and agent processes are bundled from the current sources with esbuild. Everything runs on 127.0.0.1; clients and servers share the two cores.`,
  );
  lines.push('- **Origins**: Debian\'s nginx (1 worker process, sendfile) and XRootD 5.5.3 (`xrootd` with `XrdHttp`), started by `@ess/testkit` on the dataset folder; `curl` and `xrdcp` from Debian.');
  if (info.failures.length > 0) {
    lines.push('');
    lines.push('**Scenarios that failed in this run** (their sections are missing):');
    for (const f of info.failures) lines.push(`- \`${f.id}\`: ${f.error.split('\n')[0]}`);
  }
  lines.push('');
  lines.push('## Summary');
  lines.push('');
  lines.push(...closingNote(ctx, info));
  lines.push('');
  if (panels.length > 0) {
    lines.push(`![Main results](${svgName})`);
    lines.push('');
  }
  for (const s of sections) {
    lines.push(`## ${s.title}`);
    lines.push('');
    lines.push(s.intro + (s.seconds !== undefined ? ` _(This scenario took ${s.seconds.toFixed(0)} s.)_` : ''));
    lines.push('');
    for (const t of s.tables) {
      lines.push(`**${t.title}**`);
      lines.push('');
      lines.push(markdown(t));
      lines.push('');
      if (t.note) {
        lines.push(t.note);
        lines.push('');
      }
    }
    for (const n of s.notes) {
      lines.push(n);
      lines.push('');
    }
  }
  writeFileSync(out, lines.join('\n'));
  if (panels.length > 0) writeFileSync(out.replace(/\.md$/, '.svg'), figure(panels, `${info.command} — ${info.startedAt} — ${m.cpuModel}, ${m.cores} cores`));
}
