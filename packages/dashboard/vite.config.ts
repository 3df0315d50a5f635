// Builds the dashboard to static files (dist/) that the ESS server hosts at `/`. @ess/protocol is
// bundled from its TypeScript source (the "source" export condition), like everywhere else in the workspace.
import { defineConfig, defaultClientConditions } from 'vite';
import react from '@vitejs/plugin-react';

export default defineConfig({
  base: './',
  plugins: [react()],
  resolve: { conditions: ['source', ...defaultClientConditions] },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    target: 'es2022',
    chunkSizeWarningLimit: 600,
  },
  server: {
    // `pnpm --filter @ess/dashboard dev` against a server on :7400 (ESS_URL to change it).
    proxy: { '/v1': { target: process.env.ESS_URL ?? 'http://127.0.0.1:7400', ws: true } },
  },
});
