// Credit: the server's SendWindow and the worker's ReceiveWindow, alone and together under
// random interleavings with duplicated and reordered grants.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CloseCode, ErrorCode, MAX_CREDIT, ReceiveWindow, SendWindow } from '../src/index.js';

describe('SendWindow', () => {
  it('starts with the window as its limit and counts what it sends', () => {
    const s = new SendWindow(100);
    expect([s.limit, s.sent, s.available]).toEqual([100, 0, 100]);
    expect(s.canSend(100)).toBe(true);
    expect(s.canSend(101)).toBe(false);
    s.consume(60);
    expect([s.limit, s.sent, s.available]).toEqual([100, 60, 40]);
    expect(() => s.consume(41)).toThrow(/credit exceeded/);
    expect(s.sent).toBe(60);
  });

  it('grants are absolute: raising, duplicate and stale grants', () => {
    const s = new SendWindow(100);
    s.consume(80);
    expect(s.grant(150)).toEqual({ ok: true, value: { raised: true } });
    expect(s.limit).toBe(150);
    expect(s.grant(150)).toEqual({ ok: true, value: { raised: false } }); // duplicate
    expect(s.grant(120)).toEqual({ ok: true, value: { raised: false } }); // stale (arrived late)
    expect(s.grant(0)).toEqual({ ok: true, value: { raised: false } });
    expect(s.limit).toBe(150);
    expect(s.available).toBe(70);
  });

  it('accepts a grant of exactly sent + window', () => {
    const s = new SendWindow(100);
    s.consume(30);
    expect(s.grant(130)).toEqual({ ok: true, value: { raised: true } });
  });

  it('refuses a grant above sent + window as a policy violation (4429)', () => {
    const s = new SendWindow(100);
    s.consume(30);
    const r = s.grant(131);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatchObject({ code: ErrorCode.badCredit, close: CloseCode.policyViolation });
    expect(s.limit).toBe(100);
  });

  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, MAX_CREDIT + 1])('refuses a malformed limit %d as bad_credit (not fatal by itself)', (limit) => {
    const r = new SendWindow(100).grant(limit);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe(ErrorCode.badCredit);
      expect(r.error.close).toBeUndefined();
    }
  });
});

describe('ReceiveWindow', () => {
  it('counts received and released bytes', () => {
    const w = new ReceiveWindow(100);
    expect([w.granted, w.received, w.released, w.unreleased]).toEqual([100, 0, 0, 0]);
    expect(w.receive(70).ok).toBe(true);
    expect(w.unreleased).toBe(70);
    expect(w.release(20)).toBeNull();
    expect([w.received, w.released, w.unreleased]).toEqual([70, 20, 50]);
  });

  it('reports a sender that overran the limit as bad_credit', () => {
    const w = new ReceiveWindow(100);
    expect(w.receive(100).ok).toBe(true);
    const r = w.receive(1);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe(ErrorCode.badCredit);
    expect(w.received).toBe(100);
  });

  it('grants released + window exactly when half a window was released since the last grant', () => {
    const w = new ReceiveWindow(100);
    w.receive(100);
    expect(w.release(49)).toBeNull();
    expect(w.granted).toBe(100);
    expect(w.release(1)).toBe(150); // released 50 = window / 2
    expect(w.granted).toBe(150);
    expect(w.receive(50).ok).toBe(true); // 150 received of 150
    expect(w.release(49)).toBeNull(); // 99 released: 199 would be only 49 above the 150 granted
    expect(w.release(1)).toBe(200);
  });

  it('with an odd window the threshold is window / 2 rounded up in bytes', () => {
    const w = new ReceiveWindow(101);
    w.receive(101);
    expect(w.release(50)).toBeNull(); // 50 < 50.5
    expect(w.release(1)).toBe(152);
  });

  it('a grant after a big release covers everything released so far', () => {
    const w = new ReceiveWindow(100);
    w.receive(90);
    expect(w.release(90)).toBe(190);
  });

  it('refuses to release more than it received, or a negative amount', () => {
    const w = new ReceiveWindow(100);
    w.receive(10);
    expect(() => w.release(11)).toThrow();
    expect(() => w.release(-1)).toThrow();
    expect(w.released).toBe(0);
  });

  it('a legitimate grant is never refused by the sender, however late it arrives', () => {
    const s = new SendWindow(100);
    const r = new ReceiveWindow(100);
    const grants: number[] = [];
    for (let i = 0; i < 20; i++) {
      s.consume(50);
      expect(r.receive(50).ok).toBe(true);
      const g = r.release(50);
      if (g !== null) grants.push(g);
      // deliver the newest grant now and replay every older one: all accepted, none raise.
      expect(s.grant(grants.at(-1)!).ok).toBe(true);
      for (const old of grants) expect(s.grant(old)).toEqual({ ok: true, value: { raised: false } });
    }
  });

  it('why window >= 2 x maxChunk: with chunks above half a window the two ends can deadlock', () => {
    // window 100, chunks of up to 70: the worker released everything, yet no grant is due and
    // the next 70-byte chunk does not fit in the 60 bytes left.
    const s = new SendWindow(100);
    const r = new ReceiveWindow(100);
    s.consume(40);
    r.receive(40);
    expect(r.release(40)).toBeNull();
    expect(r.unreleased).toBe(0);
    expect(s.canSend(70)).toBe(false);
    // with chunks of at most half a window the same state can always send.
    expect(s.canSend(50)).toBe(true);
  });
});

// ---- the two ends together ----------------------------------------------------------------------

type Step =
  | { kind: 'send'; size: number }
  | { kind: 'deliver' }
  | { kind: 'release'; fraction: number }
  | { kind: 'grant'; pick: number; duplicate: boolean };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('send' as const), size: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({ kind: fc.constant('deliver' as const) }),
  fc.record({ kind: fc.constant('release' as const), fraction: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({ kind: fc.constant('grant' as const), pick: fc.nat(), duplicate: fc.boolean() }),
);

/**
 * A sender and a receiver joined by an ordered data link (chunks arrive in order, as on one
 * WebSocket) and a grant link that duplicates and reorders at will. Checks the invariants after
 * every step, then drains: once the receiver has released everything and every grant arrived,
 * the sender must be able to send a chunk of half a window.
 */
function runModel(window: number, maxChunk: number, steps: readonly Step[]): void {
  const sender = new SendWindow(window);
  const receiver = new ReceiveWindow(window);
  const wire: number[] = []; // chunk sizes sent, not yet received
  const held: number[] = []; // chunk sizes received, not yet released (in part or whole)
  const grants: number[] = []; // grants sent, in any order of delivery
  let sentTotal = 0;

  const check = (): void => {
    expect(sender.sent).toBeLessThanOrEqual(sender.limit);
    expect(receiver.received).toBeLessThanOrEqual(receiver.granted);
    expect(receiver.unreleased).toBeLessThanOrEqual(window);
    // in flight plus held by the worker: never more than one window
    expect(sender.sent - receiver.released).toBeLessThanOrEqual(window);
    expect(sender.limit).toBeLessThanOrEqual(receiver.granted);
  };
  const release = (n: number): void => {
    const g = receiver.release(n);
    if (g !== null) grants.push(g);
  };
  const deliverGrant = (i: number, keep: boolean): void => {
    const g = keep ? grants[i]! : grants.splice(i, 1)[0]!;
    const r = sender.grant(g);
    expect(r.ok).toBe(true);
  };

  for (const s of steps) {
    switch (s.kind) {
      case 'send': {
        const size = 1 + Math.floor(s.size * (maxChunk - 1));
        if (sender.canSend(size)) {
          sender.consume(size);
          sentTotal += size;
          wire.push(size);
        }
        break;
      }
      case 'deliver': {
        const size = wire.shift();
        if (size === undefined) break;
        expect(receiver.receive(size).ok).toBe(true);
        held.push(size);
        break;
      }
      case 'release': {
        if (held.length === 0) break;
        const n = Math.max(1, Math.round(held[0]! * s.fraction));
        const part = Math.min(n, held[0]!);
        held[0]! -= part;
        if (held[0] === 0) held.shift();
        release(part);
        break;
      }
      case 'grant': {
        if (grants.length === 0) break;
        deliverGrant(s.pick % grants.length, s.duplicate);
        break;
      }
    }
    check();
  }

  // Drain: everything arrives and is released; grants arrive newest first, then the stale ones.
  while (wire.length > 0) {
    const size = wire.shift()!;
    expect(receiver.receive(size).ok).toBe(true);
    release(size);
    check();
  }
  for (const size of held.splice(0)) release(size);
  check();
  expect(receiver.unreleased).toBe(0);
  grants.sort((a, b) => b - a);
  while (grants.length > 0) deliverGrant(0, false);
  check();
  expect(sender.sent).toBe(sentTotal);
  // No deadlock: a chunk of up to half a window can always go out now.
  expect(sender.available).toBeGreaterThanOrEqual(window / 2);
  expect(sender.canSend(maxChunk)).toBe(true);
}

describe('property: SendWindow and ReceiveWindow together', () => {
  it('never overrun, never hold more than a window, never deadlock', () => {
    const sizes = fc
      .integer({ min: 2, max: 1 << 20 })
      .chain((window) => fc.record({ window: fc.constant(window), maxChunk: fc.integer({ min: 1, max: Math.floor(window / 2) }) }));
    fc.assert(
      fc.property(sizes, fc.array(step, { maxLength: 200 }), ({ window, maxChunk }, steps) => runModel(window, maxChunk, steps)),
      { numRuns: 300 },
    );
  });

  it('keeps streaming: a sender that always sends and a receiver that always releases move unbounded data', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 1 << 16 }), fc.integer({ min: 1, max: 1000 }), (window, chunkSeed) => {
        const maxChunk = 1 + (chunkSeed % Math.floor(window / 2));
        const sender = new SendWindow(window);
        const receiver = new ReceiveWindow(window);
        for (let i = 0; i < 100; i++) {
          expect(sender.canSend(maxChunk)).toBe(true);
          sender.consume(maxChunk);
          expect(receiver.receive(maxChunk).ok).toBe(true);
          const g = receiver.release(maxChunk);
          if (g !== null) expect(sender.grant(g).ok).toBe(true);
        }
        expect(sender.sent).toBe(100 * maxChunk);
      }),
      { numRuns: 100 },
    );
  });
});
