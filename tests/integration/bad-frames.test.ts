import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { CloseCode, ErrorCode, MONITOR_PATH, PROTOCOL_VERSION, encode } from '@ess/protocol';
import { encode as msgpack } from '@msgpack/msgpack';
import { createTask, makeDataset, RawWorker, spawnWorker, startTestServer, taskStatus, tempDir, type TempDir } from '@ess/testkit';
import type { EssServer } from '@ess/server';

describe('bad frames', () => {
  let dir: TempDir;
  let server: EssServer;
  let datasetId: string;
  beforeAll(async () => {
    dir = await tempDir();
    datasetId = (await makeDataset(dir.path, { scope: 'itest', name: 'bad', files: 2, eventsPerFile: 40, sizeMean: 8 * 1024, seed: 9 })).id;
    server = await startTestServer({ dataDir: dir.path });
  });
  afterAll(async () => {
    await server?.close();
    await dir?.remove();
  });

  async function expectClosed(w: RawWorker, code: number, error: string) {
    const closed = await w.closed;
    expect(closed.code).toBe(code);
    const e = await w.next('error');
    expect(e.code).toBe(error);
    expect(e.fatal).toBe(true);
  }

  it('garbage bytes: bad_frame, closed with 1002', async () => {
    const w = await RawWorker.connect(server.wsUrl);
    w.sendRaw(Buffer.from([0xc1, 0xff, 0x00, 0x13, 0x37]));
    await expectClosed(w, CloseCode.protocolError, ErrorCode.badFrame);
  });

  it('truncated MessagePack: bad_frame, closed with 1002', async () => {
    const w = await RawWorker.connect(server.wsUrl);
    w.sendRaw(encode({ type: 'hello', protocol: PROTOCOL_VERSION, role: 'worker' }).subarray(0, 10));
    await expectClosed(w, CloseCode.protocolError, ErrorCode.badFrame);
  });

  it('an unknown message type: unknown_type, closed with 1002', async () => {
    const w = await RawWorker.connect(server.wsUrl);
    w.sendRaw(msgpack({ type: 'gimme', everything: true }));
    await expectClosed(w, CloseCode.protocolError, ErrorCode.unknownType);
  });

  it('a wrong protocol version: version_mismatch, closed with 4426', async () => {
    const w = await RawWorker.connect(server.wsUrl);
    w.sendRaw(msgpack({ type: 'hello', protocol: 99, role: 'worker' }));
    await expectClosed(w, CloseCode.versionMismatch, ErrorCode.versionMismatch);
    expect((await w.next('error')).message).toMatch(/serverTooOld/);
  });

  it('a text frame: closed with 1003', async () => {
    const w = await RawWorker.connect(server.wsUrl);
    w.sendRaw('{"type":"hello"}');
    await expectClosed(w, CloseCode.unsupportedData, ErrorCode.badFrame);
  });

  it('a message before hello: out_of_order, closed with 4400', async () => {
    const w = await RawWorker.connect(server.wsUrl);
    w.send({ type: 'subscribe', task: 1 });
    await expectClosed(w, CloseCode.badHello, ErrorCode.outOfOrder);
  });

  it('a window smaller than two chunks: bad_limits, closed with 4400', async () => {
    const w = await RawWorker.connect(server.wsUrl);
    w.send({ type: 'hello', protocol: PROTOCOL_VERSION, role: 'worker', want: { maxChunk: 64 * 1024, window: 100 * 1024 } });
    await expectClosed(w, CloseCode.badHello, ErrorCode.badLimits);
  });

  it('a monitor hello on the worker channel and a worker hello on the monitor channel: closed with 4400', async () => {
    const a = await RawWorker.connect(server.wsUrl);
    a.send({ type: 'hello', protocol: PROTOCOL_VERSION, role: 'monitor' });
    await expectClosed(a, CloseCode.badHello, ErrorCode.badMessage);
    const b = await RawWorker.connect(server.wsUrl, { path: MONITOR_PATH });
    b.send({ type: 'hello', protocol: PROTOCOL_VERSION, role: 'worker' });
    await expectClosed(b, CloseCode.badHello, ErrorCode.badMessage);
  });

  it('an oversized frame: closed with 1009', async () => {
    const w = await RawWorker.hello(server.wsUrl);
    w.sendRaw(Buffer.alloc(server.config.limits.maxFrame + 1));
    expect((await w.closed).code).toBe(CloseCode.messageTooBig);
  });

  it('invalid fields after the handshake: a non-fatal bad_message, the session carries on', async () => {
    const w = await RawWorker.hello(server.wsUrl);
    w.sendRaw(msgpack({ type: 'credit', limit: -5 }));
    const e = await w.next('error');
    expect(e).toMatchObject({ code: ErrorCode.badMessage, fatal: false });
    w.send({ type: 'report', range: 'not-a-range', token: 'x', status: 'finished' });
    expect(await w.next('error', (m) => m.code === ErrorCode.unknownRange)).toMatchObject({ fatal: false });
    w.send({ type: 'report', range: '999-0-0-1', token: 'x', status: 'finished' });
    expect(await w.next('error', (m) => m.ref === '999-0-0-1')).toMatchObject({ code: ErrorCode.unknownRange });
    w.send({ type: 'subscribe', task: 424242 });
    expect(await w.next('error', (m) => m.code === ErrorCode.unknownTask)).toMatchObject({ fatal: false });
    w.send({ type: 'heartbeat', t: Date.now() });
    w.send({ type: 'hello', protocol: PROTOCOL_VERSION, role: 'worker' });
    expect(await w.next('error', (m) => m.code === ErrorCode.outOfOrder)).toMatchObject({ fatal: false });
    w.close();
  });

  it('credit beyond what was sent plus the window: bad_credit, closed with 4429', async () => {
    const w = await RawWorker.hello(server.wsUrl);
    w.send({ type: 'credit', limit: Number.MAX_SAFE_INTEGER });
    await expectClosed(w, CloseCode.policyViolation, ErrorCode.badCredit);
  });

  it('an endless stream of invalid messages: closed for policy violation', async () => {
    const w = await RawWorker.hello(server.wsUrl);
    for (let i = 0; i < 40; i++) w.sendRaw(msgpack({ type: 'report', range: 5 }));
    expect((await w.closed).code).toBe(CloseCode.policyViolation);
  });

  it('through all of it the server stays up and an honest worker completes its task', async () => {
    const task = await createTask(server, { dataset: datasetId, rangeSize: 10 });
    const attackers = await Promise.all([0, 1, 2].map(() => RawWorker.connect(server.wsUrl)));
    for (const a of attackers) for (let i = 0; i < 50; i++) a.sendRaw(Buffer.from(`garbage ${i}`.repeat(i + 1)));
    const out = join(dir.path, 'honest');
    const honest = spawnWorker({ server: server.wsUrl, task: task.id, outDir: out, id: 'honest' });
    expect((await honest.exited).code, honest.output()).toBe(0);
    expect((await taskStatus(server, task.id)).state).toBe('complete');
    const health = await fetch(`${server.httpUrl}/healthz`);
    expect(health.status).toBe(200);
  }, 60_000);
});
