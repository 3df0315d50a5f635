/**
 * Bundles the benchmark's child-process programs (and the `ess-worker` CLI) from the current
 * TypeScript sources into single ES modules under bench/results/.build, with esbuild (the one tsx
 * brings). Workspace code (@ess/*, bench/src) is bundled; every npm package stays external,
 * imported from its real location by absolute path, so native modules load as they do in the
 * product. A bundled process starts in about a tenth of the time `node --import tsx` takes, which
 * matters with 64 worker processes on two cores.
 */
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { BUILD_DIR, REPO } from './paths.js';

interface EsbuildResolveResult {
  path: string;
  errors: unknown[];
}
interface EsbuildPluginBuild {
  onResolve(o: { filter: RegExp }, cb: (args: { path: string; resolveDir: string; kind: string; pluginData?: unknown }) => Promise<unknown> | unknown): void;
  resolve(path: string, o: { resolveDir: string; kind: string; pluginData?: unknown }): Promise<EsbuildResolveResult>;
}
interface Esbuild {
  build(o: Record<string, unknown>): Promise<{ errors: unknown[] }>;
  version: string;
}

let esbuild: Esbuild | null | undefined;

/** esbuild as tsx depends on it, or null when it cannot be loaded (then children run through tsx). */
export function loadEsbuild(): Esbuild | null {
  if (esbuild !== undefined) return esbuild;
  try {
    const fromTsx = createRequire(createRequire(join(REPO, 'package.json')).resolve('tsx'));
    esbuild = fromTsx('esbuild') as Esbuild;
  } catch {
    esbuild = null;
  }
  return esbuild;
}

const SKIP = Symbol('skip');

/** Keeps npm packages external but rewrites their specifiers to absolute paths resolved from the importing file. */
const externalByPath = {
  name: 'external-by-path',
  setup(build: EsbuildPluginBuild) {
    build.onResolve({ filter: /^[^./]/ }, async (args) => {
      if (args.pluginData === SKIP) return undefined;
      if (args.path.startsWith('node:')) return { path: args.path, external: true };
      if (args.path.startsWith('@ess/')) return undefined; // workspace source: bundle it
      const r = await build.resolve(args.path, { resolveDir: args.resolveDir, kind: args.kind, pluginData: SKIP });
      if (r.errors.length > 0 || !r.path) return undefined;
      return { path: r.path, external: true };
    });
  },
};

export interface Bundle {
  /** The entry's source path. */
  readonly entry: string;
  /** The bundled file, or null when esbuild is missing (run `entry` through tsx then). */
  readonly file: string | null;
}

/** Bundles `entry` (a .ts file) to BUILD_DIR/<name>.mjs. */
export async function bundle(entry: string, name = basename(entry).replace(/\.ts$/, '')): Promise<Bundle> {
  const eb = loadEsbuild();
  if (!eb) return { entry, file: null };
  mkdirSync(BUILD_DIR, { recursive: true });
  const outfile = join(BUILD_DIR, `${name}.mjs`);
  await eb.build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: ['source'],
    sourcemap: 'inline',
    logLevel: 'error',
    plugins: [externalByPath],
    // CommonJS packages imported from the bundle call require(): give ESM output a real one.
    banner: { js: "import { createRequire as __essCreateRequire } from 'node:module'; const require = __essCreateRequire(import.meta.url);" },
  });
  return { entry, file: outfile };
}

/** Node arguments that run a bundle, or its source through tsx when there is no bundle. */
export function nodeArgs(b: Bundle, extraNodeArgs: readonly string[] = []): string[] {
  return b.file ? [...extraNodeArgs, b.file] : [...extraNodeArgs, '--conditions=source', '--import', 'tsx', b.entry];
}
