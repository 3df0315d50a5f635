/**
 * The Redis key layout of the ledger (see RedisLedger.ts for what each key holds and which
 * operations cross slots). Every key of one task carries the hash tag `{<prefix>:t<id>}`, so all of
 * them live in one Redis Cluster slot and every per-task script touches one slot only. The keys
 * of the whole ledger share the tag `{<prefix>}`; a worker's index of tasks is a key of its own.
 */

/** The keys of one task, in the order every per-task script declares them (KEYS[1..6]). */
export interface TaskKeys {
  /** hash: the task record, its open-range count, per-state counts (`n.<state>`) and eventsDone. */
  readonly task: string;
  /** hash: field `<file>-<index>` (the range key without its task id) → the range record as JSON. */
  readonly ranges: string;
  /** sorted set: ready ranges, scored by planning position (claim order). */
  readonly ready: string;
  /** sorted set: held (assigned/running) ranges, scored by lease deadline (reap). */
  readonly lease: string;
  /** sorted set: failed ranges waiting for their retry, scored by retry time (reap). */
  readonly retry: string;
  /** sorted set, all scores 0: `<worker>\0<field>` for every held range (renew, heldBy). */
  readonly holders: string;
}

export const TASK_KEY_NAMES = ['task', 'ranges', 'ready', 'lease', 'retry', 'holders'] as const;

/** The hash tag of a task's keys. */
export const taskTag = (prefix: string, id: number): string => `{${prefix}:t${id}}`;

export function taskKeys(prefix: string, id: number): TaskKeys {
  const tag = taskTag(prefix, id);
  return {
    task: `${tag}:task`,
    ranges: `${tag}:ranges`,
    ready: `${tag}:ready`,
    lease: `${tag}:lease`,
    retry: `${tag}:retry`,
    holders: `${tag}:holders`,
  };
}

/** The keys of a task as the KEYS array of its scripts. */
export const taskKeyList = (k: TaskKeys): string[] => TASK_KEY_NAMES.map((n) => k[n]);

/** The ledger-wide keys: one slot (tag `{<prefix>}`), so they can change together in one MULTI. */
export interface GlobalKeys {
  /** string: the task id counter (INCR). */
  readonly seq: string;
  /** sorted set: every task id (score: the id), for listTasks. */
  readonly tasks: string;
  /** sorted set: active tasks in claim order: score -priority, member the id zero-padded (ties by age). */
  readonly active: string;
}

export function globalKeys(prefix: string): GlobalKeys {
  return { seq: `{${prefix}}:seq`, tasks: `{${prefix}}:tasks`, active: `{${prefix}}:active` };
}

/** set: ids of the tasks a worker may hold ranges in (a superset; the per-task scripts are the truth). */
export const workerKey = (prefix: string, worker: string): string => `${prefix}:w:${worker}`;

/** Member of the active set: the id zero-padded, so that equal priorities sort by age. */
export const activeMember = (id: number): string => String(id).padStart(16, '0');

/**
 * The hash slot Redis Cluster gives a key: CRC16 (XMODEM) of the key's hash tag (the part between
 * the first `{` and the next `}`, when not empty), else of the whole key, modulo 16384.
 */
export function keySlot(key: string | Buffer): number {
  let bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
  const open = bytes.indexOf(0x7b);
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1);
    if (close > open + 1) bytes = bytes.subarray(open + 1, close);
  }
  let crc = 0;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}
