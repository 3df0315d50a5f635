// One vitest run over every package; tests import workspace packages from their `src` (the
// "source" export condition), so nothing needs building first.
import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

const conditions = ['source', 'node', 'import', 'default'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['source'] } },
  test: {
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: '.vitest-results/results.json' },
    projects: [
      {
        extends: true,
        test: {
          name: 'node',
          include: ['packages/{protocol,format,server,client,testkit}/test/**/*.test.ts', 'tests/integration/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        extends: true,
        plugins: [react()],
        test: {
          name: 'dashboard',
          include: ['packages/dashboard/test/**/*.test.{ts,tsx}'],
          environment: 'happy-dom',
        },
      },
    ],
  },
});
