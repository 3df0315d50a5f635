/** Medians and spreads of repeated measurements. */

export interface Summary {
  readonly n: number;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** Half the min–max range relative to the median (0.05 = ±5 %); 0 for one value. */
  readonly spread: number;
  readonly values: readonly number[];
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function summarize(values: readonly number[]): Summary {
  const v = values.filter((x) => Number.isFinite(x));
  if (v.length === 0) return { n: 0, median: NaN, min: NaN, max: NaN, spread: 0, values: [] };
  const med = median(v);
  const min = Math.min(...v);
  const max = Math.max(...v);
  return { n: v.length, median: med, min, max, spread: med !== 0 ? (max - min) / 2 / Math.abs(med) : 0, values: v };
}

/** `1.23 ±4%` (median and half-range over the median), or `1.23` for a single run. */
export function fmt(s: Summary | undefined, digits = 2): string {
  if (!s || s.n === 0 || !Number.isFinite(s.median)) return '–';
  const m = num(s.median, digits);
  if (s.n < 2) return m;
  return `${m} ±${Math.round(s.spread * 100)}%`;
}

/** A number with `digits` significant-ish decimals: 1234 → "1234", 1.234 → "1.23", 0.01234 → "0.0123". */
export function num(x: number, digits = 2): string {
  if (!Number.isFinite(x)) return '–';
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString('en-US');
  if (a >= 100) return x.toFixed(Math.max(0, digits - 2));
  if (a >= 10) return x.toFixed(Math.max(0, digits - 1));
  if (a >= 1 || a === 0) return x.toFixed(digits);
  const lead = Math.floor(-Math.log10(a));
  return x.toFixed(lead + digits);
}

/** Ratio of two medians taken within one run, as "0.62×". */
export function ratio(a: Summary | undefined, b: Summary | undefined): string {
  if (!a || !b || !(a.median > 0) || !(b.median > 0)) return '–';
  return `${num(a.median / b.median, 2)}×`;
}

/** Per-repetition ratios a[i]/b[i] (same repetition = same conditions), summarized. */
export function pairedRatio(a: Summary | undefined, b: Summary | undefined): Summary | undefined {
  if (!a || !b || a.values.length !== b.values.length || a.values.length === 0) return undefined;
  return summarize(a.values.map((x, i) => x / b.values[i]!));
}

/** `0.62× (±5%)`: a ratio with its spread, for prose. */
export function fmtRatio(s: Summary | undefined): string {
  if (!s || s.n === 0 || !Number.isFinite(s.median)) return '–';
  return s.n < 2 ? `${num(s.median)}×` : `${num(s.median)}× (±${Math.round(s.spread * 100)}%)`;
}

/** `0.23 GB/s (±5%)`: a value with a unit and its spread, for prose. */
export function fmtUnit(s: Summary | undefined, unit: string, digits = 2): string {
  if (!s || s.n === 0 || !Number.isFinite(s.median)) return '–';
  return s.n < 2 ? `${num(s.median, digits)} ${unit}` : `${num(s.median, digits)} ${unit} (±${Math.round(s.spread * 100)}%)`;
}
