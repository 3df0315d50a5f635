import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { CloseCode, PROTOCOL_VERSION } from '@ess/protocol';
import { MonitorConnection } from '../src/connection/MonitorConnection.js';
import { backoffDelay, DEFAULT_BACKOFF } from '../src/connection/backoff.js';
import { createDashboardStore } from '../src/store/DashboardStore.js';
import { manualScheduler } from '../src/store/FrameBatcher.js';
import { T0, delta, snapshot, worker } from './fixtures/stream.js';
import { WELCOME, socketFactory } from './fixtures/FakeSocket.js';

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});
afterEach(() => {
  vi.useRealTimers();
});

function setup(opts: { token?: string | null; random?: () => number } = {}) {
  const frames = manualScheduler();
  const store = createDashboardStore({ scheduler: frames });
  const sockets = socketFactory();
  const rejected = vi.fn();
  const conn = new MonitorConnection({
    url: 'ws://ess.test/v1/monitor',
    store,
    token: opts.token ?? null,
    createSocket: sockets.create,
    random: opts.random ?? (() => 0.5),
    onTokenRejected: rejected,
  });
  conn.start();
  const state = () => store.api.getState().connection;
  /** Opens the current socket, welcomes and sends a snapshot. */
  const establish = () => {
    sockets.last.open();
    sockets.last.deliver(WELCOME);
    sockets.last.deliver(snapshot([worker(1, Date.now())], { t: Date.now() }));
    frames.flush();
  };
  return { store, frames, sockets, conn, state, establish, rejected };
}

describe('monitor connection', () => {
  test('says hello as a monitor with the protocol version and the token', () => {
    const { sockets } = setup({ token: 's3cret' });
    expect(sockets.last.url).toBe('ws://ess.test/v1/monitor');
    expect(sockets.last.binaryType).toBe('arraybuffer');
    sockets.last.open();
    expect(sockets.last.messages()).toEqual([{ type: 'hello', protocol: PROTOCOL_VERSION, role: 'monitor', token: 's3cret', agent: 'ess-dashboard' }]);
  });

  test('connecting → open on welcome; data reaches the store on the next frame', () => {
    const { sockets, state, store, frames } = setup();
    expect(state().state).toBe('connecting');
    sockets.last.open();
    sockets.last.deliver(WELCOME);
    expect(state()).toMatchObject({ state: 'open', server: { id: 'ess-a', version: '0.1.0' }, heartbeatMs: 5000 });
    sockets.last.deliver(snapshot([worker(1, T0), worker(2, T0)]));
    expect(store.api.getState().view.ready).toBe(false);
    frames.flush();
    expect(store.api.getState().view.workers.size).toBe(2);
  });

  test('stale when no data arrives for 3 × intervalMs; live again with the next delta', () => {
    const { sockets, state, establish } = setup();
    establish();
    vi.advanceTimersByTime(2500);
    expect(state().state).toBe('open');
    vi.advanceTimersByTime(1000);
    expect(state().state).toBe('stale');
    expect(state().problem).toMatch(/No data from the server for 3 s/);
    sockets.last.deliver(delta(1, [], [], []));
    expect(state().state).toBe('open');
    expect(state().problem).toBeNull();
  });

  test('at a fast server rate the view is not called stale sooner than the floor', () => {
    const { sockets, state } = setup();
    sockets.last.open();
    sockets.last.deliver(WELCOME);
    sockets.last.deliver(snapshot([], { t: Date.now(), intervalMs: 250 }));
    vi.advanceTimersByTime(1000);
    expect(state().state).toBe('open');
    vi.advanceTimersByTime(1000);
    expect(state().state).toBe('stale');
  });

  test('heartbeats keep the socket but do not make the data fresh', () => {
    const { sockets, state, establish } = setup();
    establish();
    for (let i = 0; i < 10; i++) {
      vi.advanceTimersByTime(1000);
      sockets.last.deliver({ type: 'heartbeat', t: Date.now() });
    }
    expect(state().state).toBe('stale');
    expect(sockets.sockets).toHaveLength(1);
    expect(sockets.last.closedWith).toBeNull();
  });

  test('a silent socket (not even heartbeats) is dropped and replaced', () => {
    const { sockets, state, establish } = setup();
    establish();
    vi.advanceTimersByTime(15_600);
    expect(sockets.sockets[0]!.closedWith?.code).toBe(CloseCode.timeout);
    expect(state().state).toBe('connecting');
    vi.advanceTimersByTime(1000);
    expect(sockets.sockets).toHaveLength(2);
  });

  test('a socket that never opens is abandoned after the connect timeout', () => {
    const { sockets } = setup();
    vi.advanceTimersByTime(10_600);
    expect(sockets.sockets[0]!.closedWith).not.toBeNull();
    vi.advanceTimersByTime(1000);
    expect(sockets.sockets).toHaveLength(2);
  });

  test('going away (1001) reconnects with growing, jittered delays; a snapshot resets the backoff', () => {
    let r = 0;
    const randoms = [0, 0.999, 0.5, 0.5, 0.5, 0.5, 0.5];
    const { sockets, state, establish } = setup({ random: () => randoms[r++ % randoms.length]! });
    establish();
    sockets.last.serverClose(CloseCode.goingAway, 'restart');
    expect(state()).toMatchObject({ state: 'connecting', attempt: 1, closeCode: 1001 });
    expect(state().problem).toMatch(/shutting down or restarting/);
    // attempt 0: ceiling 500 ms, random 0 → 250 ms
    expect(state().retryAt! - Date.now()).toBe(250);
    vi.advanceTimersByTime(249);
    expect(sockets.sockets).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(sockets.sockets).toHaveLength(2);
    sockets.last.serverClose(1006);
    // attempt 1: ceiling 1000 ms, random ~1 → ~1000 ms
    expect(state().retryAt! - Date.now()).toBe(1000);
    vi.advanceTimersByTime(1000);
    expect(sockets.sockets).toHaveLength(3);
    establish();
    expect(state()).toMatchObject({ state: 'open', attempt: 0 });
    sockets.last.serverClose(1006);
    expect(state().retryAt! - Date.now()).toBe(backoffDelay(0, DEFAULT_BACKOFF, () => 0.5));
  });

  test('backoff stays within [ceiling/2, ceiling] and is capped', () => {
    for (let attempt = 0; attempt < 12; attempt++) {
      const ceiling = Math.min(DEFAULT_BACKOFF.maxMs, DEFAULT_BACKOFF.initialMs * 2 ** attempt);
      expect(backoffDelay(attempt, DEFAULT_BACKOFF, () => 0)).toBe(ceiling / 2);
      expect(backoffDelay(attempt, DEFAULT_BACKOFF, () => 0.99999)).toBeLessThanOrEqual(ceiling);
    }
  });

  test('unauthorized (4401): stop, ask for a token, then connect with the one given', () => {
    const { sockets, state, conn, rejected } = setup({ token: 'old' });
    sockets.last.open();
    sockets.last.serverClose(CloseCode.unauthorized, 'bad token');
    expect(state()).toMatchObject({ state: 'closed', needToken: true, closeCode: 4401 });
    expect(state().problem).toMatch(/rejected the token/);
    expect(rejected).toHaveBeenCalledOnce();
    vi.advanceTimersByTime(60_000);
    expect(sockets.sockets).toHaveLength(1);

    conn.setToken('new');
    expect(state().needToken).toBe(false);
    expect(sockets.sockets).toHaveLength(2);
    sockets.last.open();
    expect(sockets.last.messages()[0]).toMatchObject({ type: 'hello', token: 'new' });
  });

  test('forbidden (4403) also asks for a token; version mismatch (4426) says to reload and does not retry', () => {
    const a = setup();
    a.sockets.last.open();
    a.sockets.last.serverClose(CloseCode.forbidden);
    expect(a.state()).toMatchObject({ state: 'closed', needToken: true });
    expect(a.state().problem).toMatch(/not allowed/);

    const b = setup();
    b.sockets.last.open();
    b.sockets.last.serverClose(CloseCode.versionMismatch);
    expect(b.state()).toMatchObject({ state: 'closed', needToken: false });
    expect(b.state().problem).toMatch(/Reload the page/);
    vi.advanceTimersByTime(60_000);
    expect(b.sockets.sockets).toHaveLength(1);
  });

  test('undecodable frames are counted, not fatal', () => {
    const { sockets, state, establish } = setup();
    establish();
    sockets.last.deliverBytes(new Uint8Array([0xc1, 0xff, 0x00]));
    sockets.last.onmessage?.({ data: 'text frame' } as MessageEvent);
    expect(state().decodeErrors).toBe(2);
    expect(state().state).toBe('open');
  });

  test('a welcome without limits (as monitors get) is fine', () => {
    const { sockets, state } = setup();
    sockets.last.open();
    sockets.last.deliver({ ...WELCOME, limits: null });
    expect(state()).toMatchObject({ state: 'open', heartbeatMs: null });
  });

  test('error messages are shown', () => {
    const { sockets, state, establish } = setup();
    establish();
    sockets.last.deliver({ type: 'error', code: 'internal', message: 'boom', fatal: false });
    expect(state().lastError).toMatchObject({ code: 'internal', message: 'boom' });
  });

  test('stop closes for good', () => {
    const { sockets, state, conn, establish } = setup();
    establish();
    conn.stop();
    expect(sockets.last.closedWith?.code).toBe(1000);
    expect(state().state).toBe('closed');
    vi.advanceTimersByTime(60_000);
    expect(sockets.sockets).toHaveLength(1);
  });

  test('the clock ticks while connected, so ages keep moving when data stops', () => {
    const { store, establish } = setup();
    establish();
    const t = store.api.getState().now;
    vi.advanceTimersByTime(5000);
    expect(store.api.getState().now).toBeGreaterThanOrEqual(t + 4500);
  });
});
