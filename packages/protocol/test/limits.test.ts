// negotiateLimits: defaults, clamping to the server's policy, and the refusals (bad_limits, 4400).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CloseCode, DEFAULT_LIMIT_POLICY, ErrorCode, MIN_CHUNK, negotiateLimits, type LimitPolicy } from '../src/index.js';

const KiB = 1024;
const MiB = 1024 * KiB;

function refused(r: ReturnType<typeof negotiateLimits>): string {
  expect(r.ok).toBe(false);
  if (r.ok) return '';
  expect(r.error.code).toBe(ErrorCode.badLimits);
  expect(r.error.close).toBe(CloseCode.badHello);
  return r.error.message;
}

describe('negotiateLimits', () => {
  it('gives the policy defaults to an empty request', () => {
    expect(negotiateLimits({})).toEqual({
      ok: true,
      value: { maxChunk: 1 * MiB, window: 8 * MiB, prefetch: 2, heartbeatMs: 5000, leaseMs: 30_000, maxFrame: 64 * KiB },
    });
  });

  it('grants what is asked within the policy', () => {
    const r = negotiateLimits({ maxChunk: 256 * KiB, window: 2 * MiB, prefetch: 4 });
    expect(r).toMatchObject({ ok: true, value: { maxChunk: 256 * KiB, window: 2 * MiB, prefetch: 4 } });
  });

  it('clamps maxChunk, window and prefetch to the policy maxima', () => {
    const r = negotiateLimits({ maxChunk: 64 * MiB, window: 4096 * MiB, prefetch: 1000 });
    expect(r).toMatchObject({ ok: true, value: { maxChunk: DEFAULT_LIMIT_POLICY.maxChunk, window: DEFAULT_LIMIT_POLICY.maxWindow, prefetch: DEFAULT_LIMIT_POLICY.maxPrefetch } });
  });

  it('never grants a prefetch below 1', () => {
    expect(negotiateLimits({ prefetch: 0 })).toMatchObject({ ok: true, value: { prefetch: 1 } });
  });

  it('heartbeat, lease and maxFrame always come from the policy', () => {
    const policy: LimitPolicy = { ...DEFAULT_LIMIT_POLICY, heartbeatMs: 1000, leaseMs: 4000, maxFrame: 8 * KiB };
    expect(negotiateLimits({ window: 4 * MiB }, policy)).toMatchObject({ ok: true, value: { heartbeatMs: 1000, leaseMs: 4000, maxFrame: 8 * KiB } });
  });

  it('raises the default window to two chunks when the policy default is smaller', () => {
    const policy: LimitPolicy = { ...DEFAULT_LIMIT_POLICY, maxChunk: 4 * MiB, defaultWindow: 4 * MiB };
    expect(negotiateLimits({}, policy)).toMatchObject({ ok: true, value: { maxChunk: 4 * MiB, window: 8 * MiB } });
  });

  it('refuses a window below twice maxChunk', () => {
    expect(refused(negotiateLimits({ maxChunk: 1 * MiB, window: 2 * MiB - 1 }))).toMatch(/at least twice maxChunk/);
    expect(negotiateLimits({ maxChunk: 1 * MiB, window: 2 * MiB })).toMatchObject({ ok: true, value: { window: 2 * MiB } });
  });

  it('compares the window with the clamped maxChunk, not the requested one', () => {
    // 64 MiB is clamped to 1 MiB, so a 3 MiB window is fine.
    expect(negotiateLimits({ maxChunk: 64 * MiB, window: 3 * MiB })).toMatchObject({ ok: true, value: { maxChunk: 1 * MiB, window: 3 * MiB } });
  });

  it('refuses every request when the policy cannot hold two chunks in its largest window', () => {
    const policy: LimitPolicy = { ...DEFAULT_LIMIT_POLICY, maxChunk: 1 * MiB, maxWindow: 1 * MiB };
    refused(negotiateLimits({}, policy));
  });

  it('refuses maxChunk below MIN_CHUNK', () => {
    expect(refused(negotiateLimits({ maxChunk: MIN_CHUNK - 1 }))).toMatch(/below the minimum/);
    refused(negotiateLimits({ maxChunk: 0 }));
    expect(negotiateLimits({ maxChunk: MIN_CHUNK })).toMatchObject({ ok: true, value: { maxChunk: MIN_CHUNK } });
  });

  it('property: whatever is asked, an agreement holds two chunks and respects the policy', () => {
    const want = fc.record(
      { maxChunk: fc.integer({ min: 0, max: 8 * MiB }), window: fc.integer({ min: 0, max: 512 * MiB }), prefetch: fc.integer({ min: 1, max: 10_000 }) },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(want, (w) => {
        const r = negotiateLimits(w);
        if (!r.ok) {
          expect(r.error).toMatchObject({ code: ErrorCode.badLimits, close: CloseCode.badHello });
          return;
        }
        const l = r.value;
        expect(l.maxChunk).toBeGreaterThanOrEqual(MIN_CHUNK);
        expect(l.maxChunk).toBeLessThanOrEqual(DEFAULT_LIMIT_POLICY.maxChunk);
        expect(l.window).toBeGreaterThanOrEqual(2 * l.maxChunk);
        expect(l.window).toBeLessThanOrEqual(DEFAULT_LIMIT_POLICY.maxWindow);
        expect(l.prefetch).toBeGreaterThanOrEqual(1);
        expect(l.prefetch).toBeLessThanOrEqual(DEFAULT_LIMIT_POLICY.maxPrefetch);
        if (w.maxChunk !== undefined) expect(l.maxChunk).toBe(Math.min(w.maxChunk, DEFAULT_LIMIT_POLICY.maxChunk));
        if (w.window !== undefined) expect(l.window).toBe(Math.min(w.window, DEFAULT_LIMIT_POLICY.maxWindow));
      }),
      { numRuns: 500 },
    );
  });
});
