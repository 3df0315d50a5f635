/**
 * Heartbeat timeouts on the worker channel: a worker silent for three periods is closed with
 * `timeout` (4408); a server whose own event loop stalled for that long does not blame the
 * workers whose frames waited unread behind the stall.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CloseCode, DEFAULT_LIMIT_POLICY, ErrorCode } from '@ess/protocol';
import { RawWorker, startTestServer, tempDir, Teardown, waitFor } from '@ess/testkit';

const HEARTBEAT_MS = 200;

describe('heartbeat timeouts', () => {
  const teardown = new Teardown();
  afterEach(() => teardown.run());

  async function server() {
    const dir = teardown.own(await tempDir(), (d) => d.remove());
    return teardown.own(await startTestServer({ dataDir: dir.path, limits: { ...DEFAULT_LIMIT_POLICY, heartbeatMs: HEARTBEAT_MS } }), (s) => s.close());
  }

  it('closes a worker that sends nothing for three periods with timeout (4408)', async () => {
    const s = await server();
    const w = teardown.own(await RawWorker.hello(s.wsUrl, { worker: { id: 'silent' } }), (x) => x.terminate());
    const closed = await w.closed;
    expect(closed.code).toBe(CloseCode.timeout);
    const e = await w.next('error');
    expect(e).toMatchObject({ code: ErrorCode.timeout, fatal: true });
  });

  it('keeps a heartbeating worker through a stall of the server longer than three periods', async () => {
    const s = await server();
    const w = teardown.own(await RawWorker.hello(s.wsUrl, { worker: { id: 'steady' } }), (x) => x.terminate());
    const beat = () => w.send({ type: 'heartbeat', t: Date.now() });
    const keepBeating = setInterval(beat, HEARTBEAT_MS / 2);
    teardown.defer(() => clearInterval(keepBeating));
    // Two server heartbeats seen: the timer is running and the session is live.
    await waitFor(() => w.received.filter((m) => m.type === 'heartbeat').length >= 2, { message: 'server heartbeats' });
    // The server shares this process: block it (and the worker's timer) for five periods. The
    // worker's frame written at the end of the stall is read only after the server's overdue timer runs.
    const until = Date.now() + 5 * HEARTBEAT_MS;
    while (Date.now() < until) {
      /* a stalled event loop */
    }
    beat();
    const heard = w.received.length;
    // Several periods later the session is still open, still heartbeating, and no error was sent.
    await waitFor(() => w.received.filter((m) => m.type === 'heartbeat').length >= heard + 4, { message: 'heartbeats after the stall' });
    expect(w.received.filter((m) => m.type === 'error')).toEqual([]);
    expect(w.ws.readyState).toBe(w.ws.OPEN);
  });
});
