/**
 * A recorded stream of a thousand workers' deltas, replayed through the real codec, the real connection
 * and the real store into the rendered dashboard: the state must end exactly right, and React must do a
 * bounded amount of work (one commit per frame, the page shell once, only the rows in view).
 */
import { Profiler } from 'react';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { act, cleanup, render } from '@testing-library/react';
import { encode } from '@ess/protocol';
import { App, appRenders } from '../src/App.js';
import { workerRowRenders } from '../src/components/WorkerRow.js';
import { MonitorConnection } from '../src/connection/MonitorConnection.js';
import { createDashboardStore } from '../src/store/DashboardStore.js';
import { manualScheduler } from '../src/store/FrameBatcher.js';
import { DashboardProvider } from '../src/store/react.js';
import { WELCOME, socketFactory } from './fixtures/FakeSocket.js';
import { T0, record } from './fixtures/stream.js';

const WORKERS = 1000;
const DELTAS = 120;
/** Messages that arrive between two animation frames (a slow frame, or a burst after a stall). */
const PER_FRAME = [1, 4, 2, 8, 3];

beforeAll(() => {
  vi.useFakeTimers({ now: T0 });
});
afterAll(() => {
  cleanup();
  vi.useRealTimers();
});

describe('a thousand workers streaming', () => {
  test('state stays exact and rendering stays bounded', () => {
    const rec = record({ workers: WORKERS, deltas: DELTAS, seed: 7, leavePerDelta: 3 });
    // The recording as the wire carries it: MessagePack frames.
    const frames = [encode(rec.snapshot), ...rec.deltas.map((d) => encode(d))];

    const scheduler = manualScheduler();
    const store = createDashboardStore({ scheduler });
    const sockets = socketFactory();
    const conn = new MonitorConnection({ url: 'ws://test/v1/monitor', store, createSocket: sockets.create });
    let storeUpdates = 0;
    store.api.subscribe(() => storeUpdates++);
    let commits = 0;
    appRenders.count = 0;
    workerRowRenders.count = 0;

    render(
      <Profiler id="dashboard" onRender={() => commits++}>
        <DashboardProvider store={store} connection={conn}>
          <App />
        </DashboardProvider>
      </Profiler>,
    );
    act(() => {
      conn.start();
      sockets.last.open();
      sockets.last.deliver(WELCOME);
    });

    let i = 0;
    let flushes = 0;
    while (i < frames.length) {
      const n = PER_FRAME[flushes % PER_FRAME.length]!;
      for (const f of frames.slice(i, i + n)) sockets.last.deliverBytes(f);
      i += n;
      act(() => {
        scheduler.flush();
      });
      flushes++;
    }
    const before = { commits, storeUpdates, rows: workerRowRenders.count };

    // ---- the state is exactly what the stream says ----
    const s = store.api.getState();
    expect(s.connection).toMatchObject({ state: 'open', decodeErrors: 0 });
    expect(s.view.seq).toBe(DELTAS);
    expect(s.view.seqGaps).toBe(0);
    expect(s.view.workers.size).toBe(rec.final.size);
    for (const [id, row] of rec.final) expect(s.view.workers.get(id)).toEqual(row);
    for (const id of rec.goneIds) expect(s.view.workers.has(id)).toBe(false);
    expect(s.view.totals).toEqual(rec.deltas[DELTAS - 1]!.totals);
    expect(s.view.tasks.get(1)?.eventsDone).toBe(1000 + DELTAS * 10);

    // ---- memory is bounded: no series left behind by workers that left ----
    expect(store.series.workerCount).toBe(rec.final.size);
    expect(store.series.totals.length).toBe(DELTAS + 1);
    expect(store.pending).toBe(0);

    // ---- work is bounded ----
    // One store update per frame (plus the few connection state changes).
    expect(storeUpdates).toBeLessThanOrEqual(flushes + 3);
    // At most one React commit per frame, plus mounting and the welcome.
    expect(commits).toBeLessThanOrEqual(flushes + 3);
    // The page shell never re-renders for data.
    expect(appRenders.count).toBe(1);
    // Only the rows in view render: a window of ~30 rows, not a thousand, per frame.
    const window = document.querySelectorAll('[data-testid="workers-table"] tbody tr[data-worker-id]').length;
    expect(window).toBeGreaterThan(10);
    expect(window).toBeLessThanOrEqual(40);
    expect(workerRowRenders.count).toBeLessThanOrEqual(window * (flushes + 2));
    expect(workerRowRenders.count).toBeLessThan(0.05 * WORKERS * flushes);
    // The table reports every worker though only a window is in the DOM.
    const count = document.querySelector('[data-testid="workers-count"]') as HTMLElement;
    expect(Number(count.dataset.total)).toBe(rec.final.size);

    // ---- pausing: data keeps coming, nothing re-renders, resume catches up in one commit ----
    act(() => store.setPaused(true));
    const paused = { commits, rows: workerRowRenders.count };
    const more = record({ workers: WORKERS, deltas: DELTAS + 10, seed: 7, leavePerDelta: 3 }).deltas.slice(DELTAS);
    for (const d of more) {
      sockets.last.deliverBytes(encode(d));
      act(() => {
        scheduler.flush();
      });
    }
    // Only the paused banner's counter changes.
    expect(workerRowRenders.count).toBe(paused.rows);
    expect(commits - paused.commits).toBeLessThanOrEqual(more.length);
    expect(store.api.getState().view.seq).toBe(DELTAS);
    expect(store.shadow().seq).toBe(DELTAS + 10);
    act(() => store.setPaused(false));
    expect(store.api.getState().view.seq).toBe(DELTAS + 10);
    expect(before.commits).toBeGreaterThan(0);
    conn.stop();
    // A thousand workers through the real codec, connection, store and React: seconds on a busy machine.
  }, 60_000);
});
