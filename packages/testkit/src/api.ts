/** Calls of a test node's HTTP API with its admin token (or none when access control is off). */
import type { EssServer } from '@ess/server';

export async function api<T = unknown>(server: EssServer, method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> {
  const res = await fetch(server.httpUrl + path, {
    method,
    headers: {
      ...(server.adminToken && { authorization: `Bearer ${server.adminToken}` }),
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: (await res.json()) as T };
}

/** Like `api`, but throws unless the status is 2xx. */
export async function apiOk<T = unknown>(server: EssServer, method: string, path: string, body?: unknown): Promise<T> {
  const r = await api<T>(server, method, path, body);
  if (r.status < 200 || r.status > 299) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json;
}
