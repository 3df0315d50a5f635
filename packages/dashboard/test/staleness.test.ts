import { describe, expect, test } from 'vitest';
import { DEFAULT_LIMIT_POLICY } from '@ess/protocol';
import { applyMessage } from '../src/store/reducer.js';
import { effectiveHealth, serverNowAt, staleByClient, selectWorkerStaleMs } from '../src/store/selectors.js';
import { createDashboardStore } from '../src/store/DashboardStore.js';
import { manualScheduler } from '../src/store/FrameBatcher.js';
import { DEFAULT_THRESHOLDS, workerStaleMs } from '../src/store/thresholds.js';
import { EMPTY_VIEW } from '../src/store/types.js';
import { T0, snapshot, worker } from './fixtures/stream.js';

describe('client-side staleness', () => {
  test('the server clock is estimated from the last message, immune to clock skew', () => {
    // The browser's clock is an hour behind the server's.
    const local = T0 - 3_600_000;
    const view = applyMessage(EMPTY_VIEW, { msg: snapshot([], { t: T0 }), at: local });
    expect(serverNowAt(view, local)).toBe(T0);
    expect(serverNowAt(view, local + 20_000)).toBe(T0 + 20_000);
  });

  test('a worker silent past the threshold is stale even if the server says active', () => {
    const w = worker(1, T0, { health: 'active' });
    expect(effectiveHealth(w, T0 + 14_000, 15_000)).toBe('active');
    expect(effectiveHealth(w, T0 + 16_000, 15_000)).toBe('stale');
    expect(staleByClient(w, T0 + 16_000, 15_000)).toBe(true);
  });

  test('the server’s own stale and gone stand', () => {
    expect(effectiveHealth(worker(1, T0, { health: 'stale' }), T0, 15_000)).toBe('stale');
    expect(effectiveHealth(worker(1, T0, { health: 'gone' }), T0 + 99_000, 15_000)).toBe('gone');
    expect(staleByClient(worker(1, T0, { health: 'gone' }), T0 + 99_000, 15_000)).toBe(false);
  });

  test('the worker threshold: three worker heartbeats or three monitor intervals, unless configured', () => {
    expect(workerStaleMs(DEFAULT_THRESHOLDS, 1000)).toBe(3 * DEFAULT_LIMIT_POLICY.heartbeatMs);
    expect(workerStaleMs(DEFAULT_THRESHOLDS, 1000, 5000)).toBe(15_000);
    expect(workerStaleMs(DEFAULT_THRESHOLDS, 10_000, 5000)).toBe(30_000);
    expect(workerStaleMs({ ...DEFAULT_THRESHOLDS, workerStaleMs: 2000 }, 1000, 5000)).toBe(2000);
  });

  test('workers go stale on screen when the data stops, but not while paused', () => {
    let now = 1_000_000;
    const frames = manualScheduler();
    const store = createDashboardStore({ scheduler: frames, now: () => now });
    store.receive(snapshot([worker(1, T0)], { t: T0 }), now);
    frames.flush();
    const health = () => {
      const s = store.api.getState();
      const clock = s.paused ? s.paused.since : s.now;
      return effectiveHealth(s.view.workers.get('w-1')!, serverNowAt(s.view, clock), selectWorkerStaleMs(s));
    };
    expect(health()).toBe('active');
    store.setPaused(true);
    now += 60_000;
    store.tick(now);
    expect(health()).toBe('active');
    store.setPaused(false);
    expect(health()).toBe('stale');
  });
});
