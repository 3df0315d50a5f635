import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const root = fileURLToPath(new URL('../../../', import.meta.url));

describe('start-up without the native uWebSockets.js binding', () => {
  it('fails loudly instead of serving on the slow fallback', () => {
    const r = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', cli, 'serve', '--data', '/nonexistent', '--port', '0'], {
      cwd: root,
      env: { ...process.env, UWS_USE_FALLBACK: '1' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/native uWebSockets\.js binding did not load/);
  });
});
