/** Cluster: several nodes sharing one ledger, one cooperative cache and one view through Redis. */
export { Cluster, type ClusterHandlers, type ClusterOptions, type NodeView } from './Cluster.js';
export { Membership, type LiveNode, type NodeInfo } from './Membership.js';
export { ClusterBus, type ClusterEvent } from './ClusterBus.js';
export { blockOwner, STRIPE_BLOCKS } from './BlockOwners.js';
export { PeerBlocks, INTERNAL_BLOCKS_PATH, type PeerStats } from './PeerBlocks.js';
export { RedisCatalogueStore } from './RedisCatalogueStore.js';
