import { afterEach, describe, expect, test } from 'vitest';
import { act, cleanup, fireEvent, render, screen } from '@testing-library/react';
import { App } from '../src/App.js';
import { createDashboardStore } from '../src/store/DashboardStore.js';
import { manualScheduler } from '../src/store/FrameBatcher.js';
import { DashboardProvider, type ConnectionControl } from '../src/store/react.js';
import { T0, delta, snapshot, task, worker } from './fixtures/stream.js';

afterEach(cleanup);

function mount() {
  const frames = manualScheduler();
  let now = T0;
  const store = createDashboardStore({ scheduler: frames, now: () => now });
  const calls: string[] = [];
  const control: ConnectionControl = {
    setToken: (t) => calls.push(`token:${t}`),
    reconnectNow: () => calls.push('reconnect'),
  };
  const utils = render(
    <DashboardProvider store={store} connection={control}>
      <App />
    </DashboardProvider>,
  );
  const feed = (...msgs: Parameters<typeof store.receive>[0][]) =>
    act(() => {
      for (const m of msgs) store.receive(m, now);
      frames.flush();
    });
  return { store, frames, feed, calls, utils, advance: (ms: number) => (now += ms) };
}

const byTestId = (id: string) => screen.getByTestId(id);

describe('dashboard components', () => {
  test('before the first snapshot the panels say they are waiting, and no stale banner shows', () => {
    mount();
    expect(screen.getByTestId('workers-empty').textContent).toMatch(/Waiting for the first snapshot/);
    expect(screen.queryByTestId('stale-banner')).toBeNull();
    expect(byTestId('connection-status').dataset.state).toBe('connecting');
  });

  test('no cache and no sources are said plainly, not shown as zeros', () => {
    const { feed } = mount();
    feed(snapshot([worker(1, T0)], { cache: null, sources: [] }));
    expect(byTestId('cache-empty').textContent).toMatch(/No cache configured/);
    expect(byTestId('sources-empty').textContent).toMatch(/No sources reporting/);
    expect(byTestId('kpi-cache-hit-ratio').textContent).toMatch(/no cache/);
  });

  test('cache and sources with figures and testids', () => {
    const { feed } = mount();
    feed(
      snapshot([], {
        cache: {
          blockSize: 4 << 20,
          tiers: [
            { tier: 'memory', hits: 900, misses: 100, hitBytes: 9e9, bytes: 7e9, capacity: 8e9, evictions: 12 },
            { tier: 'disk', hits: 50, misses: 50, hitBytes: 1e9, bytes: 1e11, capacity: 5e11, evictions: 0 },
          ],
          coalesced: 33,
          prefetch: { issued: 40, bytes: 1e9, used: 30, inFlight: 2 },
        },
        sources: [
          { id: 'eos', kind: 'http', endpoint: 'https://eos', health: 'up', latencyMs: 38, throughput: 4.2e8, requests: 100, errors: 1, bytes: 0, inFlight: 1, failovers: 0 },
          { id: 'ral', kind: 'http', endpoint: 'https://ral', health: 'down', latencyMs: 5000, throughput: 0, requests: 10, errors: 10, bytes: 0, inFlight: 0, failovers: 0 },
        ],
      }),
    );
    expect(byTestId('cache-hits-memory').dataset.value).toBe('900');
    expect(byTestId('cache-misses-disk').dataset.value).toBe('50');
    expect(byTestId('cache-evictions-memory').dataset.value).toBe('12');
    expect(byTestId('cache-hits').dataset.value).toBe('950');
    expect(byTestId('cache-misses').dataset.value).toBe('50');
    expect(Number(byTestId('cache-hit-ratio').dataset.value)).toBeCloseTo(0.95);
    expect(byTestId('cache-coalesced').dataset.value).toBe('33');
    const rows = byTestId('sources-table').querySelectorAll('tbody tr');
    expect([...rows].map((r) => r.getAttribute('data-source-id'))).toEqual(['ral', 'eos']);
    expect(rows[0]!.getAttribute('data-health')).toBe('down');
    // A source down raises an alarm even if the server did not.
    const alarms = byTestId('alarms');
    expect(alarms.dataset.critical).toBe('1');
    expect(alarms.querySelector('[data-alarm-kind="source_down"]')?.getAttribute('data-subject')).toBe('ral');
  });

  test('tasks: completion percentage, stacked bar by range state, ETA', () => {
    const { feed } = mount();
    feed(
      snapshot([], {
        tasks: [
          task(1, { ranges: { ready: 50, assigned: 10, running: 10, finished: 25, failed: 3, fatal: 2, cancelled: 0 }, etaSeconds: 200 }),
          task(2, { state: 'complete', ranges: { ready: 0, assigned: 0, running: 0, finished: 100, failed: 0, fatal: 0, cancelled: 0 }, etaSeconds: null }),
        ],
      }),
    );
    const t1 = byTestId('task-1');
    expect(t1.dataset.completePct).toBe('27');
    expect(t1.dataset.finishedPct).toBe('25');
    expect(t1.dataset.state).toBe('active');
    const segs = [...t1.querySelectorAll('.sbar [data-range-state]')].map((s) => `${s.getAttribute('data-range-state')}:${s.getAttribute('data-count')}`);
    expect(segs).toEqual(['finished:25', 'running:10', 'assigned:10', 'ready:50', 'failed:3', 'fatal:2']);
    expect(byTestId('task-1-eta').textContent).toBe('3 min 20 s');
    expect(byTestId('task-2').dataset.completePct).toBe('100');
    expect(byTestId('task-2-eta').textContent).toBe('done');
  });

  test('the stale banner shows when the channel drops and hides when data flows again', () => {
    const { store, feed } = mount();
    act(() => store.setConnection({ state: 'open' }));
    feed(snapshot([worker(1, T0)]));
    expect(screen.queryByTestId('stale-banner')).toBeNull();
    expect(byTestId('dashboard').dataset.stale).toBe('false');
    act(() => store.setConnection({ state: 'connecting', problem: 'The connection to the server was lost.', retryAt: T0 + 2000 }));
    const banner = byTestId('stale-banner');
    expect(banner.textContent).toMatch(/Data is stale/);
    expect(banner.textContent).toMatch(/connection to the server was lost/);
    expect(byTestId('connection-status').dataset.state).toBe('connecting');
    expect(byTestId('dashboard').dataset.stale).toBe('true');
    act(() => store.setConnection({ state: 'stale' }));
    expect(byTestId('stale-banner').dataset.state).toBe('stale');
    act(() => store.setConnection({ state: 'open', problem: null }));
    expect(screen.queryByTestId('stale-banner')).toBeNull();
  });

  test('the reconnect button asks the connection', () => {
    const { store, feed, calls } = mount();
    feed(snapshot([worker(1, T0)]));
    act(() => store.setConnection({ state: 'connecting', retryAt: T0 + 5000 }));
    fireEvent.click(screen.getByText('Reconnect now'));
    expect(calls).toEqual(['reconnect']);
  });

  test('the token form appears when the server wants a token and hands it to the connection', () => {
    const { store, calls } = mount();
    act(() => store.setConnection({ state: 'closed', needToken: true, problem: 'The server requires a token.' }));
    expect(byTestId('token-problem').textContent).toBe('The server requires a token.');
    fireEvent.change(byTestId('token-input'), { target: { value: '  abc  ' } });
    fireEvent.submit(byTestId('token-form'));
    expect(calls).toEqual(['token:abc']);
    expect(sessionStorage.getItem('ess.monitor.token')).toBe('abc');
  });

  test('pause freezes the table while data keeps arriving; resume shows the latest', () => {
    const { feed } = mount();
    feed(snapshot([worker(1, T0, { rate: 1e6 })]));
    const pause = byTestId('pause-button');
    expect(pause.getAttribute('aria-pressed')).toBe('false');
    fireEvent.click(pause);
    expect(pause.getAttribute('aria-pressed')).toBe('true');
    feed(delta(1, [worker(2, T0 + 1000)], [], []));
    expect(document.querySelector('[data-worker-id="w-2"]')).toBeNull();
    expect(byTestId('paused-banner').dataset.held).toBe('1');
    fireEvent.click(pause);
    expect(document.querySelector('[data-worker-id="w-2"]')).not.toBeNull();
    expect(screen.queryByTestId('paused-banner')).toBeNull();
  });

  test('workers table: header buttons sort with aria-sort; the filter narrows rows', () => {
    const { feed } = mount();
    feed(snapshot([worker(1, T0, { rate: 1 }), worker(2, T0, { rate: 3 }), worker(3, T0, { rate: 2, site: 'DESY-HH' })]));
    const ids = () => [...byTestId('workers-table').querySelectorAll('tbody tr[data-worker-id]')].map((r) => r.getAttribute('data-worker-id'));
    expect(ids()).toEqual(['w-1', 'w-2', 'w-3']);
    const rateBtn = byTestId('sort-rate');
    fireEvent.click(rateBtn);
    expect(rateBtn.closest('th')!.getAttribute('aria-sort')).toBe('descending');
    expect(byTestId('sort-worker').closest('th')!.getAttribute('aria-sort')).toBe('none');
    expect(byTestId('workers-table').dataset.sortKey).toBe('rate');
    expect(ids()).toEqual(['w-2', 'w-3', 'w-1']);
    fireEvent.click(rateBtn);
    expect(ids()).toEqual(['w-1', 'w-3', 'w-2']);
    fireEvent.change(byTestId('workers-filter'), { target: { value: 'desy' } });
    expect(ids()).toEqual(['w-3']);
    expect(byTestId('workers-count').dataset.shown).toBe('1');
    expect(byTestId('workers-count').dataset.total).toBe('3');
  });

  test('several nodes: a node column (sortable) and the nodes panel; one node: neither', () => {
    const { feed } = mount();
    const rows = [worker(1, T0, { node: 'ess-b' }), worker(2, T0, { node: 'ess-a' }), worker(3, T0, { node: 'ess-c' })];
    feed(snapshot(rows));
    expect(screen.queryByTestId('sort-node')).toBeNull();
    expect(screen.queryByTestId('nodes-panel')).toBeNull();
    const nodes = ['ess-a', 'ess-b', 'ess-c'].map((id, i) => ({ id, url: `http://${id}:7400`, health: i === 2 ? ('down' as const) : ('up' as const), lastSeen: T0, workers: 1, rate: 1e6 }));
    feed(snapshot(rows, { seq: 1, nodes }));
    const ids = () => [...byTestId('workers-table').querySelectorAll('tbody tr[data-worker-id]')].map((r) => r.getAttribute('data-worker-id'));
    fireEvent.click(byTestId('sort-node'));
    expect(byTestId('workers-table').dataset.sortKey).toBe('node');
    expect(ids()).toEqual(['w-2', 'w-1', 'w-3']);
    expect(byTestId('workers-table').querySelector('tr[data-worker-id="w-1"] .c-node')!.textContent).toBe('ess-b');
    expect(byTestId('nodes-panel').querySelector('tr[data-node-id="ess-c"]')!.getAttribute('data-health')).toBe('down');
  });

  test('a worker silent past the threshold is marked stale in its row', () => {
    const { store, feed, advance } = mount();
    feed(snapshot([worker(1, T0), worker(2, T0 - 60_000)], { t: T0 }));
    const row = (id: string) => document.querySelector(`[data-worker-id="${id}"]`)!;
    expect(row('w-1').getAttribute('data-health')).toBe('active');
    expect(row('w-2').getAttribute('data-health')).toBe('stale');
    expect(row('w-2').getAttribute('data-server-health')).toBe('active');
    // Time passes without data: w-1 goes stale too.
    advance(20_000);
    act(() => store.tick());
    expect(row('w-1').getAttribute('data-health')).toBe('stale');
    expect(byTestId('alarms').querySelectorAll('[data-alarm-kind="worker_stale"]').length).toBe(2);
  });
});
