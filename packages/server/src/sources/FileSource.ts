/**
 * The `file` source: positional reads of local files through a small pool of open handles,
 * so a range read costs one pread and no open/close.
 */
import { open, stat, type FileHandle } from 'node:fs/promises';
import { LRUCache } from 'lru-cache';
import { SourceError, SourceStats, type Source } from './Source.js';

export class FileSource implements Source {
  readonly kind = 'file' as const;
  readonly stats: SourceStats;
  private readonly handles: LRUCache<string, Promise<FileHandle>>;

  constructor(
    readonly id: string = 'local',
    readonly endpoint: string = 'local disk',
    maxOpenFiles = 1024,
  ) {
    this.stats = new SourceStats(id, 'file', endpoint);
    this.handles = new LRUCache<string, Promise<FileHandle>>({
      max: maxOpenFiles,
      dispose: (handle) => {
        void handle.then((h) => h.close()).catch(() => undefined);
      },
    });
  }

  async read(path: string, offset: number, length: number, into?: Buffer): Promise<Buffer> {
    const dest = into ?? Buffer.allocUnsafe(length);
    const start = this.stats.begin();
    try {
      const fh = await this.handle(path);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(dest, done, length - done, offset + done);
        if (bytesRead === 0) throw new SourceError('io', `${path}: short read at ${offset + done} (file truncated?)`);
        done += bytesRead;
      }
      this.stats.success(start, start, length);
      return dest;
    } catch (e) {
      this.stats.failure();
      if (e instanceof SourceError) throw e;
      const code = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not_found' : 'io';
      this.handles.delete(path);
      throw new SourceError(code, `${path}: ${(e as Error).message}`);
    }
  }

  async size(path: string): Promise<number> {
    try {
      return (await stat(path)).size;
    } catch (e) {
      throw new SourceError('not_found', `${path}: ${(e as Error).message}`);
    }
  }

  private handle(path: string): Promise<FileHandle> {
    let h = this.handles.get(path);
    if (!h) {
      h = open(path, 'r');
      h.catch(() => this.handles.delete(path));
      this.handles.set(path, h);
    }
    return h;
  }

  async close(): Promise<void> {
    this.handles.clear();
  }
}
