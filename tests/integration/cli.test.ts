import { afterEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ESS_CLI, runFromSource, startTestServer, tempDir, Teardown } from '@ess/testkit';

async function digests(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort()) out[name] = createHash('sha256').update(await readFile(join(dir, name))).digest('hex');
  return out;
}

async function ess(args: string[]): Promise<{ code: number | null; output: string }> {
  const p = runFromSource(ESS_CLI, args);
  const { code } = await p.exited;
  return { code, output: p.output() };
}

describe('the ess command', () => {
  const teardown = new Teardown();
  afterEach(() => teardown.run());

  it('ess gen with the same seed writes byte-identical files; another seed does not', async () => {
    const dir = teardown.own(await tempDir(), (d) => d.remove());
    const gen = (out: string, seed: number) => ess(['gen', '--out', join(dir.path, out), '--dataset', 'cli:det', '--files', '3', '--events', '40', '--size-mean', '20KiB', '--seed', String(seed)]);
    for (const [out, seed] of [['a', 7], ['b', 7], ['c', 8]] as const) {
      const r = await gen(out, seed);
      expect(r.code, r.output).toBe(0);
      expect(r.output).toMatch(/generated cli:det: 3 files, 120 events/);
    }
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((d) => digests(join(dir.path, d))));
    expect(Object.keys(a!)).toEqual(['dataset.json', 'det._000001.ess', 'det._000002.ess', 'det._000003.ess']);
    expect(b).toEqual(a);
    expect(c!['det._000001.ess']).not.toBe(a!['det._000001.ess']);
  }, 60_000);

  it('refuses bad arguments with messages a person can act on', async () => {
    const dir = teardown.own(await tempDir(), (d) => d.remove());
    const cases: [string[], RegExp][] = [
      [['gen', '--data', dir.path, '--dataset', 'no-colon'], /scope:name/],
      [['gen', '--data', dir.path, '--dataset', 'a:b', '--size-mean', 'lots'], /size/i],
      [['gen', '--data', dir.path, '--dataset', 'a:b', '--files', '-3'], /files/],
      [['serve', '--data', dir.path, '--port', '70000'], /outside 0\.\.65535/],
      [['serve', '--data', dir.path, '--log-level', 'chatty'], /Allowed choices/],
      [['serve'], /--data <dir>/],
      [['task', 'create', '--dataset', 'a:b', '--range-size', '0'], /outside 1\.\./],
      [['worker', '--server', 'ws://127.0.0.1:1', '--prefetch', 'x'], /not a whole number/],
    ];
    for (const [args, message] of cases) {
      const r = await ess(args);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.output, args.join(' ')).toMatch(message);
    }
    const help = await ess(['--help']);
    expect(help.output).toMatch(/serve[\s\S]*gen[\s\S]*worker[\s\S]*task/);
  }, 60_000);

  it('ess task creates, shows, lists and cancels tasks on a running node', async () => {
    const dir = teardown.own(await tempDir(), (d) => d.remove());
    const g = await ess(['gen', '--data', dir.path, '--dataset', 'cli:tasks', '--files', '2', '--events', '30', '--size-mean', '4KiB']);
    expect(g.code, g.output).toBe(0);
    const server = teardown.own(await startTestServer({ dataDir: dir.path }), (s) => s.close());
    const at = ['--server', server.httpUrl];
    const created = await ess(['task', 'create', '--dataset', 'cli:tasks', '--range-size', '7', '--label', 'from the cli', ...at]);
    expect(created.code, created.output).toBe(0);
    expect(JSON.parse(created.output)).toMatchObject({ id: 1, rangesTotal: 10, eventsTotal: 60, label: 'from the cli', state: 'active' });
    expect(JSON.parse((await ess(['task', 'status', '1', ...at])).output)).toMatchObject({ id: 1, ranges: { ready: 10 } });
    expect(JSON.parse((await ess(['task', 'list', ...at])).output).tasks).toHaveLength(1);
    expect(JSON.parse((await ess(['task', 'cancel', '1', ...at])).output)).toMatchObject({ state: 'cancelled', ranges: { cancelled: 10 } });
    const missing = await ess(['task', 'status', '99', ...at]);
    expect(missing.code).toBe(1);
    expect(missing.output).toMatch(/404 not_found: no task 99/);
    const unknown = await ess(['task', 'create', '--dataset', 'cli:nope', '--range-size', '5', ...at]);
    expect(unknown.output).toMatch(/no dataset "cli:nope"/);
  }, 60_000);
});
