/** Markdown tables, printed as they are made and kept for BENCHMARKS.md. */

export interface Table {
  readonly title: string;
  readonly head: readonly string[];
  readonly rows: readonly (readonly string[])[];
  /** Said under the table. */
  readonly note?: string;
}

export function markdown(t: Table): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const lines = [`| ${t.head.map(esc).join(' | ')} |`, `|${t.head.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const r of t.rows) lines.push(`| ${r.map(esc).join(' | ')} |`);
  return lines.join('\n');
}

/** Plain-text rendering for the console. */
export function text(t: Table): string {
  const all = [t.head, ...t.rows];
  const w = t.head.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [`\n${t.title}`, line(t.head), w.map((n) => '-'.repeat(n)).join('  '), ...t.rows.map(line), ...(t.note ? [t.note] : [])].join('\n');
}
