/**
 * A payload that fails after part of its range: the events it says it completed are kept, and only
 * the rest of the range is offered again (as a new attempt, after the retry delay).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openEventFile } from '@ess/format';
import { apiOk, createTask, makeDataset, spawnWorker, startTestServer, taskStatus, tempDir, Teardown } from '@ess/testkit';

describe('a payload that fails part way', () => {
  const teardown = new Teardown();
  afterEach(() => teardown.run());

  it('keeps the events it completed and retries only the rest', async () => {
    const dir = teardown.own(await tempDir(), (d) => d.remove());
    const ds = await makeDataset(dir.path, { scope: 'pf', name: 'ds', files: 1, eventsPerFile: 10, sizeMean: 1024, seed: 81 });
    const server = teardown.own(await startTestServer({ dataDir: dir.path, retryDelayMs: 200 }), (s) => s.close());
    const task = await createTask(server, { dataset: ds.id, rangeSize: 10 });
    // First attempt: 4 events done, then a crash. Second attempt: success.
    const payload = join(dir.path, 'payload.sh');
    await writeFile(payload, `#!/bin/sh\ncase "$ESS_EVENT_RANGE_ID" in *-1) echo 4 > "$ESS_PROGRESS_FILE"; echo "segfault at event 4" >&2; exit 139;; esac\nexit 0\n`, { mode: 0o755 });
    const out = join(dir.path, 'out');
    const w = spawnWorker({ server: server.wsUrl, task: task.id, outDir: out, id: 'partial', extra: ['--exec', `${payload} {file}`] });
    expect((await w.exited).code, w.output()).toBe(0);

    const status = await taskStatus(server, task.id);
    expect(status).toMatchObject({ state: 'complete', eventsDone: 10, ranges: { finished: 1 } });
    const { ranges } = await apiOk<{ ranges: { attempt: number; startEvent: number; lastEvent: number; eventsDone: number; message: string }[] }>(server, 'GET', `/api/v1/tasks/${task.id}/ranges`);
    expect(ranges[0]).toMatchObject({ attempt: 2, startEvent: 4, lastEvent: 9, eventsDone: 10 });
    // The second attempt received only the six events left.
    const second = await openEventFile(join(out, `${task.id}-0-0-2.ess`));
    expect(second.index.entries).toEqual([4, 5, 6, 7, 8, 9]);
    await second.close();
  }, 60_000);
});
