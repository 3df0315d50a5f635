/**
 * Regression test for the uWS v20.30 corruption bug (TRANSPORT-NOTES.md): frames of 16 KiB and
 * more sent whenever the socket's buffer is empty, to a client that pauses and resumes its socket
 * every few milliseconds. Without the transport's safe send path the stream loses bytes and stalls
 * or dies; with it every frame arrives intact and in order.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { createHash } from 'node:crypto';
import WebSocket from 'ws';
import { UwsTransport, type WsSocket } from '../src/transport/index.js';
import { createLogger } from '../src/log.js';
import { waitFor } from './support.js';

const log = createLogger('silent');

function frame(n: number, size: number): Buffer {
  const b = Buffer.alloc(size, n & 0xff);
  b.writeUInt32LE(n, 0);
  b.writeUInt32LE(size, 4);
  return b;
}

describe('transport: the safe send path', () => {
  let transport: UwsTransport | undefined;
  afterEach(() => {
    transport?.closeAll(1001, 'test over');
    transport?.stopListening();
    transport = undefined;
  });

  for (const size of [20_000, 64 * 1024, 256 * 1024]) {
    it(`delivers ${size}-byte frames intact and in order to a client that keeps pausing`, async () => {
      transport = new UwsTransport({ log });
      type S = { n: number };
      // The reproduction: send numbered frames whenever nothing is buffered, from inside the
      // socket's own callbacks (open, drain), exactly where uWS takes its corrupting fast path.
      const pump = (s: WsSocket<S>) => {
        while (!s.closed && s.bufferedAmount() === 0) s.send(frame(s.state.n++, size));
      };
      transport.channel<S>(
        '/t',
        {
          open: (s) => {
            s.state = { n: 0 };
            pump(s as WsSocket<S>);
            return s.state;
          },
          message: () => undefined,
          writable: (s) => pump(s),
          close: () => undefined,
        },
        { maxFrame: 1024 },
      );
      const port = await transport.listen('127.0.0.1', 0);
      const client = new WebSocket(`ws://127.0.0.1:${port}/t`, { perMessageDeflate: false, maxPayload: 4 * size });
      let expected = 0;
      const problems: string[] = [];
      let closed: number | null = null;
      client.on('message', (d: Buffer) => {
        const n = d.readUInt32LE(0);
        if (n !== expected) problems.push(`frame ${n} arrived when ${expected} was expected`);
        if (d.length !== size || d.readUInt32LE(4) !== size) problems.push(`frame ${n} has ${d.length} bytes`);
        else if (d[size - 1] !== (n & 0xff) || d[size >> 1] !== (n & 0xff)) problems.push(`frame ${n} is corrupt`);
        expected = n + 1;
      });
      client.on('close', (code) => (closed = code));
      client.on('error', (e) => problems.push(e.message));
      await new Promise<void>((r) => client.once('open', () => r()));
      const sock = (client as unknown as { _socket: import('node:net').Socket })._socket;
      const toggler = setInterval(() => {
        sock.pause();
        setTimeout(() => sock.resume(), 1 + Math.random() * 4);
      }, 5);
      await new Promise((r) => setTimeout(r, 3_000));
      clearInterval(toggler);
      sock.resume();
      const during = expected;
      // Still alive: frames keep coming once the client reads freely (the bug stalls here).
      await waitFor(() => expected > during + 100, { timeoutMs: 3_000, message: 'frames after the pausing stopped' });
      client.close();
      expect(problems.slice(0, 5)).toEqual([]);
      expect(closed).toBeNull();
      expect(during).toBeGreaterThan(1_000);
    }, 15_000);
  }

  it('serves large HTTP bodies intact to a client that keeps pausing', async () => {
    transport = new UwsTransport({ log });
    const body = Buffer.alloc(8 * 1024 * 1024);
    for (let i = 0; i < body.length; i += 4) body.writeUInt32LE(i * 2654435761 >>> 0, i);
    const want = createHash('sha256').update(body).digest('hex');
    transport.route('get', '/big', () => ({ status: 200, headers: { 'content-type': 'application/octet-stream' }, body }));
    const port = await transport.listen('127.0.0.1', 0);
    for (let round = 0; round < 3; round++) {
      const got = await new Promise<string>((resolve, reject) => {
        request({ host: '127.0.0.1', port, path: '/big' }, (res) => {
          const h = createHash('sha256');
          res.on('data', (d: Buffer) => {
            h.update(d);
            res.pause();
            setTimeout(() => res.resume(), Math.random() * 3);
          });
          res.on('end', () => resolve(h.digest('hex')));
          res.on('error', reject);
        }).on('error', reject).end();
      });
      expect(got).toBe(want);
    }
  }, 30_000);
});
