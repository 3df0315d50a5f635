/** A real ESS node in the test process, on a free loopback port, with quiet logs unless ESS_LOG_LEVEL is set. */
import { createLogger, defaultConfig, startServer, type EssServer, type LogLevel, type ServerConfig } from '@ess/server';

export interface TestServerOptions extends Partial<Omit<ServerConfig, 'dataDir'>> {
  readonly dataDir: string;
}

export async function startTestServer(o: TestServerOptions): Promise<EssServer> {
  const level = (process.env.ESS_LOG_LEVEL as LogLevel | undefined) ?? 'silent';
  // Tests about access control pass `auth`; the rest run without it.
  const config = defaultConfig(o.dataDir, { dashboardDir: null, drainMs: 2_000, auth: { mode: 'open' }, ...o, port: o.port ?? 0, host: o.host ?? '127.0.0.1', logLevel: level });
  return startServer(config, createLogger(level));
}

export interface CreatedTask {
  readonly id: number;
  readonly rangesTotal: number;
  readonly eventsTotal: number;
}

/** POST /api/v1/tasks; throws with the server's error body on failure. */
export async function createTask(server: EssServer, body: Record<string, unknown>, token = server.adminToken): Promise<CreatedTask> {
  const res = await fetch(`${server.httpUrl}/api/v1/tasks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as CreatedTask & { message?: string };
  if (res.status !== 201) throw new Error(`create task: ${res.status} ${json.message}`);
  return json;
}

export interface TaskStatus {
  readonly id: number;
  readonly state: string;
  readonly eventsDone: number;
  readonly ranges: Record<string, number>;
}

export async function taskStatus(server: EssServer, id: number, token = server.adminToken): Promise<TaskStatus> {
  const res = await fetch(`${server.httpUrl}/api/v1/tasks/${id}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return (await res.json()) as TaskStatus;
}
