/**
 * Virtual data: a dataset generated on request. Its events are byte-identical to what `ess gen`
 * writes for the same seed, and a second task over the same ranges is served from the cache.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { apiOk, checkRangeFiles, createTask, makeDataset, spawnWorker, startTestServer, taskStatus, tempDir, Teardown } from '@ess/testkit';
import type { SourceRow } from '@ess/protocol';

describe('virtual data', () => {
  const teardown = new Teardown();
  afterEach(() => teardown.run());

  it('delivers events byte-identical to ess gen, and a second pass comes from the cache', async () => {
    const dir = teardown.own(await tempDir(), (d) => d.remove());
    const params = { seed: 77, files: 3, eventsPerFile: 50, sizeMean: 32 * 1024, sizeDist: 'lognormal' as const, sizeSigma: 0.6 };
    // What ess gen writes for the same parameters, to compare with.
    const reference = await makeDataset(join(dir.path, 'reference'), { scope: 'virt', name: 'gen', ...params });
    const server = teardown.own(await startTestServer({ dataDir: join(dir.path, 'node') }), (s) => s.close());
    await apiOk(server, 'POST', '/api/v1/datasets', { scope: 'virt', name: 'gen', virtual: params });

    const pass = async (n: number) => {
      const task = await createTask(server, { dataset: 'virt:gen', rangeSize: 10 });
      const out = join(dir.path, `pass-${n}`);
      const w = spawnWorker({ server: server.wsUrl, task: task.id, outDir: out, id: `v${n}` });
      expect((await w.exited).code, w.output()).toBe(0);
      expect((await taskStatus(server, task.id)).state).toBe('complete');
      return checkRangeFiles([out], reference.dir);
    };
    const virtualRow = async () => (await apiOk<{ sources: SourceRow[] }>(server, 'GET', '/api/v1/sources')).sources.find((s) => s.id === 'virtual')!;

    const first = await pass(1);
    expect(first.mismatches).toEqual([]);
    expect(first.seen.size).toBe(150);
    const generated = await virtualRow();
    expect(generated.bytes).toBeGreaterThan(0);
    const hitsBefore = server.cache!.stats().tiers.find((t) => t.tier === 'memory')!.hits;

    const second = await pass(2);
    expect(second.mismatches).toEqual([]);
    expect(second.seen.size).toBe(150);
    // Nothing generated again: the virtual source did no more work, the cache served it.
    expect((await virtualRow()).bytes).toBe(generated.bytes);
    expect(server.cache!.stats().tiers.find((t) => t.tier === 'memory')!.hits).toBeGreaterThan(hitsBefore);
  }, 90_000);

  it('a dataset folder described with ess gen --virtual is served virtually after a restart too', async () => {
    const dir = teardown.own(await tempDir(), (d) => d.remove());
    const { runFromSource, ESS_CLI } = await import('@ess/testkit');
    const node = join(dir.path, 'node');
    const gen = runFromSource(ESS_CLI, ['gen', '--data', node, '--dataset', 'virt:described', '--files', '2', '--events', '20', '--size-mean', '8KiB', '--seed', '5', '--virtual']);
    expect((await gen.exited).code, gen.output()).toBe(0);
    const server = teardown.own(await startTestServer({ dataDir: node }), (s) => s.close());
    const ds = await apiOk<{ files: { size: number; replicas: { source: string }[] }[]; events: number }>(server, 'GET', '/api/v1/datasets/virt%3Adescribed');
    expect(ds.events).toBe(40);
    expect(ds.files.every((f) => f.replicas[0]!.source === 'virtual' && f.size > 0)).toBe(true);
  }, 60_000);
});
