/**
 * Which node owns a block in the cooperative cache: rendezvous (highest random weight) hashing of
 * (file, stripe of blocks) over the live nodes. A stripe keeps read-ahead on one node; when a node
 * joins or leaves, only the stripes it owned (or now owns) move.
 */
import { createHash } from 'node:crypto';

/** Blocks per stripe: consecutive blocks of a file that belong to the same owner. */
export const STRIPE_BLOCKS = 8;

function weight(node: string, file: string, stripe: number): bigint {
  return createHash('sha256').update(node).update('\0').update(file).update('\0').update(String(stripe)).digest().readBigUInt64BE(0);
}

/** The owner of a block among `nodes` (ids), or null when there are none. */
export function blockOwner(nodes: readonly string[], file: string, block: number, stripeBlocks = STRIPE_BLOCKS): string | null {
  const stripe = Math.floor(block / stripeBlocks);
  let best: string | null = null;
  let bestWeight = -1n;
  for (const n of nodes) {
    const w = weight(n, file, stripe);
    if (w > bestWeight || (w === bestWeight && best !== null && n < best)) {
      best = n;
      bestWeight = w;
    }
  }
  return best;
}
