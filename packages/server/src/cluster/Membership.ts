/**
 * Cluster membership on Redis: each node heartbeats its record (id, internal URL, version) into a
 * sorted set scored by an expiry computed from Redis's clock, and reads the live set back. A node
 * that stops heartbeating drops out after the TTL, whatever the clocks of the nodes say.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../log.js';

export interface NodeInfo {
  readonly id: string;
  /** Base URL of the node's HTTP endpoint (for the internal block endpoint and links). */
  readonly url: string;
  readonly version: string;
  readonly startedAt: number;
}

export interface LiveNode extends NodeInfo {
  /** When its record lapses unless renewed (ms, Redis clock). */
  readonly expiresAt: number;
}

/** Renews this node and returns every live node, in one round trip, on Redis time. */
const HEARTBEAT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local live = redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf', 'WITHSCORES')
local out = { now }
for i = 1, #live, 2 do
  local info = redis.call('HGET', KEYS[2], live[i])
  if info then
    table.insert(out, live[i + 1])
    table.insert(out, info)
  end
end
return out
`;

export interface MembershipOptions {
  readonly redis: Redis;
  readonly prefix: string;
  readonly self: NodeInfo;
  /** A node missing heartbeats for this long drops out. */
  readonly ttlMs: number;
  readonly log: Logger;
  /** Called when the set of live nodes changes. */
  readonly onChange?: (nodes: readonly LiveNode[]) => void;
}

export class Membership {
  private nodes: LiveNode[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly keys: [string, string];

  constructor(private readonly o: MembershipOptions) {
    this.keys = [`${o.prefix}:nodes`, `${o.prefix}:node-info`];
  }

  /** Joins (first heartbeat) and keeps heartbeating every third of the TTL. */
  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => {
      this.beat().catch((e: unknown) => this.o.log.warn({ err: e }, 'membership heartbeat failed'));
    }, Math.max(100, Math.floor(this.o.ttlMs / 3)));
    this.timer.unref();
  }

  /** The live nodes as of the last heartbeat, this one included. */
  live(): readonly LiveNode[] {
    return this.nodes;
  }

  get self(): NodeInfo {
    return this.o.self;
  }

  /** Leaves at once (a clean shutdown), so the others stop sending it block requests. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.o.redis.zrem(this.keys[0], this.o.self.id).catch(() => undefined);
  }

  private async beat(): Promise<void> {
    const reply = (await this.o.redis.eval(HEARTBEAT, 2, ...this.keys, this.o.self.id, String(this.o.ttlMs), JSON.stringify(this.o.self))) as (string | number)[];
    const nodes: LiveNode[] = [];
    for (let i = 1; i + 1 < reply.length; i += 2) {
      const info = JSON.parse(String(reply[i + 1])) as NodeInfo;
      nodes.push({ ...info, expiresAt: Number(reply[i]) });
    }
    nodes.sort((a, b) => a.id.localeCompare(b.id));
    const changed = nodes.map((n) => n.id).join() !== this.nodes.map((n) => n.id).join();
    const left = this.nodes.filter((old) => !nodes.some((n) => n.id === old.id)).map((n) => n.id);
    this.nodes = nodes;
    if (changed) {
      // A node leaving moves its cache stripes (and, if it died, its workers): worth an operator's look.
      this.o.log[left.length > 0 ? 'warn' : 'info']({ nodes: nodes.map((n) => n.id), left }, 'cluster membership changed');
      this.o.onChange?.(nodes);
    }
  }
}
