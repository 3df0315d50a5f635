/**
 * The registry of sources by id, so a replica (source id + URL) can be resolved to the
 * source that reads it, and every source's live figures can be listed.
 */
import type { SourceRow } from '@ess/protocol';
import type { Source } from './Source.js';

export class SourceSet {
  private readonly sources = new Map<string, Source>();

  add(source: Source): Source {
    if (this.sources.has(source.id)) throw new Error(`source "${source.id}" is already registered`);
    this.sources.set(source.id, source);
    return source;
  }

  get(id: string): Source | undefined {
    return this.sources.get(id);
  }

  require(id: string): Source {
    const s = this.sources.get(id);
    if (!s) throw new Error(`unknown source "${id}"`);
    return s;
  }

  list(): Source[] {
    return [...this.sources.values()];
  }

  rows(now = Date.now()): SourceRow[] {
    return this.list().map((s) => s.stats.row(now));
  }

  async close(): Promise<void> {
    await Promise.all(this.list().map((s) => s.close()));
  }
}
