/** `ess serve`: runs a node on a data directory until SIGINT/SIGTERM. */
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { DEFAULT_LIMIT_POLICY, MIN_CHUNK } from '@ess/protocol';
import { readFile } from 'node:fs/promises';
import { readTokensFile } from '../auth/index.js';
import { defaultConfig, type AuthSetup, type ServerConfig } from '../config.js';
import { LOG_LEVELS, createLogger, type LogLevel } from '../log.js';
import { startServer } from '../Server.js';
import { NativeTransportError } from '../transport/index.js';
import { intOption, sizeOption } from './options.js';

interface ServeOptions {
  data: string;
  host: string;
  port: number;
  logLevel: LogLevel;
  maxChunk?: number;
  window?: number;
  maxWindow?: number;
  prefetch?: number;
  heartbeat?: number;
  lease?: number;
  monitorInterval?: number;
  grace?: number;
  drain?: number;
  dashboard?: string;
  nodeId?: string;
  tokens?: string;
  jwtSecretFile?: string;
  jwtPublicKey?: string;
  jwtAlg?: string;
  jwtIssuer?: string;
  jwtAudience?: string;
  openMetrics?: boolean;
  insecureNoAuth?: boolean;
  ledger: 'sqlite' | 'memory';
  cache: boolean;
  cacheMemory?: number;
  cacheDisk?: number;
  blockSize?: number;
  prefetchRanges?: number;
  virtualCostUs?: number;
  redis?: string;
  redisReplicas?: number;
  clusterPrefix?: string;
  advertiseUrl?: string;
  nodeTtl?: number;
  framePool?: number;
}

/** Access control from the flags: explicit tokens/JWT, none (on request), or the generated admin token. */
async function authSetup(o: ServeOptions): Promise<AuthSetup> {
  if (o.insecureNoAuth) return { mode: 'open' };
  const secret = o.jwtSecretFile ? (await readFile(o.jwtSecretFile, 'utf8')).trim() : process.env.ESS_JWT_SECRET;
  const publicKeyPem = o.jwtPublicKey ? await readFile(o.jwtPublicKey, 'utf8') : undefined;
  const tokens = o.tokens ? await readTokensFile(o.tokens) : [];
  if (tokens.length === 0 && !secret && !publicKeyPem) return { mode: 'generated' };
  const jwt = secret || publicKeyPem ? { secret, publicKeyPem, algorithm: o.jwtAlg, issuer: o.jwtIssuer, audience: o.jwtAudience } : null;
  return { mode: 'tokens', tokens, jwt, openMetrics: o.openMetrics ?? false };
}

export function serveCommand(): Command {
  return new Command('serve')
    .description('run an ESS node: worker channel, monitor channel, HTTP API and dashboard')
    .requiredOption('--data <dir>', 'data directory (datasets under <dir>/datasets/<scope>/<name>/)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0 picks a free one)', intOption(0, 65535), 7400)
    .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS).default('info'))
    .option('--max-chunk <size>', `largest chunk payload (default ${DEFAULT_LIMIT_POLICY.maxChunk} bytes)`, sizeOption(MIN_CHUNK))
    .option('--window <size>', `default credit window (default ${DEFAULT_LIMIT_POLICY.defaultWindow} bytes)`, sizeOption(2 * MIN_CHUNK))
    .option('--max-window <size>', `largest credit window a worker may ask for (default ${DEFAULT_LIMIT_POLICY.maxWindow} bytes)`, sizeOption(2 * MIN_CHUNK))
    .option('--prefetch <n>', `default ranges in flight per worker (default ${DEFAULT_LIMIT_POLICY.defaultPrefetch})`, intOption(1, 10_000))
    .option('--heartbeat <ms>', `heartbeat interval (default ${DEFAULT_LIMIT_POLICY.heartbeatMs})`, intOption(100, 600_000))
    .option('--lease <ms>', `lease without a heartbeat before a worker's ranges are released (default ${DEFAULT_LIMIT_POLICY.leaseMs})`, intOption(500, 86_400_000))
    .option('--monitor-interval <ms>', 'period of dashboard updates (default 250)', intOption(50, 60_000))
    .option('--grace <ms>', 'how long a vanished worker may reconnect and take its ranges back (default 10000)', intOption(0, 86_400_000))
    .option('--drain <ms>', 'on SIGTERM, how long ranges already streaming may take to finish (default 10000)', intOption(0, 600_000))
    .option('--dashboard <dir>', 'built dashboard to serve at / (default: the bundled one)')
    .option('--node-id <id>', 'name of this node (default host:port)')
    .option('--tokens <file>', 'static tokens: a JSON array of {"token", "role": "worker"|"monitor"|"admin", "name"}')
    .option('--jwt-secret-file <file>', 'accept HS256 JWTs signed with the secret in this file (or set ESS_JWT_SECRET)')
    .option('--jwt-public-key <file>', 'accept JWTs signed with the private key of this PEM public key')
    .option('--jwt-alg <alg>', 'algorithm of --jwt-public-key (RS256, ES256, EdDSA...)', 'RS256')
    .option('--jwt-issuer <iss>', 'required JWT issuer')
    .option('--jwt-audience <aud>', 'required JWT audience')
    .option('--open-metrics', 'serve /metrics without a token')
    .option('--insecure-no-auth', 'no access control at all: anyone who can connect may stream, watch and manage')
    .addOption(new Option('--ledger <kind>', 'where task and range state lives (memory: nothing survives a restart)').choices(['sqlite', 'memory']).default('sqlite'))
    .option('--cache-memory <size>', 'memory tier of the block cache (default 512MiB)', sizeOption(0))
    .option('--cache-disk <size>', 'disk tier of the block cache, under <data>/cache; 0 for none (default 4GiB)', sizeOption(0))
    .option('--block-size <size>', 'cache block size, aligned in the file (default 1MiB)', sizeOption(4096))
    .option('--no-cache', 'no block cache: every read goes to a source')
    .option('--prefetch-ranges <n>', 'ranges kept warm in the cache ahead of the workers (default 16; 0: none)', intOption(0, 100_000))
    .option('--virtual-cost-us <us>', 'CPU time spent generating each virtual event (default 0)', intOption(0, 10_000_000))
    .option('--redis <url>', 'join a cluster: share ledger, catalogue, cache and view with the other nodes through this Redis (redis://host:port); needs a fixed --port')
    .option('--redis-replicas <n>', 'acknowledge a worker\'s outcome only once n Redis replicas confirm it (WAIT; default 0)', intOption(0, 16))
    .option('--cluster-prefix <prefix>', 'prefix of the cluster\'s keys in Redis (default "ess")')
    .option('--advertise-url <url>', 'the URL other nodes reach this one at (default http://<host>:<port>)')
    .option('--frame-pool <n>', 'chunk frames kept for reuse once sent, about 1 MiB each (default 32; 0: a fresh buffer per chunk)', intOption(0, 4096))
    .option('--node-ttl <ms>', 'a cluster node that stops heartbeating drops out after this long (default 5000)', intOption(1_000, 600_000))
    .action(async (o: ServeOptions) => {
      const log = createLogger(o.logLevel);
      const base = defaultConfig(resolve(o.data));
      const limits = {
        ...base.limits,
        ...(o.maxChunk !== undefined && { maxChunk: o.maxChunk }),
        ...(o.window !== undefined && { defaultWindow: o.window }),
        ...(o.maxWindow !== undefined && { maxWindow: o.maxWindow }),
        ...(o.prefetch !== undefined && { defaultPrefetch: o.prefetch }),
        ...(o.heartbeat !== undefined && { heartbeatMs: o.heartbeat }),
        ...(o.lease !== undefined && { leaseMs: o.lease }),
      };
      const config: ServerConfig = defaultConfig(resolve(o.data), {
        host: o.host,
        port: o.port,
        logLevel: o.logLevel,
        limits,
        ...(o.monitorInterval !== undefined && { monitorIntervalMs: o.monitorInterval }),
        ...(o.grace !== undefined && { graceMs: o.grace }),
        ...(o.drain !== undefined && { drainMs: o.drain }),
        ...(o.dashboard !== undefined && { dashboardDir: resolve(o.dashboard) }),
        ...(o.nodeId !== undefined && { nodeId: o.nodeId }),
        ledger: o.ledger,
        cache: o.cache
          ? {
              blockSize: o.blockSize ?? base.cache!.blockSize,
              memoryBytes: o.cacheMemory ?? base.cache!.memoryBytes,
              diskBytes: o.cacheDisk ?? base.cache!.diskBytes,
            }
          : null,
        ...(o.prefetchRanges !== undefined && { prefetchRanges: o.prefetchRanges }),
        ...(o.virtualCostUs !== undefined && { virtualCostUs: o.virtualCostUs }),
        ...(o.redis !== undefined && { redis: o.redis }),
        ...(o.redisReplicas !== undefined && { redisReplicas: o.redisReplicas }),
        ...(o.clusterPrefix !== undefined && { clusterPrefix: o.clusterPrefix }),
        ...(o.advertiseUrl !== undefined && { advertiseUrl: o.advertiseUrl }),
        ...(o.nodeTtl !== undefined && { nodeTtlMs: o.nodeTtl }),
        ...(o.framePool !== undefined && { framePool: o.framePool }),
        auth: await authSetup(o).catch((e: unknown) => {
          log.fatal(`access control: ${(e as Error).message}`);
          process.exit(1);
        }),
      });
      let server;
      try {
        server = await startServer(config, log);
      } catch (e) {
        if (e instanceof NativeTransportError) log.fatal({ code: e.code }, e.message);
        else log.fatal({ err: e }, `cannot start: ${(e as Error).message}`);
        process.exitCode = 1;
        return;
      }
      const token = server.adminToken;
      const dashboard = token ? `${server.httpUrl}/?token=${token}` : `${server.httpUrl}/`;
      process.stderr.write(
        `\nESS ${server.nodeId} is up.\n  dashboard  ${dashboard}\n  workers    ${server.wsUrl}/v1/stream\n  API        ${server.httpUrl}/api/v1/tasks\n` +
          (token ? `  admin token (generated, kept in ${resolve(o.data, 'state/admin.token')}): ${token}\n` : '') +
          '\n',
      );
      const stop = (signal: string) => {
        log.info({ signal }, 'shutting down');
        void server.close().then(() => process.exit(0));
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
}
