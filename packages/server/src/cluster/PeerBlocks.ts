/**
 * The cooperative cache's middle step: a block this node does not own is asked of the node that
 * does (rendezvous hashing over the live nodes), whose own cache or origin serves it. Any failure
 * of the owner falls back to the origin: a peer can only make a read cheaper, never break it.
 */
import { request } from 'undici';
import type { CatalogueFile } from '../catalogue/index.js';
import type { Logger } from '../log.js';
import { blockOwner } from './BlockOwners.js';
import type { Membership } from './Membership.js';

export const INTERNAL_BLOCKS_PATH = '/internal/v1/blocks';

export interface PeerStats {
  /** Blocks served by their owner node. */
  hits: number;
  hitBytes: number;
  /** Blocks this node had to fetch from the origin: it owns them, or their owner failed. */
  misses: number;
  /** Owner requests that failed (and went to the origin instead). */
  errors: number;
}

export class PeerBlocks {
  readonly stats: PeerStats = { hits: 0, hitBytes: 0, misses: 0, errors: 0 };

  constructor(
    private readonly membership: Membership,
    /** The shared secret nodes present to each other's internal endpoint. */
    private readonly secret: string,
    private readonly blockSize: number,
    private readonly log: Logger,
    private readonly timeoutMs = 10_000,
  ) {}

  /** The block from its owner node, or null: this node owns it, or the owner failed (go to the origin). */
  async fetch(file: CatalogueFile, block: number, offset: number, length: number): Promise<Buffer | null> {
    const nodes = this.membership.live();
    const owner = blockOwner(
      nodes.map((n) => n.id),
      file.guid,
      block,
    );
    const self = this.membership.self.id;
    const node = owner && owner !== self ? nodes.find((n) => n.id === owner) : undefined;
    if (!node) {
      this.stats.misses++;
      return null;
    }
    const url = `${node.url}${INTERNAL_BLOCKS_PATH}/${encodeURIComponent(file.guid)}/${block}?offset=${offset}&length=${length}&blockSize=${this.blockSize}`;
    try {
      const res = await request(url, {
        headers: { authorization: `Bearer ${this.secret}` },
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
      const body = Buffer.from(await res.body.arrayBuffer());
      if (res.statusCode !== 200 || body.length !== length) throw new Error(`owner answered ${res.statusCode} with ${body.length} bytes, expected 200 with ${length}`);
      this.stats.hits++;
      this.stats.hitBytes += length;
      return body;
    } catch (e) {
      this.stats.errors++;
      this.stats.misses++;
      this.log.warn({ owner: node.id, file: file.lfn, block, err: e }, 'owner node could not serve a block; reading it from the origin');
      return null;
    }
  }
}
