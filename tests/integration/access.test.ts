import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { CloseCode, ErrorCode, MONITOR_PATH, PROTOCOL_VERSION } from '@ess/protocol';
import { makeDataset, RawWorker, spawnWorker, startTestServer, taskStatus, tempDir, type TempDir } from '@ess/testkit';
import type { EssServer } from '@ess/server';

const SECRET = 'a-shared-secret-of-a-decent-length-0123456789';
const tokens = [
  { token: 'worker-token-0123456789abcdef', role: 'worker' as const, name: 'pilots' },
  { token: 'monitor-token-0123456789abcdef', role: 'monitor' as const, name: 'shift crew' },
  { token: 'admin-token-0123456789abcdef', role: 'admin' as const, name: 'operators' },
];
const [WORKER, MONITOR, ADMIN] = tokens.map((t) => t.token) as [string, string, string];

function jwt(role: string, expiresInSeconds: number, secret = SECRET): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ role }).setProtectedHeader({ alg: 'HS256' }).setSubject(`jwt-${role}`).setIssuedAt(now).setExpirationTime(now + expiresInSeconds).sign(new TextEncoder().encode(secret));
}

async function hello(server: EssServer, path: string, role: 'worker' | 'monitor', token: string | undefined) {
  const w = await RawWorker.connect(server.wsUrl, { path });
  w.send({ type: 'hello', protocol: PROTOCOL_VERSION, role, ...(token !== undefined && { token }) });
  return w;
}

async function refused(w: RawWorker, close: number, code: string) {
  expect((await w.closed).code).toBe(close);
  expect((await w.next('error')).code).toBe(code);
}

function api(server: EssServer, method: string, path: string, token?: string, body?: unknown) {
  return fetch(server.httpUrl + path, {
    method,
    headers: { ...(token && { authorization: `Bearer ${token}` }), ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
}

describe('access control', () => {
  let dir: TempDir;
  let server: EssServer;
  let dataset: string;
  beforeAll(async () => {
    dir = await tempDir();
    dataset = (await makeDataset(dir.path, { scope: 'itest', name: 'auth', files: 1, eventsPerFile: 20, sizeMean: 4096, seed: 2 })).id;
    server = await startTestServer({ dataDir: dir.path, auth: { mode: 'tokens', tokens, jwt: { secret: SECRET } } });
  });
  afterAll(async () => {
    await server?.close();
    await dir?.remove();
  });

  it('worker channel: no token, a wrong token, an expired or forged JWT are unauthorized (4401)', async () => {
    await refused(await hello(server, '/v1/stream', 'worker', undefined), CloseCode.unauthorized, ErrorCode.unauthorized);
    await refused(await hello(server, '/v1/stream', 'worker', 'not-a-token-at-all-0123456789'), CloseCode.unauthorized, ErrorCode.unauthorized);
    const expired = await hello(server, '/v1/stream', 'worker', await jwt('worker', -60));
    await refused(expired, CloseCode.unauthorized, ErrorCode.unauthorized);
    expect((await expired.next('error')).message).toMatch(/expired/);
    await refused(await hello(server, '/v1/stream', 'worker', await jwt('worker', 600, 'another-secret-entirely-0123456789')), CloseCode.unauthorized, ErrorCode.unauthorized);
    await refused(await hello(server, '/v1/stream', 'worker', await jwt('superuser', 600)), CloseCode.unauthorized, ErrorCode.unauthorized);
  });

  it('worker channel: a monitor token may not stream data (4403); worker, admin and a worker JWT may', async () => {
    await refused(await hello(server, '/v1/stream', 'worker', MONITOR), CloseCode.forbidden, ErrorCode.forbidden);
    await refused(await hello(server, '/v1/stream', 'worker', await jwt('monitor', 600)), CloseCode.forbidden, ErrorCode.forbidden);
    for (const token of [WORKER, ADMIN, await jwt('worker', 600)]) {
      const w = await RawWorker.hello(server.wsUrl, { token });
      expect((await w.next('welcome')).role).toBe('worker');
      w.close();
    }
  });

  it('monitor channel: a worker token may not watch (4403); monitor and admin may', async () => {
    await refused(await hello(server, MONITOR_PATH, 'monitor', undefined), CloseCode.unauthorized, ErrorCode.unauthorized);
    await refused(await hello(server, MONITOR_PATH, 'monitor', WORKER), CloseCode.forbidden, ErrorCode.forbidden);
    for (const token of [MONITOR, ADMIN]) {
      const m = await hello(server, MONITOR_PATH, 'monitor', token);
      expect((await m.next('welcome')).role).toBe('monitor');
      await m.next('snapshot');
      m.close();
    }
  });

  it('HTTP API: reads need watch, task creation and cancellation need admin; errors are JSON', async () => {
    const body = { dataset, rangeSize: 5 };
    const none = await api(server, 'POST', '/api/v1/tasks', undefined, body);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await none.json()).toMatchObject({ code: 'unauthorized' });
    expect((await api(server, 'POST', '/api/v1/tasks', 'wrong-token-0123456789abcdef', body)).status).toBe(401);
    const asMonitor = await api(server, 'POST', '/api/v1/tasks', MONITOR, body);
    expect(asMonitor.status).toBe(403);
    expect(await asMonitor.json()).toMatchObject({ code: 'forbidden', message: expect.stringMatching(/monitor/) });
    expect((await api(server, 'POST', '/api/v1/tasks', WORKER, body)).status).toBe(403);
    expect((await api(server, 'POST', '/api/v1/tasks', await jwt('admin', -5), body)).status).toBe(401);
    const created = await api(server, 'POST', '/api/v1/tasks', ADMIN, body);
    expect(created.status).toBe(201);
    const id = ((await created.json()) as { id: number }).id;
    expect((await api(server, 'GET', `/api/v1/tasks/${id}`, MONITOR)).status).toBe(200);
    expect((await api(server, 'GET', '/api/v1/tasks', WORKER)).status).toBe(403);
    expect((await api(server, 'GET', '/api/v1/datasets', undefined)).status).toBe(401);
    expect((await api(server, 'POST', `/api/v1/tasks/${id}/cancel`, MONITOR)).status).toBe(403);
    expect((await api(server, 'POST', `/api/v1/tasks/${id}/cancel`, ADMIN)).status).toBe(200);
    expect((await api(server, 'GET', '/metrics', undefined)).status).toBe(401);
    expect((await api(server, 'GET', '/metrics', MONITOR)).status).toBe(200);
    expect((await api(server, 'GET', '/healthz', undefined)).status).toBe(200);
  });

  it('a session ends when its JWT expires (4401), and a worker with a renewed token file carries on', async () => {
    const short = await RawWorker.hello(server.wsUrl, { token: await jwt('worker', 2) });
    expect((await short.closed).code).toBe(CloseCode.unauthorized);

    const task = (await (await api(server, 'POST', '/api/v1/tasks', ADMIN, { dataset, rangeSize: 1 })).json()) as { id: number };
    const tokenFile = join(dir.path, 'worker.jwt');
    await writeFile(tokenFile, await jwt('worker', 2));
    // Each range's payload takes a while, so the first token expires mid-task.
    const w = spawnWorker({ server: server.wsUrl, task: task.id, outDir: join(dir.path, 'out'), id: 'renewing', extra: ['--token-file', tokenFile, '--exec', 'sleep 0.2 && test -s {file}'] });
    await new Promise((r) => setTimeout(r, 1_000));
    await writeFile(tokenFile, await jwt('worker', 600));
    expect((await w.exited).code, w.output()).toBe(0);
    expect((await taskStatus(server, task.id, ADMIN)).state).toBe('complete');
  }, 60_000);
});

describe('the default access control', () => {
  it('generates an admin token kept in the data directory (mode 0600) and keeps it across restarts', async () => {
    const dir = await tempDir();
    try {
      const first = await startTestServer({ dataDir: dir.path, auth: { mode: 'generated' } });
      const token = first.adminToken!;
      expect(token.length).toBeGreaterThanOrEqual(24);
      expect((await api(first, 'GET', '/api/v1/tasks', undefined)).status).toBe(401);
      expect((await api(first, 'GET', '/api/v1/tasks', token)).status).toBe(200);
      await first.close();
      const file = join(dir.path, 'state', 'admin.token');
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      const second = await startTestServer({ dataDir: dir.path, auth: { mode: 'generated' } });
      expect(second.adminToken).toBe(token);
      await second.close();
    } finally {
      await dir.remove();
    }
  });
});
