/**
 * The dashboard store: a vanilla zustand store outside React. Data messages are queued and applied once
 * per frame to a shadow view; the visible view follows the shadow unless paused. Series are kept beside it.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import { applyBatch } from './reducer.js';
import { SeriesBook, type SeriesOptions } from './series.js';
import { DEFAULT_THRESHOLDS, type Thresholds } from './thresholds.js';
import { FrameBatcher, animationFrameScheduler, type FrameScheduler } from './FrameBatcher.js';
import { EMPTY_VIEW, type ConnectionInfo, type DashboardState, type MonitorData, type MonitorView, type Received } from './types.js';

export interface DashboardStoreOptions {
  /** When queued messages are applied; defaults to once per animation frame. */
  scheduler?: FrameScheduler;
  /** Local clock. */
  now?: () => number;
  thresholds?: Partial<Thresholds>;
  series?: SeriesOptions;
}

export interface DashboardStore {
  /** The zustand store; select from it narrowly (`useDashboard(s => s.view.workers.get(id))`). */
  readonly api: StoreApi<DashboardState>;
  /** Chart data, outside React state. Charts redraw when `state.view` changes. */
  readonly series: SeriesBook;
  /** Queues a snapshot or delta; it is applied on the next frame. */
  receive(msg: MonitorData, at?: number): void;
  /** Applies everything queued now. */
  flush(): void;
  /** Messages waiting for the next frame. */
  readonly pending: number;
  /** The latest state of the service, including what a pause holds back. */
  shadow(): MonitorView;
  /** Freezes or unfreezes the visible view; data keeps being applied to the shadow either way. */
  setPaused(paused: boolean): void;
  togglePause(): void;
  /** Merges connection facts (state changes are stamped with `since`). */
  setConnection(patch: Partial<ConnectionInfo>): void;
  /** Advances the clock used for ages and client-side staleness. */
  tick(now?: number): void;
  /** Forgets all data (e.g. when switching servers). */
  reset(): void;
  dispose(): void;
}

export const INITIAL_CONNECTION: ConnectionInfo = Object.freeze({
  state: 'connecting',
  since: 0,
  attempt: 0,
  retryAt: null,
  closeCode: null,
  closeReason: null,
  problem: null,
  lastError: null,
  needToken: false,
  server: null,
  session: null,
  heartbeatMs: null,
  lastDataAt: null,
  decodeErrors: 0,
});

export function createDashboardStore(opts: DashboardStoreOptions = {}): DashboardStore {
  const now = opts.now ?? Date.now;
  const thresholds: Thresholds = { ...DEFAULT_THRESHOLDS, ...opts.thresholds };
  const series = new SeriesBook(opts.series);
  const api = createStore<DashboardState>()(() => ({
    view: EMPTY_VIEW,
    connection: { ...INITIAL_CONNECTION, since: now() },
    paused: null,
    now: now(),
    thresholds,
  }));

  let shadow: MonitorView = EMPTY_VIEW;

  const applyQueued = (items: Received[]) => {
    // Every message is a sample for the series; the store is published once per batch.
    let v = applyBatch(shadow, items, (after, { msg }) => {
      series.record(after, msg.type, msg.type === 'delta' ? msg.gone : []);
    });
    if (v.ready) v = { ...v, recentHitRatio: series.recentHitRatio(thresholds.hitRatioWindowMs) };
    shadow = v;
    const last = items[items.length - 1]!;
    const s = api.getState();
    const connection = { ...s.connection, lastDataAt: last.at };
    if (s.paused) {
      api.setState({ connection, paused: { ...s.paused, held: s.paused.held + items.length } });
    } else {
      api.setState({ connection, view: shadow });
    }
  };

  const batcher = new FrameBatcher<Received>(opts.scheduler ?? animationFrameScheduler, applyQueued);

  function setPaused(paused: boolean): void {
    const s = api.getState();
    if (paused === (s.paused !== null)) return;
    // Apply what is queued first, so the frozen view is the latest one and resuming shows everything.
    batcher.flush();
    if (paused) api.setState({ paused: { since: now(), held: 0 } });
    else api.setState({ paused: null, view: shadow, now: now() });
  }

  return {
    api,
    series,
    receive(msg, at = now()) {
      batcher.push({ msg, at });
    },
    flush() {
      batcher.flush();
    },
    get pending() {
      return batcher.pending;
    },
    shadow: () => shadow,
    setPaused,
    togglePause() {
      setPaused(api.getState().paused === null);
    },
    setConnection(patch) {
      const prev = api.getState().connection;
      const stateChanged = patch.state !== undefined && patch.state !== prev.state;
      api.setState({ connection: { ...prev, ...patch, since: stateChanged ? now() : prev.since } });
    },
    tick(t = now()) {
      // Whole seconds are all the ages need; fewer updates, fewer renders.
      if (Math.floor(t / 1000) !== Math.floor(api.getState().now / 1000)) api.setState({ now: t });
    },
    reset() {
      batcher.dispose();
      shadow = EMPTY_VIEW;
      series.clear();
      api.setState({ view: EMPTY_VIEW, paused: null });
    },
    dispose() {
      batcher.dispose();
    },
  };
}
