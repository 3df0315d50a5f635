/** `ess task`: create, inspect, list and cancel tasks on a running node over its HTTP API. */
import { Command } from 'commander';
import { intOption } from './options.js';

interface ServerOption {
  server: string;
  token?: string;
}

async function call(o: ServerOption, method: string, path: string, body?: unknown): Promise<unknown> {
  const url = new URL(path, o.server.replace(/^ws/, 'http'));
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: {
        ...(body !== undefined && { 'content-type': 'application/json' }),
        ...(o.token && { authorization: `Bearer ${o.token}` }),
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
  } catch (e) {
    throw new Error(`cannot reach ${url.origin}: ${(e as Error).cause ?? (e as Error).message}`);
  }
  const json = (await res.json().catch(() => null)) as { code?: string; message?: string } | null;
  if (!res.ok) throw new Error(`${res.status} ${json?.code ?? ''}: ${json?.message ?? res.statusText}`);
  return json;
}

function print(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

function fail(e: unknown): void {
  process.stderr.write(`ess task: ${(e as Error).message}\n`);
  process.exitCode = 1;
}

export function taskCommand(): Command {
  const task = new Command('task').description('create and inspect tasks on a running node');
  const server = () => ['--server <url>', 'node to talk to', 'http://127.0.0.1:7400'] as const;
  const token = () => ['--token <token>', 'access token (or ESS_TOKEN)', process.env.ESS_TOKEN] as const;

  task
    .command('create')
    .description('cut a dataset into event ranges and queue them')
    .requiredOption('--dataset <scope:name>', 'dataset to process')
    .requiredOption('--range-size <n>', 'events per range', intOption(1, 1_000_000))
    .option('--attempts <n>', 'attempts per range before it is fatal', intOption(1, 100))
    .option('--priority <n>', 'higher first', intOption(-1_000_000, 1_000_000))
    .option('--label <text>', 'shown to operators')
    .option('--skim <predicate>', "deliver only events passing this CEL predicate, e.g. 'nMuon >= 2 && MET_pt > 30.0'")
    .option('--slim <fields>', "deliver only these fields or branches, comma-separated, * and ? as wildcards, e.g. 'run,event,Muon_*'")
    .option(...server())
    .option(...token())
    .action((o: ServerOption & { dataset: string; rangeSize: number; attempts?: number; priority?: number; label?: string; skim?: string; slim?: string }) =>
      call(o, 'POST', '/api/v1/tasks', {
        dataset: o.dataset,
        rangeSize: o.rangeSize,
        attempts: o.attempts,
        priority: o.priority,
        label: o.label,
        skim: o.skim,
        slim: o.slim?.split(',').map((x) => x.trim()).filter((x) => x.length > 0),
      }).then(print, fail),
    );

  task
    .command('status <id>')
    .description('show a task and its range counts')
    .option(...server())
    .option(...token())
    .action((id: string, o: ServerOption) => call(o, 'GET', `/api/v1/tasks/${encodeURIComponent(id)}`).then(print, fail));

  task
    .command('list')
    .description('list tasks')
    .option(...server())
    .option(...token())
    .action((o: ServerOption) => call(o, 'GET', '/api/v1/tasks').then(print, fail));

  task
    .command('cancel <id>')
    .description('cancel every range of a task that is not finished')
    .option(...server())
    .option(...token())
    .action((id: string, o: ServerOption) => call(o, 'POST', `/api/v1/tasks/${encodeURIComponent(id)}/cancel`).then(print, fail));
  return task;
}
