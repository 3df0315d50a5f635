/**
 * Deterministic randomness for the generator: MurmurHash3 seeding, the xoshiro128** PRNG and
 * distributions built only from IEEE-754 + - * / and sqrt, so results are identical everywhere.
 */

/** 32-bit rotate left. */
function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** MurmurHash3 finaliser: a bijective 32-bit avalanche mix. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * MurmurHash3_x86_32 of the little-endian bytes of `words` (each taken as an unsigned 32-bit
 * integer), with the given 32-bit seed. Equal to the reference implementation run over the
 * 4*n-byte key.
 */
export function murmur3Words(words: readonly number[], seed: number): number {
  let h = seed | 0;
  for (const w of words) {
    let k = Math.imul(w | 0, 0xcc9e2d51);
    k = rotl(k, 15);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = rotl(h, 13);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  return fmix32(h ^ (words.length * 4));
}

/** Low and high 32-bit words of a non-negative safe integer. */
export function splitUint53(n: number): [number, number] {
  return [n >>> 0, Math.floor(n / 0x1_0000_0000) >>> 0];
}

/** MurmurHash3_x86_32 of a JS string's UTF-8 bytes, for naming things (GUIDs). */
export function murmur3String(s: string, seed: number): number {
  const bytes = Buffer.from(s, 'utf8');
  const words: number[] = [];
  // Pad to whole words with zero bytes and append the byte length, so "a" and "a\0" differ.
  for (let i = 0; i < bytes.length; i += 4) {
    words.push(((bytes[i] ?? 0) | ((bytes[i + 1] ?? 0) << 8) | ((bytes[i + 2] ?? 0) << 16) | ((bytes[i + 3] ?? 0) << 24)) >>> 0);
  }
  words.push(bytes.length);
  return murmur3Words(words, seed);
}

/**
 * xoshiro128** 1.1 (Blackman & Vigna), 32-bit output, 2^128 - 1 period. The state is seeded
 * from four MurmurHash3 values of the same key with seeds 0, 1, 2, 3.
 */
export class Xoshiro128 {
  s0: number;
  s1: number;
  s2: number;
  s3: number;

  constructor(s0: number, s1: number, s2: number, s3: number) {
    this.s0 = s0 | 0;
    this.s1 = s1 | 0;
    this.s2 = s2 | 0;
    this.s3 = s3 | 0;
    // The all-zero state is the one forbidden state (probability 2^-128 from a hash).
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** A generator whose state is MurmurHash3(key) with seeds 0..3. */
  static fromKey(key: readonly number[]): Xoshiro128 {
    return new Xoshiro128(murmur3Words(key, 0), murmur3Words(key, 1), murmur3Words(key, 2), murmur3Words(key, 3));
  }

  /** Next 32-bit output as an unsigned integer. */
  nextUint32(): number {
    const s1 = this.s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9);
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result >>> 0;
  }

  /** Uniform double in the open interval (0, 1): (n + 0.5) / 2^32. Never 0, never 1. */
  uniform(): number {
    return (this.nextUint32() + 0.5) * 2.3283064365386963e-10;
  }

  /** Uniform double in (lo, hi). */
  between(lo: number, hi: number): number {
    return lo + (hi - lo) * this.uniform();
  }

  /** Uniform integer in [0, n), n <= 2^32 (multiply-shift; the tiny bias is irrelevant here). */
  below(n: number): number {
    return Math.floor(this.nextUint32() * n * 2.3283064365386963e-10);
  }

  /** Exponential variate with the given mean. */
  exponential(mean: number): number {
    return -mean * ln(this.uniform());
  }

  /** Standard normal variate, Marsaglia's polar method (the second value is discarded). */
  normal(): number {
    for (;;) {
      const u = 2 * this.uniform() - 1;
      const v = 2 * this.uniform() - 1;
      const s = u * u + v * v;
      if (s < 1 && s > 0) return u * Math.sqrt((-2 * ln(s)) / s);
    }
  }

  /**
   * Poisson variate (Knuth's product method) given `expMinusLambda` = exp(-lambda),
   * capped at `max` draws so a pathological stream cannot loop long.
   */
  poisson(expMinusLambda: number, max = 10_000): number {
    let k = 0;
    let p = this.uniform();
    while (p > expMinusLambda && k < max) {
      k++;
      p *= this.uniform();
    }
    return k;
  }

  /** -1 or +1 with equal probability. */
  sign(): number {
    return this.nextUint32() & 1 ? 1 : -1;
  }

  /**
   * Fills `words` with successive outputs (the hot path of payload generation: the state is
   * kept in locals).
   */
  fill(words: Uint32Array): void {
    let s0 = this.s0;
    let s1 = this.s1;
    let s2 = this.s2;
    let s3 = this.s3;
    const n = words.length;
    for (let i = 0; i < n; i++) {
      words[i] = Math.imul(rotl(Math.imul(s1, 5), 7), 9);
      const t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = (s3 << 11) | (s3 >>> 21);
    }
    this.s0 = s0;
    this.s1 = s1;
    this.s2 = s2;
    this.s3 = s3;
  }
}

// ---------------------------------------------------------------------------------------------
// Portable ln / exp. ECMAScript leaves Math.log and Math.exp "implementation-approximated", so
// the generator uses these instead: only + - * / on doubles, whose results IEEE 754 fixes
// exactly, plus exact scaling by powers of two. Accuracy is ~1 ulp, which is all we need;
// what matters is that every platform gets the same bits.
// ---------------------------------------------------------------------------------------------

const LN2_HI = 6.93147180369123816490e-1; // fdlibm split of ln 2: HI has trailing zero bits
const LN2_LO = 1.90821492927058770002e-10;
const SQRT2 = 1.4142135623730951;
const scratch = new DataView(new ArrayBuffer(8));

/** 2^k for integer k in [-1022, 1023], exactly. */
function pow2(k: number): number {
  scratch.setUint32(0, ((k + 1023) << 20) >>> 0, false);
  scratch.setUint32(4, 0, false);
  return scratch.getFloat64(0, false);
}

/** Natural logarithm for finite x > 0 (normal range), portable bit for bit. */
export function ln(x: number): number {
  if (!(x > 0) || !Number.isFinite(x)) {
    if (x === 0) return -Infinity;
    if (x === Infinity) return Infinity;
    return NaN;
  }
  // x = m * 2^e with m in [1, 2), read from the bits (big-endian view: endianness-free).
  scratch.setFloat64(0, x, false);
  const hi = scratch.getUint32(0, false);
  let e = ((hi >>> 20) & 0x7ff) - 1023;
  if (e === -1023) return ln(x * 18014398509481984) - 54 * (LN2_HI + LN2_LO); // subnormal: scale by 2^54
  scratch.setUint32(0, ((hi & 0x000fffff) | 0x3ff00000) >>> 0, false);
  let m = scratch.getFloat64(0, false);
  if (m > SQRT2) {
    m *= 0.5;
    e += 1;
  }
  // ln m = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.1716: 2 (s + s^3/3 + s^5/5 + ...).
  const s = (m - 1) / (m + 1);
  const s2 = s * s;
  const series =
    1 +
    s2 *
      (1 / 3 +
        s2 *
          (1 / 5 +
            s2 *
              (1 / 7 +
                s2 *
                  (1 / 9 +
                    s2 * (1 / 11 + s2 * (1 / 13 + s2 * (1 / 15 + s2 * (1 / 17 + s2 * (1 / 19 + s2 * (1 / 21 + s2 / 23))))))))));
  return e * LN2_HI + (e * LN2_LO + 2 * s * series);
}

/** e^x, portable bit for bit; 0 below ~-708, Infinity above ~709. */
export function exp(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x > 709.78) return Infinity;
  if (x < -708.39) return 0;
  // x = k ln2 + r, |r| <= ln2 / 2; e^x = 2^k e^r, e^r by its Taylor series (17 terms).
  const k = Math.round(x / (LN2_HI + LN2_LO));
  const r = x - k * LN2_HI - k * LN2_LO;
  let term = 1;
  let sum = 1;
  for (let n = 1; n <= 17; n++) {
    term = (term * r) / n;
    sum += term;
  }
  return k >= -1022 ? sum * pow2(k) : sum * pow2(k + 54) * pow2(-54);
}
