/** Grouped bar charts as plain SVG (no dependencies), stacked into one figure. */

export interface BarPanel {
  readonly title: string;
  readonly yLabel: string;
  /** Labels of the groups along the x axis. */
  readonly groups: readonly string[];
  /** One bar per series in every group; NaN leaves a gap. */
  readonly series: readonly { readonly label: string; readonly values: readonly number[] }[];
}

const COLORS = ['#1f77b4', '#7f7f7f', '#2ca02c', '#98df8a', '#d62728', '#ff9896', '#9467bd', '#c5b0d5', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function panel(p: BarPanel, y0: number, width: number): { svg: string; height: number } {
  const left = 60;
  const right = 330;
  const top = 30;
  const plotH = 220;
  const plotW = width - left - right;
  const max = niceMax(Math.max(0, ...p.series.flatMap((s) => s.values.filter((v) => Number.isFinite(v)))));
  const groupW = plotW / Math.max(1, p.groups.length);
  const barW = Math.max(2, (groupW * 0.8) / Math.max(1, p.series.length));
  const out: string[] = [];
  out.push(`<g transform="translate(0,${y0})">`);
  out.push(`<text x="${left}" y="18" font-size="14" font-weight="bold">${esc(p.title)}</text>`);
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    const y = top + plotH - (plotH * i) / 4;
    out.push(`<line x1="${left}" x2="${left + plotW}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
    out.push(`<text x="${left - 6}" y="${y + 4}" font-size="11" text-anchor="end">${+v.toPrecision(3)}</text>`);
  }
  out.push(`<text transform="translate(14,${top + plotH / 2}) rotate(-90)" font-size="12" text-anchor="middle">${esc(p.yLabel)}</text>`);
  p.groups.forEach((g, gi) => {
    const gx = left + gi * groupW + groupW * 0.1;
    p.series.forEach((s, si) => {
      const v = s.values[gi];
      if (v === undefined || !Number.isFinite(v)) return;
      const h = (plotH * Math.min(v, max)) / max;
      const x = gx + si * barW;
      out.push(`<rect x="${x.toFixed(1)}" y="${(top + plotH - h).toFixed(1)}" width="${(barW - 1).toFixed(1)}" height="${h.toFixed(1)}" fill="${COLORS[si % COLORS.length]}"><title>${esc(`${s.label}, ${g}: ${+v.toPrecision(3)}`)}</title></rect>`);
    });
    out.push(`<text x="${left + gi * groupW + groupW / 2}" y="${top + plotH + 16}" font-size="12" text-anchor="middle">${esc(g)}</text>`);
  });
  out.push(`<line x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}" stroke="#333"/>`);
  p.series.forEach((s, si) => {
    const y = top + 4 + si * 17;
    out.push(`<rect x="${width - right + 12}" y="${y}" width="11" height="11" fill="${COLORS[si % COLORS.length]}"/>`);
    out.push(`<text x="${width - right + 28}" y="${y + 10}" font-size="11">${esc(s.label)}</text>`);
  });
  out.push('</g>');
  return { svg: out.join('\n'), height: top + plotH + 40 + Math.max(0, p.series.length * 17 - plotH) };
}

export function figure(panels: readonly BarPanel[], caption: string, width = 1000): string {
  const parts: string[] = [];
  let y = 0;
  for (const p of panels) {
    const r = panel(p, y, width);
    parts.push(r.svg);
    y += r.height + 10;
  }
  parts.push(`<text x="10" y="${y + 4}" font-size="11" fill="#555">${esc(caption)}</text>`);
  const height = y + 16;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`;
}
