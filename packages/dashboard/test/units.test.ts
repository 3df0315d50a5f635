import { describe, expect, test } from 'vitest';
import {
  DASH,
  formatAgo,
  formatByteRate,
  formatBytes,
  formatBytesOf,
  formatCompact,
  formatCount,
  formatDuration,
  formatEventRate,
  formatLatency,
  formatPercent,
} from '../src/format/units.js';

describe('units a person reads', () => {
  test('bytes in SI units with three significant digits', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1534)).toBe('1.53 kB');
    expect(formatBytes(12_345_678)).toBe('12.3 MB');
    expect(formatBytes(999_999)).toBe('1.00 MB');
    expect(formatBytes(410e9)).toBe('410 GB');
    expect(formatBytes(2.5e12)).toBe('2.50 TB');
  });

  test('byte rates', () => {
    expect(formatByteRate(12_300_000)).toBe('12.3 MB/s');
    expect(formatByteRate(0)).toBe('0 B/s');
    expect(formatByteRate(11.46e9)).toBe('11.5 GB/s');
  });

  test('a part of a whole shares its unit', () => {
    expect(formatBytesOf(35_900_000, 67_100_000)).toBe('35.9 / 67.1 MB');
    expect(formatBytesOf(512_000, 67_100_000)).toBe('512 kB / 67.1 MB');
    expect(formatBytesOf(0, 67_100_000)).toBe('0 B / 67.1 MB');
  });

  test('event rates in k and M ev/s', () => {
    expect(formatEventRate(850)).toBe('850 ev/s');
    expect(formatEventRate(4_500)).toBe('4.50 k ev/s');
    expect(formatEventRate(45_200)).toBe('45.2 k ev/s');
    expect(formatEventRate(1_200_000)).toBe('1.20 M ev/s');
    expect(formatEventRate(2.5)).toBe('2.5 ev/s');
    expect(formatEventRate(0)).toBe('0 ev/s');
  });

  test('counts', () => {
    expect(formatCount(1_234_567)).toBe('1,234,567');
    expect(formatCompact(999)).toBe('999');
    expect(formatCompact(12_345)).toBe('12.3 k');
    expect(formatCompact(4_200_000)).toBe('4.20 M');
  });

  test('percentages never round to a lie', () => {
    expect(formatPercent(0.923)).toBe('92.3%');
    expect(formatPercent(0)).toBe('0%');
    expect(formatPercent(1)).toBe('100%');
    expect(formatPercent(0.99999)).toBe('>99.9%');
    expect(formatPercent(0.000001)).toBe('<0.1%');
    expect(formatPercent(0.5, 0)).toBe('50%');
  });

  test('durations in words', () => {
    expect(formatDuration(0)).toBe('0 s');
    expect(formatDuration(0.4)).toBe('<1 s');
    expect(formatDuration(45)).toBe('45 s');
    expect(formatDuration(200)).toBe('3 min 20 s');
    expect(formatDuration(180)).toBe('3 min');
    expect(formatDuration(7_500)).toBe('2 h 05 min');
    expect(formatDuration(200_000)).toBe('2 d 7 h');
  });

  test('relative times', () => {
    expect(formatAgo(400)).toBe('just now');
    expect(formatAgo(5_000)).toBe('5 s ago');
    expect(formatAgo(200_000)).toBe('3 min ago');
    expect(formatAgo(3 * 3_600_000)).toBe('3 h ago');
    expect(formatAgo(3 * 86_400_000)).toBe('3 d ago');
  });

  test('latencies', () => {
    expect(formatLatency(0.4)).toBe('0.4 ms');
    expect(formatLatency(12.2)).toBe('12 ms');
    expect(formatLatency(1234)).toBe('1.23 s');
  });

  test('unknown is a dash, never a zero', () => {
    for (const f of [formatBytes, formatByteRate, formatEventRate, formatCount, formatCompact, formatPercent, formatDuration, formatAgo, formatLatency]) {
      expect(f(null)).toBe(DASH);
      expect(f(Number.NaN)).toBe(DASH);
    }
  });
});
