/** `ess serve`: runs a node on a data directory until SIGINT/SIGTERM. */
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { DEFAULT_LIMIT_POLICY, MIN_CHUNK } from '@ess/protocol';
import { defaultConfig, type ServerConfig } from '../config.js';
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
      process.stderr.write(`\nESS ${server.nodeId} is up.\n  dashboard  ${server.httpUrl}/\n  workers    ${server.wsUrl}/v1/stream\n  API        ${server.httpUrl}/api/v1/tasks\n\n`);
      const stop = (signal: string) => {
        log.info({ signal }, 'shutting down');
        void server.close().then(() => process.exit(0));
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
}
