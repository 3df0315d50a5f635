// Runs the demo from the built packages: dataset, node, workers, a steady stream of tasks.
// Environment: ESS_PORT (default 7400), ESS_DEMO_DIR (default .ess-demo), ESS_DEMO_WORKERS (4).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const ess = join(root, 'packages/server/dist/cli/main.js');
const dir = resolve(process.env.ESS_DEMO_DIR ?? join(root, '.ess-demo'));
const port = Number(process.env.ESS_PORT ?? 7400);
const workers = Number(process.env.ESS_DEMO_WORKERS ?? 4);
const dataset = 'demo:ttbar';
const url = `http://127.0.0.1:${port}`;
const children = [];

function log(msg) {
  process.stdout.write(`demo: ${msg}\n`);
}

mkdirSync(dir, { recursive: true });
if (!existsSync(join(dir, 'datasets/demo/ttbar/dataset.json'))) {
  log('generating the demo dataset (8 files x 250 events, ~100 KiB each)');
  const r = spawnSync(process.execPath, [ess, 'gen', '--data', dir, '--dataset', dataset, '--files', '8', '--events', '250', '--size-mean', '100KiB', '--seed', '2026'], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const serverLog = openSync(join(dir, 'server.log'), 'a');
const server = spawn(process.execPath, [ess, 'serve', '--data', dir, '--port', String(port), '--log-level', 'info'], { stdio: ['ignore', serverLog, 'inherit'] });
children.push(server);
server.on('exit', (code) => {
  log(`the server exited (${code}); see ${join(dir, 'server.log')}`);
  shutdown(1);
});

// With no tokens configured the node generates an admin token and keeps it in the data directory.
const tokenFile = join(dir, 'state', 'admin.token');
const token = () => readFileSync(tokenFile, 'utf8').trim();

async function api(method, path, body) {
  const headers = { authorization: `Bearer ${token()}`, ...(body && { 'content-type': 'application/json' }) };
  const res = await fetch(url + path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  return res.json();
}

for (let i = 0; ; i++) {
  try {
    if ((await fetch(`${url}/healthz`)).ok) break;
  } catch {
    if (i > 200) {
      log('the server did not come up');
      shutdown(1);
    }
  }
  await new Promise((r) => setTimeout(r, 100));
}

const sites = ['CERN-PROD', 'DESY-HH', 'BNL-ATLAS', 'TRIUMF'];
for (let i = 1; i <= workers; i++) {
  const id = `demo-worker-${i}`;
  const w = spawn(
    process.execPath,
    [ess, 'worker', '--server', `ws://127.0.0.1:${port}`, '--token-file', tokenFile, '--out', join(dir, 'ranges', id), '--id', id, '--label', id, '--site', sites[(i - 1) % sites.length],
      '--exec', `node ${JSON.stringify(join(root, 'scripts/demo-payload.mjs'))} {file}`, '--no-progress', '--log-level', 'warn'],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  children.push(w);
}

log(`ESS is running with ${workers} workers.`);
log(`dashboard:  ${url}/?token=${token()}`);
log(`tasks:      curl -H "Authorization: Bearer $(cat ${tokenFile})" ${url}/api/v1/tasks`);
log(`metrics:    ${url}/metrics (same token)`);
log('Ctrl-C to stop.');

// Keep work coming: a new pass over the dataset whenever the last one is done.
let pass = 0;
async function feed() {
  const { tasks } = await api('GET', '/api/v1/tasks');
  if (!tasks.some((t) => t.state === 'active')) {
    pass++;
    const t = await api('POST', '/api/v1/tasks', { dataset, rangeSize: 25, label: `demo pass ${pass}` });
    log(`task ${t.id}: pass ${pass} over ${dataset}, ${t.rangesTotal} ranges`);
  }
}
const feeder = setInterval(() => feed().catch(() => undefined), 1000);
await feed();

let stopping = false;
function shutdown(code = 0) {
  if (stopping) return;
  stopping = true;
  clearInterval(feeder);
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  setTimeout(() => process.exit(code), 500);
}
process.on('SIGINT', () => shutdown(0));
process.on('SIGTERM', () => shutdown(0));
