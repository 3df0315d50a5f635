/**
 * The composition root: builds catalogue, sources, data path, ledger, dispatcher, channels,
 * metrics and HTTP routes from a ServerConfig, starts listening, and shuts it all down.
 */
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Authenticator, generatedAdminToken } from './auth/index.js';
import { CloseCode, MONITOR_PATH, STREAM_PATH, CHUNK_FRAME_OVERHEAD } from '@ess/protocol';
import { BlockCache } from './cache/index.js';
import { Catalogue, FileCatalogueStore, KnowledgeBase } from './catalogue/index.js';
import type { ServerConfig } from './config.js';
import { Dispatcher } from './dispatch/Dispatcher.js';
import type { Ledger } from './dispatch/Ledger.js';
import { MemoryLedger } from './dispatch/MemoryLedger.js';
import { RangePrefetcher } from './dispatch/RangePrefetcher.js';
import { SqliteLedger } from './dispatch/SqliteLedger.js';
import { registerApi } from './http/Api.js';
import { StaticFiles } from './http/StaticFiles.js';
import { createLogger, type Logger } from './log.js';
import { CachedReader, FramePool, Marshaller } from './marshal/index.js';
import { Cluster, PeerBlocks, RedisCatalogueStore } from './cluster/index.js';
import { RedisLedger } from './dispatch/RedisLedger.js';
import { registerInternalApi } from './http/InternalApi.js';
import { createMetrics } from './metrics/PrometheusMetrics.js';
import { MONITOR_MAX_FRAME, MonitorHub } from './monitor/MonitorHub.js';
import { FileSource, ReplicaReader, SourceSet, VirtualSource } from './sources/index.js';
import { StreamChannel } from './stream/StreamChannel.js';
import { DeliveryTotals } from './stream/WorkerSession.js';
import { UwsTransport } from './transport/index.js';
import { ESS_VERSION } from './version.js';

export interface EssServer {
  readonly config: ServerConfig;
  /** The generated admin token, when access control runs on the development default. */
  readonly adminToken: string | null;
  readonly port: number;
  /** `http://host:port` */
  readonly httpUrl: string;
  /** `ws://host:port` (channels at /v1/stream and /v1/monitor) */
  readonly wsUrl: string;
  readonly nodeId: string;
  readonly catalogue: Catalogue;
  readonly knowledge: KnowledgeBase;
  readonly cache: BlockCache | null;
  readonly dispatcher: Dispatcher;
  readonly ledger: Ledger;
  readonly sources: SourceSet;
  readonly totals: DeliveryTotals;
  readonly monitor: MonitorHub;
  /** This node's membership of a cluster, or null on a single node. */
  readonly cluster: Cluster | null;
  readonly log: Logger;
  /**
   * Shuts down: stops accepting connections and handing out ranges, lets ranges already
   * streaming finish for up to `drainMs` (default: the configured drain time), then closes every
   * socket with "going away" (1001). Workers keep their leases in the ledger and take them back
   * from the next server. Resolves when everything is closed.
   */
  close(options?: { drainMs?: number }): Promise<void>;
}

export const LOCAL_SOURCE_ID = 'local';
export const VIRTUAL_SOURCE_ID = 'virtual';

async function setUpAuth(config: ServerConfig, log: Logger, cluster: Cluster | null): Promise<{ auth: Authenticator; adminToken: string | null }> {
  if (config.auth.mode !== 'generated') {
    if (config.auth.mode === 'open') log.warn('access control is off: anyone who can reach this node may stream, watch and manage');
    return { auth: await Authenticator.create(config.auth), adminToken: null };
  }
  const path = join(config.dataDir, 'state', 'admin.token');
  // In a cluster the generated token is the cluster's: the first node makes it, the others share it.
  const { token, created } = await generatedAdminToken(path, cluster ? (candidate) => cluster.sharedAdminToken(candidate) : undefined);
  log.info({ path, created }, 'no tokens configured: access needs the generated admin token kept in the data directory');
  const auth = await Authenticator.create({ mode: 'tokens', tokens: [{ token, role: 'admin', name: 'generated admin' }], jwt: null });
  return { auth, adminToken: token };
}

/** Polls `done` until it holds or `ms` pass; says which. */
async function until(done: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

export async function startServer(config: ServerConfig, log: Logger = createLogger(config.logLevel)): Promise<EssServer> {
  const startedAt = Date.now();
  // Chunk frames are reused once uWS has their bytes: no fresh 1 MiB of memory per chunk.
  const frames = config.framePool > 0 ? new FramePool(config.limits.maxChunk + CHUNK_FRAME_OVERHEAD, config.framePool) : null;
  const transport = new UwsTransport({ log: log.child({ component: 'transport' }), ...(frames && { sent: (frame: Uint8Array) => frames.give(frame) }) });
  const displayHost = config.host === '0.0.0.0' || config.host === '::' ? hostname() : config.host;

  // A cluster shares the ledger, the catalogue, the cache and the view through Redis. Its nodes
  // need stable addresses, so the node's identity is known before it listens.
  let cluster: Cluster | null = null;
  if (config.redis) {
    if (config.port === 0) throw new Error('a node of a cluster (--redis) needs a fixed --port: other nodes must be able to reach it');
    const id = config.nodeId ?? `${displayHost}:${config.port}`;
    const url = config.advertiseUrl ?? `http://${displayHost}:${config.port}`;
    cluster = await Cluster.connect({
      redisUrl: config.redis,
      prefix: config.clusterPrefix,
      self: { id, url, version: ESS_VERSION, startedAt },
      nodeTtlMs: config.nodeTtlMs,
      presenceMs: config.limits.leaseMs,
      log: log.child({ component: 'cluster' }),
    });
  }
  const { auth, adminToken } = await setUpAuth(config, log, cluster);

  // Sources and the knowledge base: the data directory, then what operators registered.
  const sources = new SourceSet();
  sources.add(new FileSource(LOCAL_SOURCE_ID, config.dataDir));
  const virtual = new VirtualSource(VIRTUAL_SOURCE_ID, 'generator', { costPerEventUs: config.virtualCostUs });
  sources.add(virtual);
  const replicas = new ReplicaReader(sources, { downAfterErrors: config.sourceDownAfterErrors, downForMs: config.sourceDownForMs, log: log.child({ component: 'sources' }) });
  const catalogue = new Catalogue(async (file, offset, length) => {
    const buf = Buffer.allocUnsafe(length);
    await replicas.read(file, offset, length, buf);
    return buf;
  });
  const knowledge = new KnowledgeBase({
    dataDir: config.dataDir,
    catalogue,
    sources,
    virtual,
    localSource: LOCAL_SOURCE_ID,
    store: cluster ? new RedisCatalogueStore(cluster.redis, config.clusterPrefix) : new FileCatalogueStore(join(config.dataDir, 'state', 'catalogue.json')),
    log: log.child({ component: 'catalogue' }),
    changed: cluster ? () => cluster.catalogueChanged() : undefined,
  });
  await knowledge.load();

  // The data path: cache (memory, disk) in front of the replicas.
  const cache = config.cache
    ? await BlockCache.open({ ...config.cache, diskDir: config.cache.diskBytes > 0 ? join(config.dataDir, 'cache') : null, log: log.child({ component: 'cache' }) })
    : null;
  // In a cluster, a block missing here is asked of the node that owns it before the origin.
  const peers = cluster && config.cache ? new PeerBlocks(cluster.membership, cluster.secret, config.cache.blockSize, log.child({ component: 'peers' })) : null;
  const reader = cache ? new CachedReader(cache, replicas, peers) : replicas;
  const marshaller = new Marshaller(catalogue, reader, frames ?? undefined);
  // Event picking in ROOT datasets reads their run/event branches through the same data path.
  catalogue.useRootEventIds((file) => marshaller.roots.eventIds(file));

  await mkdir(join(config.dataDir, 'state'), { recursive: true });
  const ledgerLog = log.child({ component: 'ledger' });
  const ledger: Ledger = config.redis
    ? await RedisLedger.open(config.redis, { keyPrefix: config.clusterPrefix, replicas: config.redisReplicas, log: ledgerLog })
    : config.ledger === 'memory'
      ? new MemoryLedger()
      : await SqliteLedger.open(join(config.dataDir, 'state', 'ledger.db'), { log: ledgerLog });
  const prefetcher = reader instanceof CachedReader ? new RangePrefetcher(ledger, marshaller, reader, { ranges: config.prefetchRanges, log: log.child({ component: 'prefetch' }) }) : undefined;
  const totals = new DeliveryTotals();
  const dispatcher = new Dispatcher(ledger, catalogue, marshaller, totals, {
    leaseMs: config.limits.leaseMs,
    graceMs: config.graceMs,
    retryDelayMs: config.retryDelayMs,
    reapIntervalMs: config.reapIntervalMs,
    prefetcher,
    cluster: cluster ?? undefined,
    log: log.child({ component: 'dispatch' }),
  });

  /** The cache's figures, with the cooperative cache's owner-node step as one more tier. */
  const cacheStats = () => {
    const stats = cache?.stats() ?? null;
    if (!stats || !peers) return stats;
    const p = peers.stats;
    return { ...stats, tiers: [...stats.tiers, { tier: 'peer', hits: p.hits, misses: p.misses, hitBytes: p.hitBytes, bytes: 0, capacity: 0, evictions: 0 }] };
  };

  // The node id is known once the port is; the monitor reads it lazily.
  const node = { id: config.nodeId ?? '', version: ESS_VERSION, startedAt };
  const stream = new StreamChannel({
    dispatcher,
    limits: config.limits,
    server: node,
    highWater: config.socketHighWater,
    helloTimeoutMs: config.helloTimeoutMs,
    totals,
    auth,
    log: log.child({ component: 'stream' }),
  });
  const monitor = new MonitorHub({
    dispatcher,
    ledger,
    totals,
    node,
    intervalMs: config.monitorIntervalMs,
    staleAfterMs: config.staleAfterMs,
    goneRetentionMs: config.goneRetentionMs,
    maxBuffered: config.monitorMaxBuffered,
    helloTimeoutMs: config.helloTimeoutMs,
    sources: () => sources.rows(),
    cache: cacheStats,
    auth,
    cluster: cluster ?? undefined,
    log: log.child({ component: 'monitor' }),
  });
  const metrics = createMetrics({
    totals,
    workers: () => dispatcher.sessionCount,
    dashboards: () => monitor.dashboards,
    monitorTick: () => monitor.tickMs / 1000,
    tasks: () => monitor.tasks,
    sources: () => sources.rows(),
    cache: cacheStats,
    frames: () => frames?.stats ?? { reused: 0, allocated: totals.chunks, unpooled: 0 },
  });

  // uWS drops frames over these caps outright; below them the channels answer with a documented error.
  transport.channel(STREAM_PATH, stream, { maxFrame: 4 * config.limits.maxFrame });
  transport.channel(MONITOR_PATH, monitor, { maxFrame: 4 * MONITOR_MAX_FRAME });
  registerApi(transport, {
    dispatcher,
    ledger,
    knowledge,
    sources: () => sources.rows(),
    metrics,
    auth,
    health: () => ({
      node: node.id,
      version: ESS_VERSION,
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      workers: dispatcher.sessionCount,
      dashboards: monitor.dashboards,
      // The live nodes as this one sees them: a load balancer or an operator can tell a node cut off from Redis.
      ...(cluster && { cluster: cluster.membership.live().map((n) => n.id) }),
    }),
    log,
  });
  if (cluster && reader instanceof CachedReader) {
    registerInternalApi(transport, { catalogue, reader, secret: cluster.secret, blockSize: config.cache!.blockSize, log: log.child({ component: 'internal' }) });
  }
  const dashboard = config.dashboardDir ? await StaticFiles.load(config.dashboardDir) : null;
  if (dashboard) transport.route('get', '/*', (req) => dashboard.serve(req));
  else log.warn({ dir: config.dashboardDir }, 'no built dashboard found; / will answer 404 (run pnpm build)');

  const port = await transport.listen(config.host, config.port);
  const host = displayHost;
  node.id = cluster?.nodeId ?? config.nodeId ?? `${host}:${port}`;
  await cluster?.start({
    wake: () => dispatcher.wake(),
    taskCompleted: (task) => dispatcher.notifyComplete(task),
    catalogueChanged: () => void knowledge.sync().catch((e: unknown) => log.error({ err: e }, 'syncing the catalogue failed')),
  });
  dispatcher.start();
  stream.start();
  monitor.start();
  log.info({ node: node.id, port, version: ESS_VERSION, maxChunkFrame: config.limits.maxChunk + CHUNK_FRAME_OVERHEAD }, 'listening');

  let closing: Promise<void> | null = null;
  const close = (o: { drainMs?: number } = {}) =>
    (closing ??= (async () => {
      const drainMs = o.drainMs ?? config.drainMs;
      log.info({ node: node.id, drainMs }, 'shutting down: no new connections or ranges');
      transport.stopListening();
      dispatcher.stopAssigning();
      const drained = await until(() => [...dispatcher.listSessions()].every((s) => s.closed || s.idle), drainMs);
      if (!drained) log.warn({ node: node.id }, 'drain time over; closing sockets with ranges still streaming (their workers will resume)');
      await dispatcher.stop();
      await prefetcher?.stop();
      stream.stop();
      monitor.stop();
      transport.closeAll(CloseCode.goingAway, 'server shutting down');
      await until(() => transport.openSockets === 0, 2_000);
      await ledger.close();
      await cluster?.close();
      await cache?.close();
      await sources.close();
      log.info({ node: node.id }, 'stopped');
    })());

  return {
    config,
    adminToken,
    port,
    httpUrl: `http://${host}:${port}`,
    wsUrl: `ws://${host}:${port}`,
    get nodeId() {
      return node.id;
    },
    catalogue,
    knowledge,
    cache,
    dispatcher,
    ledger,
    sources,
    totals,
    monitor,
    cluster,
    log,
    close,
  };
}
