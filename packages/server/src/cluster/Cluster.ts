/**
 * A node's membership of a cluster on Redis: connections, membership, the event bus, worker
 * presence, the shared secret nodes use with each other, and the shared view (each node's worker
 * rows published with a TTL, so any node's dashboard shows every node).
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { NodeRow, Totals, WorkerRow } from '@ess/protocol';
import type { DispatcherCluster } from '../dispatch/Dispatcher.js';
import type { Logger } from '../log.js';
import { ClusterBus, type ClusterEvent } from './ClusterBus.js';
import { Membership, type NodeInfo } from './Membership.js';

export interface ClusterOptions {
  readonly redisUrl: string;
  /** Prefix of every key (several clusters may share one Redis). */
  readonly prefix: string;
  readonly self: NodeInfo;
  /** A node that misses heartbeats this long drops out of the cluster. */
  readonly nodeTtlMs: number;
  /** A worker's presence on a node lasts this long without renewal (its lease time). */
  readonly presenceMs: number;
  readonly log: Logger;
}

/** What a node publishes for the others' dashboards. */
export interface NodeView {
  readonly node: string;
  readonly t: number;
  readonly workers: WorkerRow[];
  readonly totals: Totals;
}

export interface ClusterHandlers {
  /** Ranges became ready on another node. */
  wake(): void;
  /** A task completed on another node. */
  taskCompleted(task: number): void;
  /** Another node registered sources, datasets or replicas. */
  catalogueChanged(): void;
}

export class Cluster implements DispatcherCluster {
  private lastReadyAt = 0;
  private readyTimer: NodeJS.Timeout | null = null;

  private constructor(
    readonly redis: Redis,
    private readonly subscriber: Redis,
    readonly membership: Membership,
    readonly bus: ClusterBus,
    /** Shared by all nodes; guards the internal endpoint. */
    readonly secret: string,
    private readonly o: ClusterOptions,
  ) {}

  static async connect(o: ClusterOptions): Promise<Cluster> {
    // Calls fail rather than hang while Redis is away: presence, views and events are best effort.
    const redis = new Redis(o.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 3, enableOfflineQueue: true, commandTimeout: 5_000 });
    await redis.connect();
    const subscriber = redis.duplicate();
    // The first node to come up picks the secret; the others read it.
    const key = `${o.prefix}:secret`;
    await redis.set(key, randomBytes(32).toString('base64url'), 'NX');
    const secret = (await redis.get(key))!;
    const membership = new Membership({ redis, prefix: o.prefix, self: o.self, ttlMs: o.nodeTtlMs, log: o.log });
    const bus = new ClusterBus(redis, subscriber, o.prefix, o.self.id, o.log);
    return new Cluster(redis, subscriber, membership, bus, secret, o);
  }

  /** The cluster's generated admin token: `candidate` if no node made one before. */
  async sharedAdminToken(candidate: string): Promise<string> {
    const key = `${this.o.prefix}:admin-token`;
    await this.redis.set(key, candidate, 'NX');
    return (await this.redis.get(key))!;
  }

  get nodeId(): string {
    return this.o.self.id;
  }

  async start(handlers: ClusterHandlers): Promise<void> {
    await this.membership.start();
    await this.bus.start((e: ClusterEvent) => {
      if (e.type === 'ranges-ready') handlers.wake();
      else if (e.type === 'task-complete') handlers.taskCompleted(e.task);
      else handlers.catalogueChanged();
    });
  }

  // ---- DispatcherCluster -------------------------------------------------------------------------

  present(worker: string): void {
    this.redis.set(this.presenceKey(worker), this.o.self.id, 'PX', this.o.presenceMs).catch((e: unknown) => this.o.log.warn({ err: e, worker }, 'recording worker presence failed'));
  }

  async connectedElsewhere(worker: string): Promise<boolean> {
    const at = await this.redis.get(this.presenceKey(worker));
    return at !== null && at !== this.o.self.id;
  }

  /** Tells the other nodes, at most every 50 ms (a burst of releases is one event). */
  rangesReady(): void {
    const wait = this.lastReadyAt + 50 - Date.now();
    if (wait <= 0) {
      this.lastReadyAt = Date.now();
      this.bus.publish({ type: 'ranges-ready' });
    } else {
      this.readyTimer ??= setTimeout(() => {
        this.readyTimer = null;
        this.rangesReady();
      }, wait);
    }
  }

  taskCompleted(task: number): void {
    this.bus.publish({ type: 'task-complete', task });
  }

  catalogueChanged(): void {
    this.bus.publish({ type: 'catalogue-changed' });
  }

  // ---- the shared view ---------------------------------------------------------------------------

  publishView(view: Omit<NodeView, 'node' | 't'>, ttlMs: number): void {
    const v: NodeView = { node: this.o.self.id, t: Date.now(), ...view };
    this.redis.set(this.viewKey(this.o.self.id), JSON.stringify(v), 'PX', ttlMs).catch((e: unknown) => this.o.log.warn({ err: e }, 'publishing the node view failed'));
  }

  /** The other live nodes' views (a node whose view expired is left out). */
  async otherViews(): Promise<NodeView[]> {
    const others = this.membership.live().filter((n) => n.id !== this.o.self.id);
    if (others.length === 0) return [];
    const texts = await this.redis.mget(others.map((n) => this.viewKey(n.id)));
    return texts.filter((t): t is string => t !== null).map((t) => JSON.parse(t) as NodeView);
  }

  /** Every live node, for the dashboard's node panel, with what its view says. */
  nodeRows(views: readonly NodeView[], selfView: Omit<NodeView, 'node' | 't'>): NodeRow[] {
    const byNode = new Map(views.map((v) => [v.node, v] as const));
    return this.membership.live().map((n) => {
      const v = n.id === this.o.self.id ? selfView : byNode.get(n.id);
      return {
        id: n.id,
        url: n.url,
        health: v ? 'up' : 'down',
        lastSeen: n.expiresAt - this.o.nodeTtlMs,
        workers: v ? v.totals.workers : 0,
        rate: v ? v.totals.rate : 0,
      };
    });
  }

  async close(): Promise<void> {
    if (this.readyTimer) clearTimeout(this.readyTimer);
    await this.membership.stop();
    this.subscriber.disconnect();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  private presenceKey(worker: string): string {
    return `${this.o.prefix}:presence:${worker}`;
  }

  private viewKey(node: string): string {
    return `${this.o.prefix}:view:${node}`;
  }
}
