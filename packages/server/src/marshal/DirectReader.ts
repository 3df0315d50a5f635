/**
 * The data path without a cache: every read goes to the file's first replica. Kept as the
 * baseline the cache is measured against, and for `--no-cache` runs.
 */
import type { CatalogueFile } from '../catalogue/index.js';
import type { SourceSet } from '../sources/index.js';
import type { DataReader } from './Marshaller.js';
import type { ReadReceipt } from './RangeStream.js';

export class DirectReader implements DataReader {
  constructor(private readonly sources: SourceSet) {}

  async read(file: CatalogueFile, offset: number, length: number, into: Buffer): Promise<ReadReceipt> {
    const replica = file.replicas[0];
    if (!replica) throw new Error(`file ${file.lfn} has no replica`);
    await this.sources.require(replica.source).read(replica.url, offset, length, into);
    return { hitBytes: 0, missBytes: length };
  }
}
