/**
 * The HTTP API (/api/v1, /healthz, /metrics): operators create and inspect tasks and datasets.
 * Every body and parameter is validated with zod; every error is JSON with a code and a message.
 */
import { z } from 'zod';
import { ErrorCode, formatRangeId, type SourceRow } from '@ess/protocol';
import type { Registry } from 'prom-client';
import { Permission, bearerToken, type Authenticator } from '../auth/index.js';
import { CatalogueError, DatasetSpecSchema, HttpSourceSpecSchema, type Dataset, type KnowledgeBase } from '../catalogue/index.js';
import { DispatchError, type Dispatcher } from '../dispatch/Dispatcher.js';
import { SelectionError } from '../marshal/Selection.js';
import { celTypeName } from '../marshal/RecordSchema.js';
import type { Ledger, RangeRecord, TaskRecord } from '../dispatch/Ledger.js';
import type { Logger } from '../log.js';
import { jsonReply, type HttpReply, type HttpRequest, type UwsTransport } from '../transport/index.js';

const EventId = z.object({ run: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), event: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) }).strict();

export const CreateTaskBody = z
  .object({
    dataset: z.string().min(1).max(400),
    /** Events per range; for picked events, the most adjacent ones one range may merge (default 100). */
    rangeSize: z.number().int().min(1).max(1_000_000).optional(),
    /** Event picking: only these events. */
    events: z.array(EventId).min(1).max(1_000_000).optional(),
    attempts: z.number().int().min(1).max(100).optional(),
    priority: z.number().int().min(-1_000_000).max(1_000_000).optional(),
    label: z.string().max(256).optional(),
    /** Skim: a CEL predicate over each event's fields (e.g. `nMuon >= 2 && MET_pt > 30.0`). */
    skim: z.string().min(1).max(4096).optional(),
    /** Slim: the fields (ROOT: branches) to deliver, `*` and `?` as wildcards. */
    slim: z.array(z.string().min(1).max(1024)).min(1).max(4096).optional(),
  })
  .strict()
  .refine((b) => b.rangeSize !== undefined || b.events !== undefined, { message: 'rangeSize is required (unless events are picked)', path: ['rangeSize'] });

const AddReplicasBody = z
  .object({
    source: z.string().min(1).max(128),
    /** LFN → URL at that source. */
    files: z.record(z.string(), z.string().min(1).max(4096)).optional(),
    /** Or: every file of the dataset at `prefix + LFN`. */
    prefix: z.string().min(1).max(4096).optional(),
  })
  .strict()
  .refine((b) => (b.files === undefined) !== (b.prefix === undefined), { message: 'give either files or prefix' });

const EventQuery = z.object({ run: z.coerce.number().int().min(0), event: z.coerce.number().int().min(0) });

const TaskId = z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

export interface ApiDeps {
  readonly dispatcher: Dispatcher;
  readonly ledger: Ledger;
  readonly knowledge: KnowledgeBase;
  readonly sources: () => SourceRow[];
  readonly metrics: Registry;
  readonly auth: Authenticator;
  readonly health: () => Record<string, unknown>;
  readonly log: Logger;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function parseJson(req: HttpRequest): unknown {
  if (req.body.length === 0) throw new ApiError(400, ErrorCode.invalidRequest, 'a JSON body is required');
  try {
    return JSON.parse(req.body.toString('utf8'));
  } catch (e) {
    throw new ApiError(400, ErrorCode.invalidRequest, `the body is not JSON: ${(e as Error).message}`);
  }
}

function validate<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  throw new ApiError(400, ErrorCode.invalidRequest, `invalid ${what}: ${where}${issue?.message ?? 'invalid'}`);
}

export function datasetJson(d: Dataset, withFiles: boolean) {
  return {
    id: d.id,
    scope: d.scope,
    name: d.name,
    files: withFiles
      ? d.files.map((f) => ({ index: f.index, lfn: f.lfn, guid: f.guid, size: f.size, events: f.events, replicas: f.replicas, ...(f.root && { format: 'root', root: f.root }) }))
      : d.files.length,
    events: d.events,
    bytes: d.bytes,
  };
}

export function rangeJson(r: RangeRecord) {
  return {
    key: r.key,
    eventRangeID: r.attempt > 0 ? formatRangeId({ task: r.task, file: r.file, range: r.index, attempt: r.attempt }) : null,
    scope: r.scope,
    LFN: r.LFN,
    GUID: r.GUID,
    startEvent: r.startEvent,
    lastEvent: r.lastEvent,
    state: r.state,
    attempt: r.attempt,
    attemptsLeft: r.attemptsLeft,
    worker: r.worker,
    eventsDone: r.eventsDone,
    message: r.message,
    eventsRead: r.eventsRead ?? null,
    eventsPassed: r.eventsPassed ?? null,
  };
}

export function registerApi(transport: UwsTransport, deps: ApiDeps): void {
  const { dispatcher, ledger, knowledge } = deps;
  const catalogue = knowledge.catalogue;

  const taskJson = async (t: TaskRecord) => {
    const progress = await ledger.progress(t.id);
    return {
      id: t.id,
      dataset: t.spec.dataset,
      state: t.state,
      createdAt: t.createdAt,
      rangeSize: t.spec.rangeSize,
      attempts: t.spec.attempts,
      priority: t.spec.priority,
      label: t.spec.label,
      skim: t.spec.skim ?? null,
      slim: t.spec.slim ?? null,
      rangesTotal: t.rangesTotal,
      eventsTotal: t.eventsTotal,
      eventsDone: progress?.eventsDone ?? 0,
      ranges: progress?.ranges ?? null,
    };
  };
  const findTask = async (raw: string | undefined) => {
    const id = validate(TaskId, raw, 'task id');
    const task = await ledger.getTask(id);
    if (!task) throw new ApiError(404, ErrorCode.notFound, `no task ${id}`);
    return task;
  };

  /** A route that needs `permission` (null: open to all, like /healthz for load balancers). */
  const route = (method: Parameters<UwsTransport['route']>[0], pattern: string, permission: Permission | null, fn: (req: HttpRequest) => Promise<HttpReply>) =>
    transport.route(method, pattern, async (req) => {
      try {
        if (permission) {
          const access = await deps.auth.authorize(bearerToken(req.headers), permission);
          if (!access.ok) {
            return jsonReply(access.error.status, { code: access.error.code, message: access.error.message }, access.error.status === 401 ? { 'www-authenticate': 'Bearer realm="ess"' } : {});
          }
        }
        return await fn(req);
      } catch (e) {
        if (e instanceof ApiError) return jsonReply(e.status, { code: e.code, message: e.message });
        if (e instanceof DispatchError) return jsonReply(e.code === ErrorCode.notFound ? 404 : 400, { code: e.code, message: e.message });
        if (e instanceof SelectionError) return jsonReply(400, { code: ErrorCode.invalidRequest, message: e.message, field: e.field, position: e.position });
        if (e instanceof CatalogueError) {
          const status = e.code === 'not_found' ? 404 : e.code === 'exists' ? 409 : 400;
          return jsonReply(status, { code: e.code === 'not_found' ? ErrorCode.notFound : e.code === 'exists' ? 'conflict' : ErrorCode.invalidRequest, message: e.message });
        }
        deps.log.error({ err: e, path: req.path }, 'api request failed');
        return jsonReply(500, { code: ErrorCode.internal, message: 'internal error' });
      }
    });

  const { watch, manage } = Permission;
  route('get', '/healthz', null, async () => jsonReply(200, { status: 'ok', ...deps.health() }));

  route('get', '/metrics', deps.auth.openMetrics ? null : watch, async () => ({
    status: 200,
    headers: { 'content-type': deps.metrics.contentType },
    body: await deps.metrics.metrics(),
  }));

  route('get', '/api/v1/datasets', watch, async () => jsonReply(200, { datasets: catalogue.list().map((d) => datasetJson(d, false)) }));

  route('get', '/api/v1/datasets/:id/fields', watch, async (req) => {
    const d = catalogue.get(req.params[0] ?? '');
    if (!d) throw new ApiError(404, ErrorCode.notFound, `no dataset "${req.params[0]}" (use scope:name, URL-encoded)`);
    const schema = await dispatcher.recordSchema(d.id);
    return jsonReply(200, {
      dataset: d.id,
      records: schema.records,
      tree: schema.tree,
      fields: schema.fields.map((f) => ({ name: f.name, type: f.column ?? celTypeName(f.cel), refused: f.refused })),
    });
  });

  route('get', '/api/v1/datasets/:id', watch, async (req) => {
    const d = catalogue.get(req.params[0] ?? '');
    if (!d) throw new ApiError(404, ErrorCode.notFound, `no dataset "${req.params[0]}" (use scope:name, URL-encoded)`);
    return jsonReply(200, datasetJson(d, true));
  });

  route('get', '/api/v1/sources', watch, async () => jsonReply(200, { sources: deps.sources() }));

  route('post', '/api/v1/sources', manage, async (req) => {
    const spec = validate(HttpSourceSpecSchema, parseJson(req), 'source');
    await knowledge.addSource(spec);
    return jsonReply(201, { source: deps.sources().find((s) => s.id === spec.id) }, { location: '/api/v1/sources' });
  });

  route('post', '/api/v1/datasets', manage, async (req) => {
    const spec = validate(DatasetSpecSchema, parseJson(req), 'dataset');
    const d = await knowledge.addDataset(spec);
    return jsonReply(201, datasetJson(d, true), { location: `/api/v1/datasets/${encodeURIComponent(d.id)}` });
  });

  route('post', '/api/v1/datasets/:id/replicas', manage, async (req) => {
    const body = validate(AddReplicasBody, parseJson(req), 'replicas');
    const id = req.params[0] ?? '';
    const files = body.files ?? Object.fromEntries(catalogue.require(id).files.map((f) => [f.lfn, body.prefix + f.lfn]));
    return jsonReply(200, datasetJson(await knowledge.addReplicas(id, body.source, files), true));
  });

  route('get', '/api/v1/datasets/:id/events', watch, async (req) => {
    const q = validate(EventQuery, Object.fromEntries(req.query), 'query (run and event)');
    const { found } = await catalogue.locateEvents(req.params[0] ?? '', [q]);
    const at = found[0];
    if (!at) throw new ApiError(404, ErrorCode.notFound, `no event (${q.run}, ${q.event}) in ${req.params[0]}`);
    const file = catalogue.file(req.params[0] ?? '', at.file);
    return jsonReply(200, { ...at, lfn: file.lfn, guid: file.guid });
  });

  route('post', '/api/v1/tasks', manage, async (req) => {
    const body = validate(CreateTaskBody, parseJson(req), 'task');
    const task = await dispatcher.createTask({ ...body, rangeSize: body.rangeSize ?? 100 });
    return jsonReply(201, await taskJson(task), { location: `/api/v1/tasks/${task.id}` });
  });

  route('get', '/api/v1/tasks', watch, async () => {
    const tasks = await ledger.listTasks();
    return jsonReply(200, { tasks: await Promise.all(tasks.map(taskJson)) });
  });

  route('get', '/api/v1/tasks/:id', watch, async (req) => jsonReply(200, await taskJson(await findTask(req.params[0]))));

  route('get', '/api/v1/tasks/:id/ranges', watch, async (req) => {
    const task = await findTask(req.params[0]);
    return jsonReply(200, { task: task.id, ranges: (await ledger.ranges(task.id)).map(rangeJson) });
  });

  route('post', '/api/v1/tasks/:id/cancel', manage, async (req) => {
    const task = await findTask(req.params[0]);
    if (task.state === 'complete') throw new ApiError(409, 'conflict', `task ${task.id} is already complete`);
    const cancelled = await dispatcher.cancelTask(task.id);
    return jsonReply(200, await taskJson(cancelled ?? task));
  });

  route('any', '/api/*', null, async (req) => jsonReply(404, { code: ErrorCode.notFound, message: `no API route ${req.method.toUpperCase()} ${req.path}` }));
}
