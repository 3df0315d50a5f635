import { describe, expect, test } from 'vitest';
import { countHealth, filterWorkers, nextSort, selectWorkerIds, sortWorkers, type WorkerSort } from '../src/store/workers.js';
import { T0, worker } from './fixtures/stream.js';

const clock = { serverNow: T0 + 60_000, staleMs: 15_000 };
const rows = [
  worker(10, T0 + 59_000, { label: 'wn10', site: 'CERN-PROD', rate: 5e6, task: 2, hitBytes: 9, missBytes: 1 }),
  worker(2, T0 + 59_500, { label: 'wn2', site: 'BNL-ATLAS', rate: 9e6, task: 1, hitBytes: 1, missBytes: 1 }),
  worker(1, T0 + 10_000, { label: 'wn1', site: 'TRIUMF-LCG2', rate: 0, task: null }), // silent for 50 s
  worker(3, T0 + 59_900, { label: 'wn3', site: 'CERN-PROD', rate: 5e6, health: 'idle', task: null }),
  worker(4, T0 + 59_900, { label: 'wn4', site: 'BNL-ATLAS', rate: 0, health: 'gone' }),
];
const ids = (sort: WorkerSort, text = '', health: 'all' | 'problem' | 'active' | 'idle' | 'stale' | 'gone' = 'all') =>
  selectWorkerIds(rows, { text, health }, sort, clock);

describe('workers table logic', () => {
  test('names sort naturally (wn2 before wn10)', () => {
    expect(ids({ key: 'worker', dir: 'asc' })).toEqual(['w-1', 'w-2', 'w-3', 'w-4', 'w-10']);
    expect(ids({ key: 'worker', dir: 'desc' })).toEqual(['w-10', 'w-4', 'w-3', 'w-2', 'w-1']);
  });

  test('figures sort with ties broken by id, so rows do not jitter', () => {
    expect(ids({ key: 'rate', dir: 'desc' })).toEqual(['w-2', 'w-3', 'w-10', 'w-1', 'w-4']);
    expect(ids({ key: 'rate', dir: 'asc' })).toEqual(['w-1', 'w-4', 'w-3', 'w-10', 'w-2']);
  });

  test('health descending lists problems first, with client-side staleness', () => {
    expect(ids({ key: 'health', dir: 'desc' })).toEqual(['w-4', 'w-1', 'w-3', 'w-2', 'w-10']);
  });

  test('last seen descending is the longest silence first', () => {
    expect(ids({ key: 'lastSeen', dir: 'desc' })[0]).toBe('w-1');
  });

  test('hit ratio: workers with nothing received sort below any ratio', () => {
    expect(ids({ key: 'hitRatio', dir: 'desc' }).slice(0, 2)).toEqual(['w-10', 'w-2']);
  });

  test('a null task sorts below any task', () => {
    expect(ids({ key: 'task', dir: 'asc' }).slice(0, 2).sort()).toEqual(['w-1', 'w-3']);
  });

  test('text filter: every word must match id, label, site, node or task', () => {
    expect(ids({ key: 'worker', dir: 'asc' }, 'cern')).toEqual(['w-3', 'w-10']);
    expect(ids({ key: 'worker', dir: 'asc' }, 'CERN wn10')).toEqual(['w-10']);
    expect(ids({ key: 'worker', dir: 'asc' }, '#2')).toEqual(['w-10']);
    expect(ids({ key: 'worker', dir: 'asc' }, 'nothing-like-this')).toEqual([]);
  });

  test('health filter uses the effective health', () => {
    expect(ids({ key: 'worker', dir: 'asc' }, '', 'stale')).toEqual(['w-1']);
    expect(ids({ key: 'worker', dir: 'asc' }, '', 'problem')).toEqual(['w-1', 'w-4']);
    expect(ids({ key: 'worker', dir: 'asc' }, '', 'active')).toEqual(['w-2', 'w-10']);
    expect(filterWorkers(rows, { text: '', health: 'idle' }, clock).map((w) => w.id)).toEqual(['w-3']);
  });

  test('header clicks: same column flips, a new column starts at its natural direction', () => {
    expect(nextSort({ key: 'worker', dir: 'asc' }, 'worker')).toEqual({ key: 'worker', dir: 'desc' });
    expect(nextSort({ key: 'worker', dir: 'asc' }, 'rate')).toEqual({ key: 'rate', dir: 'desc' });
    expect(nextSort({ key: 'rate', dir: 'desc' }, 'site')).toEqual({ key: 'site', dir: 'asc' });
  });

  test('counts by effective health', () => {
    expect(countHealth(rows, clock)).toEqual({ active: 2, idle: 1, stale: 1, gone: 1 });
  });

  test('a thousand rows sort in well under a frame', () => {
    const many = Array.from({ length: 1000 }, (_, i) => worker(i, T0 + 59_000, { rate: (i * 7919) % 1000 }));
    const t0 = performance.now();
    for (const key of ['rate', 'worker', 'health', 'lastSeen', 'hitRatio'] as const) sortWorkers([...many], { key, dir: 'desc' }, clock);
    // Generous bound (CI machines vary); measured around 1 ms per sort.
    expect(performance.now() - t0).toBeLessThan(250);
  });
});
