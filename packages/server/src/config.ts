/**
 * Server configuration: every knob with its default in one place. The CLI maps flags onto it;
 * tests build it directly (port 0, a temporary data directory).
 */
import { fileURLToPath } from 'node:url';
import { DEFAULT_LIMIT_POLICY, type LimitPolicy } from '@ess/protocol';
import type { AuthConfig } from './auth/index.js';
import type { LogLevel } from './log.js';

/**
 * Access control: explicit tokens and/or JWTs, none at all (`open`, for tests and closed
 * development setups), or the default: a generated admin token kept in the data directory.
 */
export type AuthSetup = AuthConfig | { readonly mode: 'generated' };

export interface ServerConfig {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Holds `datasets/` (and, later, the ledger and the disk cache). */
  readonly dataDir: string;
  /** Negotiation bounds for worker sessions. */
  readonly limits: LimitPolicy;
  /** Stop writing to a worker socket with this many bytes buffered; resume on drain. */
  readonly socketHighWater: number;
  /** Period of monitor deltas. */
  readonly monitorIntervalMs: number;
  /** A worker silent for this long is shown stale. */
  readonly staleAfterMs: number;
  /** A disconnected worker stays on the dashboard (as gone) this long. */
  readonly goneRetentionMs: number;
  /** A dashboard socket with more buffered than this is skipped and later resynced. */
  readonly monitorMaxBuffered: number;
  readonly helloTimeoutMs: number;
  /** Delay before a failed range is offered again. */
  readonly retryDelayMs: number;
  /** How long a vanished worker's ranges wait for it to reconnect and resume before they are released. */
  readonly graceMs: number;
  /** On shutdown, how long ranges already streaming may take to finish before sockets close. */
  readonly drainMs: number;
  readonly reapIntervalMs: number;
  /** The built dashboard to serve at `/`, or null for none. */
  readonly dashboardDir: string | null;
  readonly logLevel: LogLevel;
  /** This node's name (defaults to host:port once listening). */
  readonly nodeId: string | null;
  readonly auth: AuthSetup;
  /** Where task and range state lives: SQLite in <data>/state/ledger.db, or memory (nothing survives). */
  readonly ledger: 'sqlite' | 'memory';
  /** The block cache; null runs without one (every read goes to a source). */
  readonly cache: CacheConfig | null;
  /** Ranges kept warm in the cache ahead of the workers. */
  readonly prefetchRanges: number;
  /** CPU spent generating each virtual event, in microseconds (to model expensive generation). */
  readonly virtualCostUs: number;
  /** Consecutive failures after which a source is marked down, and how long it stays down before a probe. */
  readonly sourceDownAfterErrors: number;
  readonly sourceDownForMs: number;
  /**
   * Redis (`redis://host:port`) to share the ledger, the catalogue, the cache and the view with
   * other nodes; null for a single node on its data directory.
   */
  readonly redis: string | null;
  /** Prefix of this cluster's keys in Redis. */
  readonly clusterPrefix: string;
  /** Acknowledge an outcome only once this many Redis replicas confirm it (WAIT); 0 for none. */
  readonly redisReplicas: number;
  /** The URL other nodes reach this one at (default http://<host>:<port>). */
  readonly advertiseUrl: string | null;
  /**
   * A node whose membership heartbeat (every third of this) stops drops out of the cluster after
   * this long, and the blocks it owned move to the others. Longer than a GC pause; short enough
   * that the cooperative cache soon stops asking a dead node.
   */
  readonly nodeTtlMs: number;
  /** Chunk frames kept for reuse once sent; 0 allocates a fresh frame per chunk. */
  readonly framePool: number;
}

export interface CacheConfig {
  readonly blockSize: number;
  readonly memoryBytes: number;
  /** Disk tier under <data>/cache; 0 disables it. */
  readonly diskBytes: number;
}

export const DEFAULT_DASHBOARD_DIR = fileURLToPath(new URL('../../dashboard/dist', import.meta.url));

export function defaultConfig(dataDir: string, overrides: Partial<ServerConfig> = {}): ServerConfig {
  const limits = { ...DEFAULT_LIMIT_POLICY, ...overrides.limits };
  return {
    host: '127.0.0.1',
    port: 7400,
    dataDir,
    socketHighWater: Math.max(2 * 1024 * 1024, limits.maxChunk),
    monitorIntervalMs: 250,
    staleAfterMs: 2 * limits.heartbeatMs,
    goneRetentionMs: 5 * 60_000,
    monitorMaxBuffered: 8 * 1024 * 1024,
    helloTimeoutMs: 10_000,
    retryDelayMs: 1_000,
    graceMs: 10_000,
    drainMs: 10_000,
    reapIntervalMs: 1_000,
    dashboardDir: DEFAULT_DASHBOARD_DIR,
    logLevel: 'info',
    nodeId: null,
    auth: { mode: 'generated' },
    ledger: 'sqlite',
    cache: { blockSize: 1024 * 1024, memoryBytes: 512 * 1024 * 1024, diskBytes: 4 * 1024 * 1024 * 1024 },
    prefetchRanges: 16,
    virtualCostUs: 0,
    sourceDownAfterErrors: 3,
    sourceDownForMs: 10_000,
    redis: null,
    clusterPrefix: 'ess',
    redisReplicas: 0,
    advertiseUrl: null,
    nodeTtlMs: 5_000,
    framePool: 32,
    ...overrides,
    limits,
  };
}
