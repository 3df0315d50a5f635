/**
 * How EssWorker treats the end of a session, against a scripted server on loopback: a session the
 * server timed out (its view of the link stalled) is reconnected, while a fatal refusal of the
 * worker itself ends the run with that code.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { CloseCode, decodeClientMessage, encode, ErrorCode, PROTOCOL_VERSION, type ServerMessage } from '@ess/protocol';
import { EssWorker } from '../src/index.js';

const limits = { maxChunk: 64 * 1024, window: 256 * 1024, prefetch: 1, heartbeatMs: 200, leaseMs: 5_000, maxFrame: 1024 * 1024 };

/** A server that plays `script(n)` to the n-th connection once its hello and subscribe arrive. */
async function scriptedServer(script: (n: number, ws: WebSocket) => void) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  let connections = 0;
  wss.on('connection', (ws) => {
    const n = connections++;
    ws.on('message', (data: Buffer) => {
      const msg = decodeClientMessage(data);
      if (!msg.ok) throw new Error(msg.error.message);
      if (msg.value.type === 'hello') {
        const welcome: ServerMessage = { type: 'welcome', protocol: PROTOCOL_VERSION, role: 'worker', server: { id: 'scripted', version: '0' }, session: `s${n}`, worker: msg.value.worker?.id ?? 'w', limits };
        ws.send(encode(welcome));
      }
      if (msg.value.type === 'subscribe') script(n, ws);
    });
  });
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    connections: () => connections,
    close: () => new Promise<void>((r) => {
      for (const c of wss.clients) c.terminate();
      wss.close(() => r());
    }),
  };
}

describe('EssWorker and the end of a session', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  async function outDir() {
    const dir = await mkdtemp(join(tmpdir(), 'ess-link-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  }

  it('reconnects after the server times the session out, and finishes on the next session', async () => {
    const server = await scriptedServer((n, ws) => {
      if (n === 0) {
        ws.send(encode({ type: 'error', code: ErrorCode.timeout, message: 'no heartbeat for too long', fatal: true }));
        ws.close(CloseCode.timeout, 'heartbeat timeout');
      } else {
        ws.send(encode({ type: 'done', task: 3, reason: 'complete' }));
      }
    });
    cleanups.push(server.close);
    const worker = new EssWorker({ url: server.url, task: 3, outDir: await outDir(), id: 'link-1', maxBackoffMs: 50, log: pino({ level: 'silent' }) });
    const summary = await worker.run();
    expect(server.connections()).toBe(2);
    expect(summary.reconnects).toBe(1);
  });

  it('ends the run when the server refuses the worker with a fatal error', async () => {
    const server = await scriptedServer((_n, ws) => {
      ws.send(encode({ type: 'error', code: ErrorCode.versionMismatch, message: 'speaks another version', fatal: true }));
      ws.close(CloseCode.timeout, 'closing');
    });
    cleanups.push(server.close);
    const worker = new EssWorker({ url: server.url, task: 3, outDir: await outDir(), id: 'link-2', maxBackoffMs: 50, log: pino({ level: 'silent' }) });
    await expect(worker.run()).rejects.toMatchObject({ code: ErrorCode.versionMismatch });
    expect(server.connections()).toBe(1);
  });
});
