/** Where things are: the repository, the bench package, its results folder and the bundles built for child processes. */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = fileURLToPath(new URL('../../', import.meta.url));
export const REPO = resolve(BENCH_DIR, '..');
export const RESULTS_DIR = join(BENCH_DIR, 'results');
export const BUILD_DIR = join(RESULTS_DIR, '.build');
export const SERVER_PKG = join(REPO, 'packages', 'server');
export const CLIENT_PKG = join(REPO, 'packages', 'client');
export const TESTKIT_PKG = join(REPO, 'packages', 'testkit');

/** Newest modification time of any file under `dir` whose name passes `keep` (0 when none). */
export function newestMtime(dir: string, keep: (name: string) => boolean = () => true): number {
  if (!existsSync(dir)) return 0;
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(p, keep));
    else if (keep(e.name)) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * True when every package the server process runs has a `dist/` at least as new as its `src/`:
 * then the measured server runs built JavaScript; otherwise it runs the current sources via tsx.
 */
export function distIsFresh(): { fresh: boolean; stale: string[] } {
  const stale: string[] = [];
  for (const pkg of ['protocol', 'format', 'client', 'server']) {
    const dir = join(REPO, 'packages', pkg);
    const src = newestMtime(join(dir, 'src'), (n) => n.endsWith('.ts'));
    const dist = newestMtime(join(dir, 'dist'), (n) => n.endsWith('.js'));
    if (dist === 0 || dist < src) stale.push(pkg);
  }
  return { fresh: stale.length === 0, stale };
}
