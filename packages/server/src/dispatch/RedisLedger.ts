/**
 * The ledger in Redis (`ess serve --redis redis://…`): the shared ledger of several ESS nodes.
 * Behaviour is that of MemoryLedger (the reference implementation) method for method, as checked
 * by the same contract (test/ledger-contract.ts); only the tokens differ (random).
 *
 * Atomicity: every change of a range is one Lua script on one task (redis/scripts.ts): claim,
 * start/finish/fail/release (one `report` script with the verdict table of Ledger.ts written again
 * in Lua, checked against reportVerdict case by case in the tests), renew, reap, cancel. A script
 * does all its reads and checks before its first write (Redis does not roll back a script that
 * fails half-way). Scripts run with EVALSHA, falling back to EVAL when the server does not know
 * them yet (a restart, a failover, SCRIPT FLUSH).
 *
 * Fencing: each claim gives a range a new token, 12 random bytes (base64url), generated here (Lua
 * has no good randomness) and passed into the claim script. Not a counter: a counter can repeat
 * after a failover that lost its last increments; a random token does not. A report with any
 * other token than the range's current one is `fenced`; the same outcome again under the current
 * token is a `duplicate` (a worker whose reply was lost retries safely).
 *
 * Time: with `clock: 'redis'` (the default, and what a server must use) every "now" is Redis's
 * own clock (`TIME` inside the script, in ms): lease deadlines, retry times, reap, renew, and the
 * task's createdAt, so nodes with skewed clocks agree; the `now` arguments of the interface are
 * ignored. `clock: 'caller'` uses those arguments instead — for the ledger contract's tests only,
 * which drive a fake clock through them.
 *
 * Keys (redis/keys.ts), with prefix P (option `keyPrefix`, default `ess`) and task id N:
 *   {P:tN}:task     hash   the task record (skim, and slim as JSON, only when set); `open`
 *                          (ranges not yet terminal); per-state counts `n.<state>`; `eventsDone`
 *                          (progress is O(1))
 *   {P:tN}:ranges   hash   `<file>-<index>` → the range record as JSON (plus `p`, its planning
 *                          position; eventsRead/eventsPassed only once a finish counted them);
 *                          readable with redis-cli HGET
 *   {P:tN}:ready    zset   ready ranges by planning position: claim and peek order
 *   {P:tN}:lease    zset   held ranges by lease deadline: reap
 *   {P:tN}:retry    zset   failed ranges by retry time: reap
 *   {P:tN}:holders  zset   `<worker>\0<file>-<index>` of every held range (lex ranges): renew, heldBy
 *   {P}:seq         string task id counter (INCR: ids are never reused; tokens are not counters)
 *   {P}:tasks       zset   every task id, for listTasks
 *   {P}:active      zset   active tasks in claim order: score -priority, member the zero-padded id
 *   P:w:<worker>    set    ids of the tasks the worker may hold ranges in (a superset)
 *
 * Redis Cluster: every key of a task carries the hash tag `{P:tN}`, so one task lives in one slot
 * and every script declares and touches only that slot's keys (the tests run the whole contract
 * on a Redis in cluster mode, which refuses cross-slot scripts, commands and transactions, and
 * watch with MONITOR that every key a script touches is one it declared). The
 * operations that span tasks are sequences of single-slot steps, ordered so that the per-task
 * records stay the truth and the cross-slot indexes are supersets that heal themselves:
 *   - createTask: INCR {P}:seq; one MULTI on the task's slot (ranges, ready set, task record);
 *     then one MULTI on {P} (tasks, active). A task is listed only once it is whole; a node dying
 *     in between leaves an unlisted task (claimable by id only) — never a listed partial one.
 *   - claim(task: null), peek(null), reap: read {P}:active, then one script per task. A task
 *     that completes or is cancelled is removed from {P}:active after its script (a second step);
 *     an entry left behind by a node that died in between answers `inactive` to the next script
 *     and is removed then. Terminal task states never change, so removing them is always safe.
 *   - claim adds the task to P:w:<worker> BEFORE its claim script, so the worker index always
 *     covers every task the worker holds ranges in; renew and heldBy run the per-task scripts of
 *     the tasks in it (which check the record's worker) and drop tasks that are no longer active.
 *   - the per-task scripts never touch another task's keys; a claim across tasks is one atomic
 *     step per task (SQLite's is one transaction; with no other writer in between the result is
 *     the same, and each range is still claimed by exactly one caller).
 * The connection is one ioredis `Redis` client (a standalone Redis, or a one-node view of it):
 * the key layout is ready for a multi-node Cluster, the connection is not yet (that needs the
 * ioredis Cluster client, with WAIT sent on the connection of the task's node).
 *
 * Durability: Redis must run with `appendonly yes` (and `appendfsync always` for an acknowledged
 * outcome to survive a power cut; `everysec` survives a killed redis-server but may lose the
 * last second on an OS crash) and `maxmemory-policy noeviction` (an evicting Redis would drop
 * ledger keys silently): `open` refuses any other eviction policy and warns when AOF is off. With
 * noeviction a full Redis refuses a script's first write (so the whole change: scripts write last).
 *
 * Replicas: with `replicas: n` every recorded outcome (start/finish/fail/release answering `ok` or
 * `duplicate`), createTask and cancelTask are acknowledged only after `WAIT n` on the same
 * connection confirms it; a duplicate writes a marker first so that WAIT also covers the
 * original write it repeats. Fewer acknowledgements than asked within `waitTimeoutMs` (or a
 * reconnect in between) throw RedisLedgerReplicationError: the outcome is on the primary but not
 * confirmed — the worker's retry answers `duplicate` and waits again. (WAIT makes a lost outcome
 * unlikely, not impossible: Redis replication is asynchronous.) In-flight commands are not
 * re-sent after a reconnect (`autoResendUnfulfilledCommands: false`), so a claim is never run twice.
 */
import { createHash } from 'node:crypto';
import { Redis, type ChainableCommander, type RedisOptions } from 'ioredis';
import { RangeState, TaskStateName, formatRangeId, rangeKey, type RangeCounts } from '@ess/protocol';
import type { Logger } from '../log.js';
import {
  checkClaim,
  checkCounts,
  checkFailure,
  checkTask,
  plannedRange,
  storedSpec,
  type ClaimRequest,
  type DeliveryCounts,
  type FailOutcome,
  type Lease,
  type Ledger,
  type LedgerOutcome,
  type RangeOutcome,
  type RangePlan,
  type RangeRecord,
  type ReapResult,
  type ReportKind,
  type TaskProgress,
  type TaskRecord,
  type TaskSpec,
} from './Ledger.js';
import { activeMember, globalKeys, taskKeyList, taskKeys, workerKey, type GlobalKeys } from './redis/keys.js';
import { newFencingToken } from './MemoryLedger.js';
import { SCRIPTS, type LedgerScript, type ScriptName } from './redis/scripts.js';

export interface RedisLedgerOptions {
  readonly log?: Logger;
  /** Prefix of every key (default `ess`); several ledgers can share one Redis under different prefixes. No `{` or `}`. */
  readonly keyPrefix?: string;
  /** WAIT for this many replicas after each outcome write (default 0: no WAIT). */
  readonly replicas?: number;
  /** How long WAIT waits for the replicas (ms, default 1000). */
  readonly waitTimeoutMs?: number;
  /**
   * Where "now" comes from: `redis` (default) Redis's clock; `caller` the `now` arguments of the
   * interface — for the contract tests, which drive a fake clock. Never `caller` in a server.
   */
  readonly clock?: 'redis' | 'caller';
  /** Extra ioredis options (timeouts, TLS, retry strategy); the ledger sets lazyConnect and autoResendUnfulfilledCommands. */
  readonly redisOptions?: RedisOptions;
  /**
   * A call that gets no reply within this time fails (default 10 s). Without it, a call in flight
   * when Redis dies never settles (in-flight commands are neither re-sent nor rejected), and
   * everything queued behind it waits for ever. A call that failed this way may still have run:
   * a claim is then cleaned up by the dispatcher's reconciliation, a finish answers `duplicate`
   * when the worker retries.
   */
  readonly commandTimeoutMs?: number;
}

/** An outcome is on the primary but fewer replicas than asked confirmed it in time. Retry the report. */
export class RedisLedgerReplicationError extends Error {
  override readonly name = 'RedisLedgerReplicationError';
  constructor(
    message: string,
    readonly acknowledged: number,
    readonly wanted: number,
  ) {
    super(message);
  }
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Ranges claimed per script call (a larger claim is several calls, each atomic). */
const CLAIM_BATCH = 256;
/** Range records written per HSET when creating a task. */
const CREATE_BATCH = 1000;

const RANGE_KEY = /^([1-9]\d{0,15})-(.+)$/s;

/** A range record as stored in `{P:tN}:ranges` (JSON). */
interface StoredRange {
  p: number;
  file: number;
  index: number;
  scope: string;
  LFN: string;
  GUID: string;
  startEvent: number;
  lastEvent: number;
  state: RangeState;
  attempt: number;
  attemptsLeft: number;
  worker: string | null;
  token: string | null;
  leaseUntil: number | null;
  retryAt: number | null;
  eventsDone: number;
  message: string | null;
  outcome: RangeOutcome | null;
  /** Absent until a finish with counts records them. */
  eventsRead?: number | null;
  eventsPassed?: number | null;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
/** Redis stores UTF-8: a lone surrogate becomes U+FFFD (as the wire would make it), never a `\ud800` escape Lua's cjson refuses. */
const wellFormed = (s: string): string => s.replace(LONE_SURROGATE, '\uFFFD');

/** Runs a MULTI (or pipeline) and throws the first error of any of its commands. */
async function execAll(tx: ChainableCommander): Promise<unknown[]> {
  const res = await tx.exec();
  if (res === null) throw new Error('redis ledger: transaction aborted');
  return res.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}

/** A range record of task `task` from its stored JSON. */
function toRange(task: number, json: string): RangeRecord {
  const s = JSON.parse(json) as StoredRange;
  return {
    task,
    file: s.file,
    index: s.index,
    key: rangeKey({ task, file: s.file, range: s.index }),
    scope: s.scope,
    LFN: s.LFN,
    GUID: s.GUID,
    startEvent: s.startEvent,
    lastEvent: s.lastEvent,
    state: s.state,
    attempt: s.attempt,
    attemptsLeft: s.attemptsLeft,
    worker: s.worker,
    token: s.token,
    leaseUntil: s.leaseUntil,
    retryAt: s.retryAt,
    eventsDone: s.eventsDone,
    message: s.message,
    outcome: s.outcome,
    ...(s.eventsRead != null && { eventsRead: s.eventsRead, eventsPassed: s.eventsPassed ?? null }),
  };
}

/** The field of a range in its task's ranges hash: the range key without `<task>-`. */
const fieldOf = (r: Pick<RangeRecord, 'task' | 'file' | 'index'>): string => rangeKey({ task: r.task, file: r.file, range: r.index }).slice(String(r.task).length + 1);

function toLease(r: RangeRecord): Lease {
  return {
    range: r,
    token: r.token!,
    eventRangeID: formatRangeId({ task: r.task, file: r.file, range: r.index, attempt: r.attempt }),
    leaseUntil: r.leaseUntil!,
  };
}

function toTask(id: number, h: Record<string, string>): TaskRecord {
  return {
    id,
    spec: storedSpec({
      dataset: h.dataset!,
      rangeSize: Number(h.rangeSize),
      attempts: Number(h.attempts),
      priority: Number(h.priority),
      label: h.label!,
      skim: h.skim ?? null,
      slim: h.slim === undefined ? null : (JSON.parse(h.slim) as string[]),
    }),
    createdAt: Number(h.createdAt),
    state: h.state as TaskStateName,
    rangesTotal: Number(h.rangesTotal),
    eventsTotal: Number(h.eventsTotal),
  };
}

const flatToRecord = (flat: readonly string[]): Record<string, string> => {
  const h: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) h[flat[i]!] = flat[i + 1]!;
  return h;
};

/** peek's `max` as MemoryLedger's loop reads it (`if (n >= max) stop` before each push): -1 = no limit. */
function peekLimit(max: number): number {
  if (Number.isNaN(max)) return -1;
  if (max <= 0) return 0;
  return Number.isFinite(max) ? Math.ceil(max) : -1;
}

const redact = (url: string): string => url.replace(/\/\/([^@/]*)@/, '//***@');

const isNoScript = (e: unknown): boolean => e instanceof Error && e.message.startsWith('NOSCRIPT');

interface Sha {
  readonly script: LedgerScript;
  readonly sha: string;
}

export class RedisLedger implements Ledger {
  private readonly g: GlobalKeys;
  private readonly shas: Record<ScriptName, Sha>;
  private readonly caller: boolean;
  private readonly replicas: number;
  private readonly waitTimeoutMs: number;
  /** (worker, task) pairs known to be in the worker index (entries leave it only when the task is no longer active). */
  private readonly indexed = new Set<string>();
  /** Counts connections made, so that a WAIT on another connection than its write is never trusted. */
  private epoch = 0;
  private closed = false;

  /**
   * Connects, checks the server's persistence settings (refuses any maxmemory-policy but
   * noeviction; warns when AOF is off) and returns the ledger.
   */
  static async open(url: string, o: RedisLedgerOptions = {}): Promise<RedisLedger> {
    const prefix = o.keyPrefix ?? 'ess';
    if (prefix === '' || /[{}]/.test(prefix)) throw new Error(`RedisLedger: keyPrefix must be non-empty and hold no '{' or '}', got ${JSON.stringify(prefix)}`);
    const redis = new Redis(url, {
      commandTimeout: o.commandTimeoutMs ?? 10_000,
      ...o.redisOptions,
      lazyConnect: true,
      autoResendUnfulfilledCommands: false,
    });
    const ledger = new RedisLedger(redis, prefix, o);
    redis.on('ready', () => ledger.epoch++);
    redis.on('error', (e: unknown) => o.log?.warn({ err: e, redis: redact(url) }, 'redis ledger connection error'));
    try {
      await redis.connect();
      await ledger.checkServer(url, o.log);
      return ledger;
    } catch (e) {
      redis.disconnect();
      throw e;
    }
  }

  private constructor(
    /** The connection (exposed for tests and diagnostics). */
    readonly redis: Redis,
    readonly prefix: string,
    o: RedisLedgerOptions,
  ) {
    this.g = globalKeys(prefix);
    this.caller = o.clock === 'caller';
    this.replicas = Math.max(0, Math.floor(o.replicas ?? 0));
    this.waitTimeoutMs = Math.max(1, Math.floor(o.waitTimeoutMs ?? 1000));
    const shas = {} as Record<ScriptName, Sha>;
    for (const [name, script] of Object.entries(SCRIPTS) as [ScriptName, LedgerScript][]) {
      shas[name] = { script, sha: createHash('sha1').update(script.lua).digest('hex') };
    }
    this.shas = shas;
  }

  private async checkServer(url: string, log: Logger | undefined): Promise<void> {
    const where = redact(url);
    const setting = async (name: string, infoSection: string, infoName: string): Promise<string | null> => {
      try {
        const r = (await this.redis.call('CONFIG', 'GET', name)) as string[];
        if (r.length >= 2) return r[1]!;
      } catch {
        // CONFIG may be renamed or refused (managed Redis): INFO tells the same.
      }
      try {
        const info = (await this.redis.call('INFO', infoSection)) as string;
        const m = new RegExp(`^${infoName}:(.*)$`, 'm').exec(info);
        if (m) return m[1]!.trim();
      } catch {
        // fall through
      }
      return null;
    };
    const policy = await setting('maxmemory-policy', 'memory', 'maxmemory_policy');
    if (policy !== 'noeviction') {
      throw new Error(
        policy === null
          ? `Redis at ${where}: cannot read maxmemory-policy (CONFIG GET and INFO refused); the ESS ledger needs maxmemory-policy noeviction and will not start without knowing it`
          : `Redis at ${where} has maxmemory-policy ${policy}: the ESS ledger needs noeviction (an evicting Redis drops ledger keys — leases, finished ranges — silently). Set "maxmemory-policy noeviction" in redis.conf or with CONFIG SET.`,
      );
    }
    const aof = await setting('appendonly', 'persistence', 'aof_enabled');
    const fsync = await setting('appendfsync', 'persistence', 'aof_fsync');
    if (aof !== 'yes' && aof !== '1') {
      log?.warn({ redis: where, appendonly: aof }, 'redis ledger: appendonly is off — a restart of Redis loses the ledger since its last snapshot; set appendonly yes');
    }
    log?.info({ redis: where, prefix: this.prefix, maxmemoryPolicy: policy, appendonly: aof, appendfsync: fsync, replicas: this.replicas, clock: this.caller ? 'caller' : 'redis' }, 'ledger open');
  }

  // ---- plumbing -------------------------------------------------------------------------------

  private async run(name: ScriptName, keys: readonly string[], args: readonly (string | number)[]): Promise<string[]> {
    const { script, sha } = this.shas[name];
    const argv = [...keys, ...args.map(String)];
    try {
      return (await this.redis.evalsha(sha, keys.length, ...argv)) as string[];
    } catch (e) {
      if (!isNoScript(e)) throw e;
      return (await this.redis.eval(script.lua, keys.length, ...argv)) as string[];
    }
  }

  private runTask(name: ScriptName, task: number, args: readonly (string | number)[]): Promise<string[]> {
    return this.run(name, taskKeyList(taskKeys(this.prefix, task)), args);
  }

  private now(n: number): string {
    return this.caller ? String(n) : '';
  }

  /** WAIT for the configured replicas on this connection; throws when fewer confirm in time. */
  private async sync(what: string, epoch: number): Promise<void> {
    if (this.replicas === 0) return;
    const acked = Number(await this.redis.wait(this.replicas, this.waitTimeoutMs));
    if (this.epoch !== epoch) {
      throw new RedisLedgerReplicationError(`${what}: the Redis connection was re-established before WAIT; replication not confirmed — retry`, 0, this.replicas);
    }
    if (acked < this.replicas) {
      throw new RedisLedgerReplicationError(
        `${what}: recorded on the Redis primary but WAIT confirmed ${acked} of ${this.replicas} replica(s) within ${this.waitTimeoutMs} ms — not acknowledged; retry (a retry answers duplicate)`,
        acked,
        this.replicas,
      );
    }
  }

  /** Drops an active-set entry whose task is no longer active (safe: that never changes back). */
  private async deactivate(id: number): Promise<void> {
    await this.redis.zrem(this.g.active, activeMember(id));
  }

  private async activeTasks(): Promise<number[]> {
    return (await this.redis.zrange(this.g.active, '0', '-1')).map((x) => Number(x));
  }

  private async workerTasks(worker: string): Promise<number[]> {
    return (await this.redis.smembers(workerKey(this.prefix, worker))).map(Number).sort((a, b) => a - b);
  }

  // ---- tasks ----------------------------------------------------------------------------------

  async createTask(spec: TaskSpec, plans: readonly RangePlan[], now: number): Promise<TaskRecord> {
    checkTask(spec, plans);
    const id = Number(await this.redis.incr(this.g.seq));
    const epoch = this.epoch;
    let createdAt = now;
    if (!this.caller) {
      const [s = 0, us = 0] = await this.redis.time();
      createdAt = Number(s) * 1000 + Math.floor(Number(us) / 1000);
    }
    const eventsTotal = plans.reduce((n, p) => n + p.lastEvent - p.startEvent + 1, 0);
    const state = plans.length > 0 ? TaskStateName.active : TaskStateName.complete;
    const k = taskKeys(this.prefix, id);
    const tx = this.redis.multi();
    for (let i = 0; i < plans.length; i += CREATE_BATCH) {
      const records: string[] = [];
      const ready: (string | number)[] = [];
      for (let pos = i; pos < Math.min(i + CREATE_BATCH, plans.length); pos++) {
        const p = plans[pos]!;
        const field = fieldOf({ task: id, file: p.file, index: p.index });
        const stored: StoredRange = {
          p: pos,
          file: p.file,
          index: p.index,
          scope: wellFormed(p.scope),
          LFN: wellFormed(p.LFN),
          GUID: wellFormed(p.GUID),
          startEvent: p.startEvent,
          lastEvent: p.lastEvent,
          ...plannedRange(spec.attempts),
        };
        records.push(field, JSON.stringify(stored));
        ready.push(pos, field);
      }
      tx.hset(k.ranges, ...records);
      tx.zadd(k.ready, ...ready);
    }
    const counts: Record<string, number> = {};
    for (const s of Object.values(RangeState)) counts[`n.${s}`] = 0;
    counts['n.ready'] = plans.length;
    tx.hset(k.task, {
      id,
      dataset: spec.dataset,
      rangeSize: spec.rangeSize,
      attempts: spec.attempts,
      priority: spec.priority,
      label: spec.label,
      state,
      createdAt,
      rangesTotal: plans.length,
      eventsTotal,
      open: plans.length,
      eventsDone: 0,
      ...counts,
      // Only when set (storedSpec): a task without skim or slim has no such field.
      ...(spec.skim != null && { skim: spec.skim }),
      ...(spec.slim != null && { slim: JSON.stringify(spec.slim) }),
    });
    await execAll(tx);
    // Listed only once whole (see the header).
    const index = this.redis.multi().zadd(this.g.tasks, id, String(id));
    if (state === TaskStateName.active) index.zadd(this.g.active, -spec.priority, activeMember(id));
    await execAll(index);
    await this.sync(`createTask ${id}`, epoch);
    return { id, spec: storedSpec(spec), createdAt, state, rangesTotal: plans.length, eventsTotal };
  }

  async getTask(id: number): Promise<TaskRecord | null> {
    if (!Number.isSafeInteger(id) || id < 1) return null;
    const h = await this.redis.hgetall(taskKeys(this.prefix, id).task);
    return h.state === undefined ? null : toTask(id, h);
  }

  async listTasks(state?: TaskStateName): Promise<TaskRecord[]> {
    // The active ones have an index of their own; any other state is a filter over every task.
    const ids = state === TaskStateName.active ? await this.activeTasks() : (await this.redis.zrange(this.g.tasks, '0', '-1')).map((x) => Number(x));
    if (ids.length === 0) return [];
    const p = this.redis.pipeline();
    for (const id of ids) p.hgetall(taskKeys(this.prefix, id).task);
    const out: TaskRecord[] = [];
    (await execAll(p)).forEach((h, i) => {
      const rec = h as Record<string, string>;
      if (rec.state !== undefined && (state === undefined || rec.state === state)) out.push(toTask(ids[i]!, rec));
    });
    return out.sort((a, b) => a.id - b.id);
  }

  async cancelTask(id: number): Promise<TaskRecord | null> {
    if (!Number.isSafeInteger(id) || id < 1) return null;
    const epoch = this.epoch;
    const [kind, ...flat] = await this.runTask('cancel', id, []);
    if (kind === 'unknown') return null;
    const task = toTask(id, flatToRecord(flat));
    if (kind === 'ok') {
      await this.deactivate(id);
      await this.sync(`cancelTask ${id}`, epoch);
    }
    return task;
  }

  async progress(id: number): Promise<TaskProgress | null> {
    if (!Number.isSafeInteger(id) || id < 1) return null;
    const h = await this.redis.hgetall(taskKeys(this.prefix, id).task);
    if (h.state === undefined) return null;
    const ranges = {} as Mutable<RangeCounts>;
    for (const s of Object.values(RangeState)) ranges[s] = Number(h[`n.${s}`] ?? 0);
    return { ranges, eventsDone: Number(h.eventsDone ?? 0) };
  }

  async ranges(id: number): Promise<RangeRecord[]> {
    if (!Number.isSafeInteger(id) || id < 1) return [];
    const h = await this.redis.hgetall(taskKeys(this.prefix, id).ranges);
    return Object.values(h)
      .map((json) => ({ p: (JSON.parse(json) as StoredRange).p, r: toRange(id, json) }))
      .sort((a, b) => a.p - b.p)
      .map((x) => x.r);
  }

  async getRange(key: string): Promise<RangeRecord | null> {
    const at = this.parseKey(key);
    if (!at) return null;
    const json = await this.redis.hget(taskKeys(this.prefix, at.task).ranges, at.field);
    return json === null ? null : toRange(at.task, json);
  }

  private parseKey(key: string): { task: number; field: string } | null {
    const m = RANGE_KEY.exec(key);
    if (!m) return null;
    const task = Number(m[1]);
    return Number.isSafeInteger(task) ? { task, field: m[2]! } : null;
  }

  // ---- leases ---------------------------------------------------------------------------------

  async claim(req: ClaimRequest): Promise<Lease[]> {
    checkClaim(req);
    const leases: Lease[] = [];
    if (req.max === 0) return leases;
    const fromIndex = req.task === null;
    const tasks = fromIndex ? await this.activeTasks() : Number.isSafeInteger(req.task) && req.task! >= 1 ? [req.task!] : [];
    for (const task of tasks) {
      // The worker index first: it must cover every task the worker holds ranges in.
      const pair = `${task}\0${req.worker}`;
      if (!this.indexed.has(pair)) {
        await this.redis.sadd(workerKey(this.prefix, req.worker), String(task));
        if (this.indexed.size > 100_000) this.indexed.clear();
        this.indexed.add(pair);
      }
      while (leases.length < req.max) {
        const want = Math.min(req.max - leases.length, CLAIM_BATCH);
        const tokens = Array.from({ length: want }, newFencingToken);
        const [kind, ...jsons] = await this.runTask('claim', task, [req.worker, req.leaseMs, this.now(req.now), ...tokens]);
        if (kind !== 'ok') {
          if (kind === 'inactive' && fromIndex) await this.deactivate(task);
          break;
        }
        for (const json of jsons) leases.push(toLease(toRange(task, json)));
        if (jsons.length < want) break;
      }
      if (leases.length >= req.max) break;
    }
    return leases;
  }

  async peek(task: number | null, max: number): Promise<RangeRecord[]> {
    const limit = peekLimit(max);
    if (limit === 0) return [];
    const tasks = task === null ? await this.activeTasks() : Number.isSafeInteger(task) && task >= 1 ? [task] : [];
    const out: RangeRecord[] = [];
    for (const t of tasks) {
      const [kind, ...jsons] = await this.runTask('peek', t, [limit < 0 ? -1 : limit - out.length]);
      if (kind !== 'ok') continue;
      for (const json of jsons) out.push(toRange(t, json));
      if (limit > 0 && out.length >= limit) break;
    }
    return out;
  }

  async renew(worker: string, leaseMs: number, now: number): Promise<number> {
    const tasks = await this.workerTasks(worker);
    const counts = await Promise.all(
      tasks.map(async (task) => {
        const [kind, n] = await this.runTask('renew', task, [worker, leaseMs, this.now(now)]);
        if (kind === 'inactive') await this.redis.srem(workerKey(this.prefix, worker), String(task));
        return kind === 'ok' ? Number(n) : 0;
      }),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  async heldBy(worker: string): Promise<Lease[]> {
    const tasks = await this.workerTasks(worker);
    const held = await Promise.all(
      tasks.map(async (task) => {
        const [kind, ...jsons] = await this.runTask('held', task, [worker]);
        if (kind === 'inactive') await this.redis.srem(workerKey(this.prefix, worker), String(task));
        if (kind !== 'ok') return [];
        return jsons
          .map((json) => ({ p: (JSON.parse(json) as StoredRange).p, lease: toLease(toRange(task, json)) }))
          .sort((a, b) => a.p - b.p)
          .map((x) => x.lease);
      }),
    );
    return held.flat();
  }

  async start(key: string, token: string): Promise<LedgerOutcome> {
    return this.report(key, token, 'start', []);
  }

  async finish(key: string, token: string, _now: number, counts?: DeliveryCounts): Promise<LedgerOutcome> {
    checkCounts(counts);
    return this.report(key, token, 'finish', counts ? [counts.eventsRead, counts.eventsPassed] : ['', '']);
  }

  async fail(key: string, token: string, o: FailOutcome): Promise<LedgerOutcome> {
    checkFailure(o);
    return this.report(key, token, 'fail', [o.eventsDone, o.message, o.retryDelayMs], o.now);
  }

  async release(key: string, token: string, consumeAttempt: boolean, reason: string): Promise<LedgerOutcome> {
    return this.report(key, token, 'release', [consumeAttempt ? '1' : '0', reason]);
  }

  private async report(key: string, token: string, kind: ReportKind, extra: readonly (string | number)[], now = 0): Promise<LedgerOutcome> {
    const at = this.parseKey(key);
    if (!at) return { kind: 'unknown' };
    const epoch = this.epoch;
    const sync = this.replicas > 0 ? '1' : '0';
    const [verdict, json, complete] = await this.runTask('report', at.task, [kind, at.field, token, this.now(now), sync, ...extra]);
    if (verdict === 'unknown' || json === undefined) return { kind: 'unknown' };
    const range = toRange(at.task, json);
    if (verdict === 'fenced') return { kind: 'fenced', range };
    if (verdict === 'duplicate') {
      await this.sync(`${kind} ${key} (duplicate)`, epoch);
      return { kind: 'duplicate', range };
    }
    const taskComplete = complete === '1';
    if (taskComplete) await this.deactivate(at.task);
    await this.sync(`${kind} ${key}`, epoch);
    return { kind: 'ok', range, taskComplete };
  }

  async reap(now: number): Promise<ReapResult> {
    const tasks = await this.activeTasks();
    const results = await Promise.all(
      tasks.map(async (task) => {
        const [kind, complete, ...jsons] = await this.runTask('reap', task, [this.now(now)]);
        if (kind !== 'ok') {
          if (kind === 'inactive') await this.deactivate(task);
          return { task, complete: false, released: [] as RangeRecord[] };
        }
        if (complete === '1') await this.deactivate(task);
        const released = jsons.map((json) => toRange(task, json));
        return { task, complete: complete === '1', released };
      }),
    );
    return { released: results.flatMap((r) => r.released), completed: results.filter((r) => r.complete).map((r) => r.task) };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }
}
