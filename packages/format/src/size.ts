/**
 * Human-readable byte sizes for CLIs: parseSize("100KiB") -> 102400, and formatSize for
 * summaries. IEC units (KiB, MiB, ...) and bare K/M/G/T are powers of 1024; SI (kB, MB, ...) of 1000.
 */

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kib: 1024,
  kb: 1000,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  mb: 1000 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  gb: 1000 ** 3,
  t: 1024 ** 4,
  tib: 1024 ** 4,
  tb: 1000 ** 4,
};

/**
 * Parses a size such as "512", "100KiB", "1.5MiB", "2MB", "64k" (units case-insensitive,
 * optional space) into a whole number of bytes (rounded to the nearest byte). Throws a
 * RangeError for anything else, negative or beyond 2^53 bytes.
 */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d*)?|\.\d+)(?:e(\d+))?\s*([a-z]*)\s*$/i.exec(text);
  const unit = m?.[3]?.toLowerCase();
  const mult = unit === undefined ? undefined : UNITS[unit];
  if (m === null || mult === undefined) {
    throw new RangeError(`invalid size "${text}": expected a number with an optional unit (B, KiB, MiB, GiB, TiB, kB, MB, GB, TB; K/M/G/T = KiB/MiB/GiB/TiB)`);
  }
  const value = Number(m[1]) * 10 ** Number(m[2] ?? 0) * mult;
  const bytes = Math.round(value);
  if (!Number.isSafeInteger(bytes)) throw new RangeError(`invalid size "${text}": too large`);
  return bytes;
}

/** Formats bytes with a binary unit and 3 significant digits: 102400 -> "100 KiB". */
export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const digits = i === 0 || v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${v.toFixed(digits)} ${units[i]}`;
}
