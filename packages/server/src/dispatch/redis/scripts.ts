/**
 * The Lua scripts of the Redis ledger, as string constants (the package builds with tsc, which
 * copies no other assets). Each script works on ONE task: it declares the task's six keys
 * (keys.ts, TASK_KEY_NAMES order) and touches nothing else, so it runs in one Redis Cluster slot.
 *
 * Every script has three phases, in this order:
 *   1. reads and checks (HGETALL/HGET/HMGET/ZRANGE*, TIME, the verdict) — may return early;
 *   2. the change, computed on Lua tables only;
 *   3. the writes (`commit`): range records, the indexes, the task's counters — every command
 *      built first, then run.
 * A script that fails raises in phase 1 or 2, before its first write: Redis does not roll a
 * script back, so this is what keeps a failing script from leaving half a change behind. (A Redis
 * over maxmemory with noeviction refuses a script's FIRST write and lets a script that has
 * written run to its end, so a full Redis refuses whole changes too.)
 *
 * Numbers: Redis's Lua turns a number into a string with 14 significant digits (`tostring`, and
 * every number passed to redis.call), which would corrupt millisecond timestamps beyond 2^46 and
 * large event numbers. Every number written here goes through `num` (`%.17g`, exact for every
 * double), records are encoded by `encode` (cjson only for strings), and scripts return strings.
 *
 * Time: `now` is the caller's number when the ledger runs with `clock: 'caller'` (tests), else
 * Redis's own clock (`TIME`, milliseconds), read in phase 1 only where the operation needs it.
 */

/** Helpers shared by every script. */
const PRELUDE = String.raw`
local NULL = cjson.null
local HELD = { assigned = true, running = true }
local K_TASK, K_RANGES, K_READY, K_LEASE, K_RETRY, K_HOLDERS = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]

-- A number as text that reads back as the same double (JSON: infinities as 1e999, NaN as null).
local function num(n)
  if n ~= n then return 'null' end
  if n == math.huge then return '1e999' end
  if n == -math.huge then return '-1e999' end
  return string.format('%.17g', n)
end

-- A number as a sorted-set score (built in phase 2: a NaN raises there, before any write).
local function score(n)
  if type(n) ~= 'number' or n ~= n then error('ledger: not a number where a time or position belongs: ' .. tostring(n)) end
  if n == math.huge then return '+inf' end
  if n == -math.huge then return '-inf' end
  return string.format('%.17g', n)
end

-- The caller's time (clock 'caller'), or Redis's clock in milliseconds.
local function clock(arg)
  if arg ~= nil and arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- A flat record as JSON, keys sorted; every field kept (also ones this script does not know).
local function encode(r)
  local parts = {}
  for k, v in pairs(r) do
    local ty = type(v)
    local s
    if ty == 'number' then s = num(v)
    elseif ty == 'string' then s = cjson.encode(v)
    elseif ty == 'boolean' then s = v and 'true' or 'false'
    else s = 'null' end
    parts[#parts + 1] = cjson.encode(k) .. ':' .. s
  end
  table.sort(parts)
  return '{' .. table.concat(parts, ',') .. '}'
end

-- The verdict table of Ledger.ts (reportVerdict), exactly.
local RECORDED = { finish = 'finished', fail = 'failed', release = 'released' }
local function verdict(r, token, report)
  if r.token ~= token then return 'fenced' end
  if report == 'start' then
    if r.state == 'assigned' then return 'apply' end
    if r.state == 'running' then return 'duplicate' end
    return 'fenced'
  end
  if r.state == 'assigned' or r.state == 'running' then return 'apply' end
  if r.outcome == RECORDED[report] then return 'duplicate' end
  return 'fenced'
end

-- ---- phase 1: reads --------------------------------------------------------------------------

local task = nil
local task_dirty = {}
local function load_task()
  local flat = redis.call('HGETALL', K_TASK)
  if #flat == 0 then return false end
  task = {}
  for i = 1, #flat, 2 do task[flat[i]] = flat[i + 1] end
  return true
end

-- Loaded ranges by field: { r = record (changed in phase 2), state, worker, eventsDone = as loaded }.
local loaded = {}
local changed = {}
local function load_ranges(ids)
  local out = {}
  if #ids == 0 then return out end
  for i = 1, #ids, 500 do
    local batch = {}
    for j = i, math.min(i + 499, #ids) do batch[#batch + 1] = ids[j] end
    local jsons = redis.call('HMGET', K_RANGES, unpack(batch))
    for j, json in ipairs(jsons) do
      local id = batch[j]
      if json then
        local e = loaded[id]
        if not e then
          local r = cjson.decode(json)
          e = { id = id, r = r, json = json, state = r.state, worker = r.worker, eventsDone = r.eventsDone }
          loaded[id] = e
        end
        out[#out + 1] = e
      end
    end
  end
  return out
end

-- ---- phase 2: changes on Lua tables ------------------------------------------------------------

local function touch(e)
  if not e.changed then
    e.changed = true
    changed[#changed + 1] = e
  end
end

local function task_set(field, value)
  task[field] = value
  task_dirty[field] = true
end
local function task_add(field, delta)
  task_set(field, num((tonumber(task[field]) or 0) + delta))
end

-- MemoryLedger.settle: a terminal state; true when that completed the task.
local function settle(r, state)
  r.state = state
  r.worker = NULL
  r.leaseUntil = NULL
  r.retryAt = NULL
  local open = tonumber(task.open) - 1
  task_set('open', num(open))
  if open == 0 and task.state == 'active' then
    task_set('state', 'complete')
    return true
  end
  return false
end

-- MemoryLedger.makeReady.
local function make_ready(r)
  r.state = 'ready'
  r.worker = NULL
  r.leaseUntil = NULL
  r.retryAt = NULL
end

-- MemoryLedger.releaseHeld: back to ready, or fatal with no attempt left; true when that completed the task.
local function release_held(r, consume, reason)
  r.message = reason
  r.outcome = 'released'
  if consume then r.attemptsLeft = r.attemptsLeft - 1 end
  if r.attemptsLeft <= 0 then return settle(r, 'fatal') end
  make_ready(r)
  return false
end

-- ---- phase 3: writes -------------------------------------------------------------------------

-- Appends HSET commands for field/value pairs (at most 500 pairs per command: Lua's unpack limit).
local function hset_ops(ops, key, flat)
  for i = 1, #flat, 1000 do
    local cmd = { 'HSET', key }
    for j = i, math.min(i + 999, #flat) do cmd[#cmd + 1] = flat[j] end
    ops[#ops + 1] = cmd
  end
end

-- Writes every changed range, keeps the indexes and counters in step, then the task's fields.
-- Every command is built first (anything that can raise does so here, before the first write);
-- then they run, and nothing between them can fail but Redis itself.
local function commit()
  local ops = {}
  local records = {}
  for _, e in ipairs(changed) do
    local r = e.r
    e.json = encode(r)
    records[#records + 1] = e.id
    records[#records + 1] = e.json
    if e.state ~= r.state then
      task_add('n.' .. e.state, -1)
      task_add('n.' .. r.state, 1)
    end
    if r.eventsDone ~= e.eventsDone then task_add('eventsDone', r.eventsDone - e.eventsDone) end
    -- ready: exactly the ready ranges, by planning position
    if r.state == 'ready' and e.state ~= 'ready' then ops[#ops + 1] = { 'ZADD', K_READY, score(r.p), e.id }
    elseif e.state == 'ready' and r.state ~= 'ready' then ops[#ops + 1] = { 'ZREM', K_READY, e.id } end
    -- lease and holders: exactly the held ranges
    local was, is = HELD[e.state], HELD[r.state]
    if was and (not is or e.worker ~= r.worker) then ops[#ops + 1] = { 'ZREM', K_HOLDERS, e.worker .. '\0' .. e.id } end
    if is then
      ops[#ops + 1] = { 'ZADD', K_LEASE, score(r.leaseUntil), e.id }
      if not was or e.worker ~= r.worker then ops[#ops + 1] = { 'ZADD', K_HOLDERS, '0', r.worker .. '\0' .. e.id } end
    elseif was then
      ops[#ops + 1] = { 'ZREM', K_LEASE, e.id }
    end
    -- retry: exactly the failed ranges, by retry time
    if r.state == 'failed' then ops[#ops + 1] = { 'ZADD', K_RETRY, score(r.retryAt), e.id }
    elseif e.state == 'failed' then ops[#ops + 1] = { 'ZREM', K_RETRY, e.id } end
  end
  hset_ops(ops, K_RANGES, records)
  local fields = {}
  for f in pairs(task_dirty) do
    fields[#fields + 1] = f
    fields[#fields + 1] = task[f]
  end
  hset_ops(ops, K_TASK, fields)
  -- phase 3
  for _, cmd in ipairs(ops) do redis.call(unpack(cmd)) end
end

-- The ranges whose holder entry names this worker (the record decides; a worker name holding
-- a NUL could otherwise match another's prefix).
local function holder_ids(worker)
  local members = redis.call('ZRANGEBYLEX', K_HOLDERS, '[' .. worker .. '\0', '(' .. worker .. '\1')
  local ids = {}
  for i, m in ipairs(members) do ids[i] = string.sub(m, #worker + 2) end
  return ids
end

local function task_flat()
  local out = {}
  for k, v in pairs(task) do
    out[#out + 1] = k
    out[#out + 1] = v
  end
  return out
end
`;

/**
 * claim: ARGV worker, leaseMs, now ('' = Redis clock), token... (one per range wanted, at least one).
 * → {'ok', record...} | {'inactive'} | {'unknown'}
 */
const CLAIM = String.raw`
local worker, lease_ms = ARGV[1], tonumber(ARGV[2])
local want = #ARGV - 3
if not load_task() then return {'unknown'} end
if task.state ~= 'active' then return {'inactive'} end
if want < 1 then return {'ok'} end
local ids = redis.call('ZRANGE', K_READY, 0, want - 1)
if #ids == 0 then return {'ok'} end
local now = clock(ARGV[3])
local es = load_ranges(ids)
for i, e in ipairs(es) do
  if e.id ~= ids[i] or e.r.state ~= 'ready' then
    return redis.error_reply('ledger index out of step: ' .. ids[i] .. ' is in the ready set but not ready')
  end
end
local out = {'ok'}
for i, e in ipairs(es) do
  local r = e.r
  r.state = 'assigned'
  r.attempt = r.attempt + 1
  r.worker = worker
  r.token = ARGV[3 + i]
  r.leaseUntil = now + lease_ms
  r.retryAt = NULL
  r.outcome = NULL
  touch(e)
end
commit()
for _, e in ipairs(es) do out[#out + 1] = e.json end
return out
`;

/** peek: ARGV max (-1: all) → {'ok', record...} | {'inactive'} | {'unknown'} (read-only). */
const PEEK = String.raw`
if not load_task() then return {'unknown'} end
if task.state ~= 'active' then return {'inactive'} end
local max = tonumber(ARGV[1])
if max == 0 then return {'ok'} end
local ids = redis.call('ZRANGE', K_READY, 0, max < 0 and -1 or max - 1)
local out = {'ok'}
for _, e in ipairs(load_ranges(ids)) do out[#out + 1] = e.json end
return out
`;

/**
 * report (start, finish, fail, release): ARGV kind, field, token, now, sync ('1': a duplicate
 * writes a marker so that WAIT covers the write it repeats), then for finish: eventsRead,
 * eventsPassed ('' '': no counts); for fail: eventsDone, message, retryDelayMs; for release:
 * consume ('1'/'0'), reason.
 * → {'ok', record, taskComplete '1'/'0'} | {'duplicate', record} | {'fenced', record} | {'unknown'}
 */
const REPORT = String.raw`
local kind, id, token = ARGV[1], ARGV[2], ARGV[3]
if kind ~= 'start' and kind ~= 'finish' and kind ~= 'fail' and kind ~= 'release' then
  return redis.error_reply('unknown report ' .. tostring(kind))
end
local es = load_ranges({ id })
local e = es[1]
if not e then return {'unknown'} end
if not load_task() then return redis.error_reply('range ' .. id .. ' of a task without a record') end
local r = e.r
local v = verdict(r, token, kind)
if v ~= 'apply' then
  if v == 'duplicate' and ARGV[5] == '1' then redis.call('HINCRBY', K_TASK, 'syncs', 1) end
  return { v, e.json }
end
local now = nil
if kind == 'fail' then now = clock(ARGV[4]) end
-- phase 2 (MemoryLedger's start, finish, fail, release)
local complete = false
if kind == 'start' then
  r.state = 'running'
elseif kind == 'finish' then
  r.eventsDone = r.eventsDone + (r.lastEvent - r.startEvent + 1)
  r.outcome = 'finished'
  if ARGV[6] ~= nil and ARGV[6] ~= '' then
    r.eventsRead = tonumber(ARGV[6])
    r.eventsPassed = tonumber(ARGV[7])
  end
  complete = settle(r, 'finished')
elseif kind == 'fail' then
  local events, message, delay = tonumber(ARGV[6]), ARGV[7], tonumber(ARGV[8])
  local span = r.lastEvent - r.startEvent + 1
  local done = math.min(events, span)
  r.message = message
  r.outcome = 'failed'
  r.eventsDone = r.eventsDone + done
  if done == span then
    complete = settle(r, 'finished')
  else
    r.startEvent = r.startEvent + done
    r.attemptsLeft = r.attemptsLeft - 1
    if r.attemptsLeft <= 0 then
      complete = settle(r, 'fatal')
    else
      r.state = 'failed'
      r.retryAt = now + delay
      r.worker = NULL
      r.leaseUntil = NULL
      if delay <= 0 then make_ready(r) end
    end
  end
else
  complete = release_held(r, ARGV[6] == '1', ARGV[7])
end
touch(e)
commit()
return { 'ok', e.json, complete and '1' or '0' }
`;

/** renew: ARGV worker, leaseMs, now → {'ok', count} | {'inactive'} | {'unknown'} */
const RENEW = String.raw`
local worker, lease_ms = ARGV[1], tonumber(ARGV[2])
if not load_task() then return {'unknown'} end
if task.state ~= 'active' then return {'inactive'} end
local es = load_ranges(holder_ids(worker))
if #es == 0 then return {'ok', '0'} end
local now = clock(ARGV[3])
local n = 0
for _, e in ipairs(es) do
  local r = e.r
  -- MemoryLedger.renew: held by this worker and not lapsed
  if r.worker == worker and HELD[r.state] and r.leaseUntil ~= NULL and r.leaseUntil > now then
    r.leaseUntil = now + lease_ms
    touch(e)
    n = n + 1
  end
end
commit()
return {'ok', tostring(n)}
`;

/** held: ARGV worker → {'ok', record...} | {'inactive'} | {'unknown'} (read-only). */
const HELD = String.raw`
local worker = ARGV[1]
if not load_task() then return {'unknown'} end
if task.state ~= 'active' then return {'inactive'} end
local out = {'ok'}
for _, e in ipairs(load_ranges(holder_ids(worker))) do
  if e.r.worker == worker and HELD[e.r.state] then out[#out + 1] = e.json end
end
return out
`;

/**
 * reap: ARGV now → {'ok', completed '1'/'0', record...} | {'inactive'} | {'unknown'}
 * Lapsed leases (leaseUntil <= now) are released with one attempt fewer; failed ranges whose retry
 * time came are readied.
 */
const REAP = String.raw`
if not load_task() then return {'unknown'} end
if task.state ~= 'active' then return {'inactive'} end
local now = clock(ARGV[1])
local ids = redis.call('ZRANGEBYSCORE', K_LEASE, '-inf', score(now))
for _, id in ipairs(redis.call('ZRANGEBYSCORE', K_RETRY, '-inf', score(now))) do ids[#ids + 1] = id end
local es = load_ranges(ids)
table.sort(es, function(a, b) return a.r.p < b.r.p end)
local completed = false
local moved = {}
for _, e in ipairs(es) do
  local r = e.r
  if not e.changed then
    if HELD[r.state] and r.leaseUntil ~= NULL and r.leaseUntil <= now then
      if release_held(r, true, 'lease expired') then completed = true end
      touch(e)
      moved[#moved + 1] = e
    elseif r.state == 'failed' and r.retryAt ~= NULL and r.retryAt <= now then
      make_ready(r)
      touch(e)
      moved[#moved + 1] = e
    end
  end
end
commit()
local out = {'ok', completed and '1' or '0'}
for _, e in ipairs(moved) do out[#out + 1] = e.json end
return out
`;

/**
 * cancel: → {'ok', task fields...} | {'unchanged', task fields...} | {'unknown'}
 * Every range not yet terminal (exactly the members of the ready, lease and retry sets) becomes
 * cancelled; the task cancelled.
 */
const CANCEL = String.raw`
if not load_task() then return {'unknown'} end
if task.state ~= 'active' then
  local out = task_flat()
  table.insert(out, 1, 'unchanged')
  return out
end
local ids = redis.call('ZRANGE', K_READY, 0, -1)
for _, key in ipairs({ K_LEASE, K_RETRY }) do
  for _, id in ipairs(redis.call('ZRANGE', key, 0, -1)) do ids[#ids + 1] = id end
end
local es = load_ranges(ids)
for _, e in ipairs(es) do
  if not e.changed then
    e.r.outcome = 'cancelled'
    settle(e.r, 'cancelled')
    touch(e)
  end
end
task_set('state', 'cancelled')
commit()
local out = task_flat()
table.insert(out, 1, 'ok')
return out
`;

export interface LedgerScript {
  readonly name: string;
  readonly lua: string;
  /** Declares no write (EVALSHA_RO-safe). */
  readonly readOnly: boolean;
}

const script = (name: string, body: string, readOnly = false): LedgerScript => ({ name, lua: `${PRELUDE}\n${body}`, readOnly });

export const SCRIPTS = {
  claim: script('claim', CLAIM),
  peek: script('peek', PEEK, true),
  report: script('report', REPORT),
  renew: script('renew', RENEW),
  held: script('held', HELD, true),
  reap: script('reap', REAP),
  cancel: script('cancel', CANCEL),
} as const;

export type ScriptName = keyof typeof SCRIPTS;

/**
 * A script that answers the Lua `verdict` for ARGV state, token, outcome ('' = null), given
 * token, report — for the test that checks it against `reportVerdict` case by case.
 */
export const VERDICT_PROBE_LUA = `${PRELUDE}
local r = { state = ARGV[1], token = ARGV[2] == '' and NULL or ARGV[2], outcome = ARGV[3] == '' and NULL or ARGV[3] }
return verdict(r, ARGV[4], ARGV[5])
`;
