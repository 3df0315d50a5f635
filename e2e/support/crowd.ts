/**
 * Many simulated workers: real WebSocket sessions that say hello and heartbeat (they hold no
 * ranges), so a dashboard has a thousand rows to show.
 */
import WebSocket from 'ws';
import { encode } from '@ess/protocol';
import type { EssProcess } from './ess.js';

export interface Crowd {
  readonly size: number;
  close(): Promise<void>;
}

const SITES = ['CERN-PROD', 'DESY-HH', 'BNL-ATLAS', 'TRIUMF', 'IN2P3-CC', 'RAL-LCG2', 'NDGF-T1', 'PIC'];

export async function crowd(ess: EssProcess, size: number): Promise<Crowd> {
  const sockets: WebSocket[] = [];
  const opened: Promise<void>[] = [];
  for (let i = 0; i < size; i++) {
    const ws = new WebSocket(`${ess.wsUrl}/v1/stream`, { perMessageDeflate: false });
    ws.on('error', () => undefined);
    sockets.push(ws);
    opened.push(
      new Promise<void>((resolve) =>
        ws.once('open', () => {
          ws.send(encode({ type: 'hello', protocol: 1, role: 'worker', token: ess.token, worker: { id: `sim-${String(i).padStart(4, '0')}`, label: `simulated ${i}`, site: SITES[i % SITES.length]! } }));
          resolve();
        }),
      ),
    );
  }
  await Promise.all(opened);
  const beat = setInterval(() => {
    for (const ws of sockets) if (ws.readyState === WebSocket.OPEN) ws.send(encode({ type: 'heartbeat', t: Date.now() }));
  }, 2_000);
  return {
    size,
    close: async () => {
      clearInterval(beat);
      for (const ws of sockets) ws.terminate();
    },
  };
}
