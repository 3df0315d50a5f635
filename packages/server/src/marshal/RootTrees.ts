/**
 * ROOT files on the data path: each catalogued ROOT file's TTree, opened through the DataReader
 * (so jsroot's byte reads get the block cache, coalescing, failover and source metrics), kept
 * open for the next ranges (least recently used first out), and its run/event numbers for picking.
 */
import { LRUCache } from 'lru-cache';
import type { CatalogueFile } from '../catalogue/index.js';
import { RootError, RootTree } from '../root/RootFile.js';
import type { DataReader } from './Marshaller.js';

export const OPEN_TREES = 64;

export class RootTrees {
  private readonly trees = new LRUCache<string, Promise<RootTree>>({ max: OPEN_TREES });

  constructor(private readonly reader: DataReader) {}

  /** The file's TTree, opened on first use (concurrent callers share one opening). */
  open(file: CatalogueFile): Promise<RootTree> {
    if (!file.root) return Promise.reject(new RootError(`${file.lfn} is not a ROOT file`));
    const key = `${file.dataset}#${file.index}`;
    let p = this.trees.get(key);
    if (!p) {
      const root = file.root;
      p = RootTree.open({ name: file.lfn, size: file.size, read: (offset, into) => this.reader.read(file, offset, into.length, into) }, { tree: root.tree });
      p.catch(() => this.trees.delete(key));
      this.trees.set(key, p);
    }
    return p;
  }

  /** Every entry's run and event number, from the branches the catalogue names for them. */
  async eventIds(file: CatalogueFile): Promise<{ runs: number[]; events: number[] }> {
    const run = file.root?.run;
    const event = file.root?.event;
    if (!run || !event) throw new RootError(`${file.lfn}: no run and event branches are named for it: its events cannot be picked`);
    const tree = await this.open(file);
    const runs: number[] = [];
    const events: number[] = [];
    if (tree.entries > 0) {
      await tree.read([run, event], 0, tree.entries - 1, (_entry, v) => {
        runs.push(Number(v[0]));
        events.push(Number(v[1]));
      });
    }
    return { runs, events };
  }
}
