/**
 * Hosting the built dashboard: every file of its dist folder read once into memory at start-up
 * and served with a content type and caching headers (hashed assets are immutable).
 */
import { readdir, readFile } from 'node:fs/promises';
import { extname, join, relative } from 'node:path';
import type { HttpReply, HttpRequest } from '../transport/index.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.map': 'application/json; charset=utf-8',
};

interface StaticFile {
  readonly body: Buffer;
  readonly type: string;
  readonly immutable: boolean;
}

export class StaticFiles {
  private constructor(private readonly files: Map<string, StaticFile>) {}

  /** Loads a folder (the dashboard's dist); null when it does not exist or has no index.html. */
  static async load(dir: string): Promise<StaticFiles | null> {
    const files = new Map<string, StaticFile>();
    const walk = async (d: string): Promise<void> => {
      for (const e of await readdir(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) await walk(p);
        else if (e.isFile()) {
          const rel = '/' + relative(dir, p).split('\\').join('/');
          files.set(rel, {
            body: await readFile(p),
            type: TYPES[extname(p)] ?? 'application/octet-stream',
            immutable: rel.startsWith('/assets/'),
          });
        }
      }
    };
    try {
      await walk(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    return files.has('/index.html') ? new StaticFiles(files) : null;
  }

  /** Serves a path; unknown paths without an extension get index.html (client-side routes). */
  serve(req: HttpRequest): HttpReply {
    const path = req.path === '/' ? '/index.html' : req.path;
    let file = this.files.get(path);
    if (!file && extname(path) === '') file = this.files.get('/index.html');
    if (!file) return { status: 404, headers: { 'content-type': 'text/plain' }, body: 'not found' };
    return {
      status: 200,
      headers: {
        'content-type': file.type,
        'cache-control': file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      },
      body: file.body,
    };
  }
}
