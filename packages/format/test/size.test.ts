// parseSize / formatSize: accepted spellings, units, rounding and the errors.
import { describe, expect, it } from 'vitest';
import { formatSize, parseSize } from '../src/index.js';

describe('parseSize', () => {
  it.each([
    ['512', 512],
    ['0', 0],
    ['512B', 512],
    ['100KiB', 102400],
    ['100kib', 102400],
    ['100 KiB', 102400],
    ['64k', 65536],
    ['64K', 65536],
    ['1.5MiB', 1572864],
    ['1.5M', 1572864],
    ['2MB', 2_000_000],
    ['2mb', 2_000_000],
    ['3kB', 3000],
    ['1GiB', 1024 ** 3],
    ['1GB', 1e9],
    ['2TiB', 2 * 1024 ** 4],
    ['.5KiB', 512],
    ['1e3', 1000],
    ['0.1KiB', 102],
    [' 7 ', 7],
  ])('%s -> %d', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it.each(['', ' ', 'abc', '-1', '-1KiB', '10QB', '1.2.3', 'KiB', '1 K iB', '1e', '99999999999999999999TiB', 'NaN', 'Infinity'])(
    'rejects %j with a RangeError',
    (text) => {
      expect(() => parseSize(text)).toThrow(RangeError);
      expect(() => parseSize(text)).toThrow(/invalid size/);
    },
  );
});

describe('formatSize', () => {
  it('uses binary units', () => {
    expect(formatSize(0)).toBe('0 B');
    expect(formatSize(1023)).toBe('1023 B');
    expect(formatSize(102400)).toBe('100 KiB');
    expect(formatSize(1572864)).toBe('1.50 MiB');
    expect(formatSize(15 * 1024 ** 3)).toBe('15.0 GiB');
  });
});
