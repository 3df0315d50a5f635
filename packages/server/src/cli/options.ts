/** Parsers for CLI option values that fail with messages a person can act on. */
import { InvalidArgumentError } from 'commander';
import { parseSize } from '@ess/format';

export function intOption(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError(`"${value}" is not a whole number`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`${n} is outside ${min}..${max}`);
    return n;
  };
}

export function sizeOption(min = 1) {
  return (value: string): number => {
    let n: number;
    try {
      n = parseSize(value);
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
    if (n < min) throw new InvalidArgumentError(`${value} is below the minimum of ${min} bytes`);
    return n;
  };
}
