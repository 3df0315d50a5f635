import { describe, expect, test } from 'vitest';
import { createDashboardStore } from '../src/store/DashboardStore.js';
import { manualScheduler } from '../src/store/FrameBatcher.js';
import { T0, delta, snapshot, worker } from './fixtures/stream.js';

function setup() {
  const frames = manualScheduler();
  let now = 1_000_000;
  const store = createDashboardStore({ scheduler: frames, now: () => now });
  let updates = 0;
  store.api.subscribe(() => updates++);
  return { store, frames, updates: () => updates, advance: (ms: number) => (now += ms), now: () => now };
}

describe('dashboard store', () => {
  test('messages are queued and applied once per frame, in one store update', () => {
    const { store, frames, updates } = setup();
    store.receive(snapshot([worker(1, T0), worker(2, T0)]));
    store.receive(delta(1, [worker(3, T0 + 1000)], [], []));
    store.receive(delta(2, [], ['w-1'], []));
    expect(store.api.getState().view.ready).toBe(false);
    expect(store.pending).toBe(3);
    expect(frames.pending).toBe(1);
    frames.flush();
    expect(updates()).toBe(1);
    const v = store.api.getState().view;
    expect([...v.workers.keys()].sort()).toEqual(['w-2', 'w-3']);
    expect(v.seq).toBe(2);
    expect(store.api.getState().connection.lastDataAt).not.toBeNull();
  });

  test('paused: the visible view is frozen, the shadow keeps up, resuming shows the latest', () => {
    const { store, frames, updates } = setup();
    store.receive(snapshot([worker(1, T0)]));
    frames.flush();
    const frozen = store.api.getState().view;

    store.setPaused(true);
    expect(store.api.getState().paused).toMatchObject({ held: 0 });
    store.receive(delta(1, [worker(2, T0 + 1000)], [], []));
    frames.flush();
    store.receive(delta(2, [], ['w-1'], []));
    frames.flush();

    expect(store.api.getState().view).toBe(frozen);
    expect(store.api.getState().paused?.held).toBe(2);
    expect([...store.shadow().workers.keys()]).toEqual(['w-2']);
    // Series keep recording underneath (the chart shows them on resume).
    expect(store.series.totals.length).toBe(3);

    const before = updates();
    store.setPaused(false);
    expect(updates()).toBe(before + 1);
    expect(store.api.getState().paused).toBeNull();
    expect([...store.api.getState().view.workers.keys()]).toEqual(['w-2']);
  });

  test('pausing applies what is queued first, so the frozen view is the latest one', () => {
    const { store, frames } = setup();
    store.receive(snapshot([worker(1, T0)]));
    store.setPaused(true);
    expect(store.api.getState().view.ready).toBe(true);
    expect(frames.pending).toBe(0);
  });

  test('series: a point per message for the totals and for every worker present', () => {
    const { store, frames } = setup();
    store.receive(snapshot([worker(1, T0, { rate: 10 }), worker(2, T0, { rate: 20 })]));
    store.receive(delta(1, [worker(1, T0 + 1000, { rate: 11 })], [], [worker(1, T0, { rate: 11 }), worker(2, T0, { rate: 20 })]));
    store.receive(delta(2, [], ['w-2'], [worker(1, T0, { rate: 11 })]));
    frames.flush();
    const s = store.series;
    expect(s.totals.length).toBe(3);
    expect(s.workerRates('w-1')?.toArray()).toEqual([10, 11, 11]);
    expect(s.workerRates('w-2')).toBeUndefined();
    const [xs, rate] = s.totalsData();
    expect(xs).toEqual([T0 / 1000, T0 / 1000 + 1, T0 / 1000 + 2]);
    expect(rate).toEqual([30, 31, 11]);
  });

  test('series: a hole in the data becomes a gap, not a line', () => {
    const { store, frames } = setup();
    store.receive(snapshot([worker(1, T0)]));
    store.receive(delta(1, [], [], [], { t: T0 + 1000 }));
    store.receive(delta(2, [], [], [], { t: T0 + 60_000 }));
    frames.flush();
    const [, rate] = store.series.totalsData();
    expect(rate).toEqual([0, 0, null, 0]);
  });

  test('recent cache hit ratio uses the counters over the window', () => {
    const { store, frames } = setup();
    const cache = (hits: number, misses: number) => ({
      blockSize: 1 << 20,
      tiers: [{ tier: 'memory', hits, misses, hitBytes: 0, bytes: 0, capacity: 1, evictions: 0 }],
      coalesced: 0,
      prefetch: { issued: 0, bytes: 0, used: 0, inFlight: 0 },
    });
    store.receive(snapshot([], { cache: cache(900, 100) }));
    store.receive(delta(1, [], [], [], { cache: cache(910, 190) }));
    frames.flush();
    // 10 hits of 100 lookups in the window, though 83% since start.
    expect(store.api.getState().view.recentHitRatio).toBeCloseTo(0.1);
  });

  test('the clock ticks in whole seconds', () => {
    const { store, updates, advance, now } = setup();
    const u = updates();
    store.tick(now() + 10);
    expect(updates()).toBe(u);
    advance(1000);
    store.tick();
    expect(updates()).toBe(u + 1);
  });

  test('connection state changes are stamped', () => {
    const { store, advance, now } = setup();
    advance(5000);
    store.setConnection({ state: 'open' });
    expect(store.api.getState().connection).toMatchObject({ state: 'open', since: now() });
    advance(1000);
    store.setConnection({ attempt: 0 });
    expect(store.api.getState().connection.since).toBe(now() - 1000);
  });
});

describe('series at a fast server rate', () => {
  test('sparklines take about one point a second, the totals every message', () => {
    const frames = manualScheduler();
    const store = createDashboardStore({ scheduler: frames });
    store.receive(snapshot([worker(1, T0, { rate: 1 })], { intervalMs: 250 }));
    for (let i = 1; i <= 8; i++) store.receive(delta(i, [worker(1, T0, { rate: i + 1 })], [], [], { t: T0 + i * 250 }));
    frames.flush();
    expect(store.series.totals.length).toBe(9);
    // snapshot at 0 s, then the deltas at 1 s and 2 s
    expect(store.series.workerRates('w-1')?.toArray()).toEqual([1, 5, 9]);
    // ten minutes at 250 ms
    expect(store.series.totals.capacity).toBe(2400);
  });
});
