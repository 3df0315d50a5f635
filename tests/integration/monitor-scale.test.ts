/**
 * The monitor channel's cost stays flat in the number of dashboards: with 1,000 workers connected,
 * each update is built and encoded once and the same bytes go to every dashboard.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MONITOR_PATH, PROTOCOL_VERSION } from '@ess/protocol';
import { RawWorker, startTestServer, tempDir, Teardown, waitFor } from '@ess/testkit';

describe('monitor channel at scale', () => {
  const teardown = new Teardown();
  afterEach(() => teardown.run());
  const peers: RawWorker[] = [];

  async function dashboard(wsUrl: string): Promise<{ w: RawWorker; bytes: () => number }> {
    let bytes = 0;
    const w = await RawWorker.connect(wsUrl, { path: MONITOR_PATH, onMessage: (_m, n) => (bytes += n) });
    w.send({ type: 'hello', protocol: PROTOCOL_VERSION, role: 'monitor' });
    await w.next('snapshot');
    peers.push(w);
    return { w, bytes: () => bytes };
  }

  it('one update for 1,000 workers costs about the same with one dashboard as with eight', async () => {
    const dir = teardown.own(await tempDir(), (d) => d.remove());
    const server = teardown.own(await startTestServer({ dataDir: dir.path, monitorIntervalMs: 100 }), (s) => s.close());
    teardown.defer(() => {
      for (const p of peers.splice(0)) p.terminate();
    });
    for (let i = 0; i < 1000; i += 100) {
      peers.push(...(await Promise.all(Array.from({ length: 100 }, (_, k) => RawWorker.hello(server.wsUrl, { worker: { id: `w-${i + k}`, label: `worker ${i + k}`, site: 'SITE' } })))));
    }
    // Everyone's row changes on every tick (heartbeats move lastSeen): the worst case for deltas.
    const beat = setInterval(() => {
      for (const p of peers) if (p.ws.readyState === p.ws.OPEN) p.send({ type: 'heartbeat', t: Date.now() });
    }, 50);
    try {
      const first = await dashboard(server.wsUrl);
      await waitFor(() => server.monitor.deltaBytes > 100_000, { message: 'deltas carrying 1,000 rows' });
      const measure = async () => {
        const samples: number[] = [];
        for (let i = 0; i < 20; i++) {
          await new Promise((r) => setTimeout(r, 100));
          samples.push(server.monitor.tickMs);
        }
        return samples.sort((a, b) => a - b)[10]!;
      };
      const one = await measure();
      const others = await Promise.all(Array.from({ length: 7 }, () => dashboard(server.wsUrl)));
      const eight = await measure();
      // Each dashboard got the same stream.
      const received = [first, ...others].map((d) => d.bytes());
      expect(Math.min(...received)).toBeGreaterThan(100_000);
      // Seven more dashboards must not make an update cost anywhere near eight times as much.
      expect(eight).toBeLessThan(one * 2 + 5);
      const metrics = await (await fetch(`${server.httpUrl}/metrics`)).text();
      expect(metrics).toMatch(/ess_dashboards_connected 8/);
      expect(metrics).toMatch(/ess_monitor_tick_seconds \d/);
    } finally {
      clearInterval(beat);
    }
  }, 120_000);
});
