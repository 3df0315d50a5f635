/** `ess worker` (also the `ess-worker` binary): runs one worker until its task has no more ranges. */
import { resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { pino } from 'pino';
import { parseSize } from '@ess/format';
import { EssWorker, type WorkerEvent } from '../Worker.js';

function int(min: number, max: number) {
  return (v: string) => {
    if (!/^\d+$/.test(v.trim())) throw new InvalidArgumentError(`"${v}" is not a whole number`);
    const n = Number(v);
    if (n < min || n > max) throw new InvalidArgumentError(`${n} is outside ${min}..${max}`);
    return n;
  };
}

function size(v: string): number {
  try {
    return parseSize(v);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

interface WorkerCliOptions {
  server: string;
  task?: number;
  out: string;
  id?: string;
  label?: string;
  site?: string;
  token?: string;
  tokenFile?: string;
  prefetch?: number;
  window?: number;
  maxChunk?: number;
  exec?: string;
  slots: number;
  reconnect: boolean;
  logLevel: string;
  progress: boolean;
}

export function workerCommand(): Command {
  return new Command('worker')
    .description('receive event ranges into files, run a payload on each, report the outcomes')
    .requiredOption('--server <urls>', 'node to connect to (ws://host:port), or several nodes of a cluster separated by commas')
    .option('--task <id>', 'task to work on (default: whatever the node hands out)', int(1, Number.MAX_SAFE_INTEGER))
    .option('--out <dir>', 'folder for range files', './ess-ranges')
    .option('--id <id>', 'worker identity, kept across reconnects (default host-pid)')
    .option('--label <text>', 'name shown on the dashboard')
    .option('--site <name>', 'site shown on the dashboard')
    .option('--token <token>', 'access token (or ESS_TOKEN)', process.env.ESS_TOKEN)
    .option('--token-file <file>', 'file holding the access token, read again on every reconnect (for renewed JWTs)')
    .option('--prefetch <n>', 'ranges in flight (default: the node decides)', int(1, 10_000))
    .option('--window <size>', 'credit window, e.g. 16MiB (default: the node decides)', size)
    .option('--max-chunk <size>', 'largest chunk to accept (default: the node decides)', size)
    .option('--exec <cmd>', "payload per range, e.g. 'athena.py {file}' ({file}: the range file, also in $ESS_RANGE_FILE, with $ESS_EVENT_RANGE_ID, $ESS_LFN, $ESS_GUID, $ESS_START_EVENT, $ESS_LAST_EVENT); exit 0 = finished; a failing payload may write how many events it completed to $ESS_PROGRESS_FILE, and only the rest is retried")
    .option('--slots <n>', 'payloads run at once', int(1, 1024), 1)
    .option('--no-reconnect', 'exit instead of reconnecting when the link drops')
    .addOption(new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'silent']).default('info'))
    .option('--no-progress', 'no progress lines on stderr')
    .action(async (o: WorkerCliOptions) => {
      const log = pino({ level: o.logLevel });
      let received = 0;
      let lastLine = 0;
      const onEvent = (e: WorkerEvent) => {
        if (e.type === 'range-written') received += e.bytes;
        if (o.progress && e.type === 'reported' && Date.now() - lastLine > 1000) {
          lastLine = Date.now();
          process.stderr.write(`ess worker: ${(received / 1e6).toFixed(1)} MB received, last ${e.range} ${e.status}\n`);
        }
      };
      const worker = new EssWorker({
        url: o.server.split(',').map((u) => u.trim()).filter((u) => u.length > 0),
        task: o.task ?? null,
        outDir: resolve(o.out),
        id: o.id,
        label: o.label,
        site: o.site,
        token: o.token,
        tokenFile: o.tokenFile,
        prefetch: o.prefetch,
        window: o.window,
        maxChunk: o.maxChunk,
        exec: o.exec,
        slots: o.slots,
        reconnect: o.reconnect,
        log,
        onEvent,
      });
      const stop = (signal: NodeJS.Signals) => {
        log.info({ signal }, 'stopping');
        void worker.stop().then(() => process.exit(128 + (signal === 'SIGINT' ? 2 : 15)));
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
      try {
        const s = await worker.run();
        log.info(s.files.length > 0 ? { ...s, files: s.files.length } : s, 'task done');
        process.exit(0);
      } catch (e) {
        log.error({ code: (e as { code?: string }).code }, (e as Error).message);
        process.exit(1);
      }
    });
}
