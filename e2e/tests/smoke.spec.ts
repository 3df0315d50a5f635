import { expect, test } from '@playwright/test';
import { join } from 'node:path';
import { createTask, gen, serve, tempDir, worker, type EssProcess } from '../support/ess.js';

test('the built dashboard loads from a running server and shows live work', async ({ page }) => {
  const dir = tempDir();
  let ess: EssProcess | undefined;
  try {
    gen(dir.path, 'e2e:smoke', 2, 60, '32KiB');
    ess = await serve(dir.path);
    await page.goto(ess.dashboard);
    await expect(page).toHaveTitle(/ESS/);
    await expect(page.getByTestId('connection-status')).toHaveAttribute('data-state', 'open');

    const task = await createTask(ess, 'e2e:smoke', 10);
    const w = worker(ess, join(dir.path, 'out'), 'smoke-worker', ['--task', String(task)]);
    await expect(page.locator('tr[data-worker-id="smoke-worker"]')).toBeVisible();
    await expect(page.getByTestId(`task-${task}`)).toHaveAttribute('data-complete-pct', '100');
    await w.exited;
    expect(w.child.exitCode, w.output()).toBe(0);
  } finally {
    await ess?.stop();
    dir.remove();
  }
});
