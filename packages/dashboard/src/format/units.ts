/**
 * Numbers as a person reads them: bytes and rates in SI units (kB = 1000 B, as network rates are quoted),
 * event rates in k/M ev/s, ratios as %, durations and ages in words. Every formatter accepts null for "unknown".
 */

export const DASH = '—';

const SI_PREFIXES = ['', 'k', 'M', 'G', 'T', 'P', 'E'] as const;

function finite(n: number | null | undefined): n is number {
  return typeof n === 'number' && Number.isFinite(n);
}

/** Three significant digits, no trailing ".0" noise for integers below 10 of the base unit. */
function sig3(v: number): string {
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/** Scales a value to its SI prefix: 12_300_000 → { value: 12.3, prefix: 'M' }. */
export function siScale(n: number): { value: number; prefix: string } {
  let value = n;
  let i = 0;
  while (Math.abs(value) >= 999.5 && i < SI_PREFIXES.length - 1) {
    value /= 1000;
    i++;
  }
  return { value, prefix: SI_PREFIXES[i] ?? '' };
}

/** 0 → "0 B", 512 → "512 B", 1_534 → "1.53 kB", 12_345_678 → "12.3 MB". */
export function formatBytes(n: number | null | undefined): string {
  if (!finite(n)) return DASH;
  if (Math.abs(n) < 1000) return `${Math.round(n)} B`;
  const { value, prefix } = siScale(n);
  return `${sig3(value)} ${prefix}B`;
}

/**
 * A part of a whole in bytes, sharing the unit when both have the same one:
 * (35_900_000, 67_100_000) → "35.9 / 67.1 MB"; (512_000, 67_100_000) → "512 kB / 67.1 MB".
 */
export function formatBytesOf(part: number | null | undefined, whole: number | null | undefined): string {
  if (!finite(part) || !finite(whole)) return `${formatBytes(part)} / ${formatBytes(whole)}`;
  const a = formatBytes(part);
  const b = formatBytes(whole);
  const unitA = a.slice(a.indexOf(' '));
  const unitB = b.slice(b.indexOf(' '));
  return unitA === unitB ? `${a.slice(0, a.indexOf(' '))} / ${b}` : `${a} / ${b}`;
}

/** Bytes per second: 12_300_000 → "12.3 MB/s". */
export function formatByteRate(bytesPerSecond: number | null | undefined): string {
  if (!finite(bytesPerSecond)) return DASH;
  return `${formatBytes(bytesPerSecond)}/s`;
}

/** Events per second: 850 → "850 ev/s", 4_520 → "4.52 k ev/s", 1_200_000 → "1.20 M ev/s". */
export function formatEventRate(eventsPerSecond: number | null | undefined): string {
  if (!finite(eventsPerSecond)) return DASH;
  const a = Math.abs(eventsPerSecond);
  if (a < 10 && a !== 0 && a !== Math.round(a)) return `${eventsPerSecond.toFixed(1)} ev/s`;
  if (a < 1000) return `${Math.round(eventsPerSecond)} ev/s`;
  const { value, prefix } = siScale(eventsPerSecond);
  return `${sig3(value)} ${prefix} ev/s`;
}

/** A count compactly: 999 → "999", 12_345 → "12.3 k", 4_200_000 → "4.20 M". */
export function formatCompact(n: number | null | undefined): string {
  if (!finite(n)) return DASH;
  if (Math.abs(n) < 1000) return String(Math.round(n));
  const { value, prefix } = siScale(n);
  return `${sig3(value)} ${prefix}`;
}

const grouped = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** A count in full with thousands separators: 1234567 → "1,234,567". */
export function formatCount(n: number | null | undefined): string {
  if (!finite(n)) return DASH;
  return grouped.format(n);
}

/** A ratio in [0, 1] as a percentage: 0.923 → "92.3%"; exact 0 and 1 without decimals. */
export function formatPercent(ratio: number | null | undefined, digits = 1): string {
  if (!finite(ratio)) return DASH;
  const pct = ratio * 100;
  if (pct === 0 || pct === 100) return `${pct}%`;
  // Never round a near-complete value up to "100%" or a tiny one down to "0%": both would lie.
  const fixed = pct.toFixed(digits);
  if (Number(fixed) >= 100 && pct < 100) return `>${(100 - 10 ** -digits).toFixed(digits)}%`;
  if (Number(fixed) <= 0 && pct > 0) return `<${(10 ** -digits).toFixed(digits)}%`;
  return `${fixed}%`;
}

/** A duration in seconds: 45 → "45 s", 200 → "3 min 20 s", 7_500 → "2 h 05 min", 200_000 → "2 d 7 h". */
export function formatDuration(seconds: number | null | undefined): string {
  if (!finite(seconds) || seconds < 0) return DASH;
  if (seconds < 1) return seconds === 0 ? '0 s' : '<1 s';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) {
    const m = Math.floor(s / 60);
    const r = s % 60;
    return r === 0 ? `${m} min` : `${m} min ${r} s`;
  }
  if (s < 86_400) {
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    return `${h} h ${String(m).padStart(2, '0')} min`;
  }
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  return h === 0 ? `${d} d` : `${d} d ${h} h`;
}

/** How long ago, from an age in ms: 400 → "just now", 5_000 → "5 s ago", 200_000 → "3 min ago". */
export function formatAgo(ageMs: number | null | undefined): string {
  if (!finite(ageMs)) return DASH;
  if (ageMs < 1000) return 'just now';
  const s = Math.floor(ageMs / 1000);
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.floor(h / 24)} d ago`;
}

/** A latency: 0.4 → "0.4 ms", 12.2 → "12 ms", 1_234 → "1.23 s". */
export function formatLatency(ms: number | null | undefined): string {
  if (!finite(ms)) return DASH;
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${sig3(ms / 1000)} s`;
}

/** A wall-clock time of day, 24 h: "14:03:27". */
export function formatClock(epochMs: number | null | undefined): string {
  if (!finite(epochMs)) return DASH;
  const d = new Date(epochMs);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
