/**
 * The cluster's catalogue store: registrations in Redis hashes (one field per source, dataset and
 * replica), so every node loads the same knowledge base and concurrent registrations never clobber
 * each other.
 */
import type { Redis } from 'ioredis';
import { parseState, type CatalogueState, type CatalogueStore, type HttpSourceSpec, type StoredDataset, type StoredReplica } from '../catalogue/index.js';

export class RedisCatalogueStore implements CatalogueStore {
  private readonly keys: { sources: string; datasets: string; replicas: string };

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = { sources: `${prefix}:catalogue:sources`, datasets: `${prefix}:catalogue:datasets`, replicas: `${prefix}:catalogue:replicas` };
  }

  async load(): Promise<CatalogueState> {
    const [sources, datasets, replicas] = await Promise.all([
      this.redis.hgetall(this.keys.sources),
      this.redis.hgetall(this.keys.datasets),
      this.redis.hgetall(this.keys.replicas),
    ]);
    const parse = (h: Record<string, string>) => Object.values(h).map((v) => JSON.parse(v) as unknown);
    return parseState({ version: 1, sources: parse(sources), datasets: parse(datasets), replicas: parse(replicas) }, 'the catalogue in Redis');
  }

  async putSource(spec: HttpSourceSpec): Promise<void> {
    await this.redis.hsetnx(this.keys.sources, spec.id, JSON.stringify(spec));
  }

  async putDataset(dataset: StoredDataset): Promise<void> {
    await this.redis.hsetnx(this.keys.datasets, `${dataset.scope}:${dataset.name}`, JSON.stringify(dataset));
  }

  async putReplica(replica: StoredReplica): Promise<void> {
    await this.redis.hset(this.keys.replicas, `${replica.dataset}|${replica.lfn}|${replica.source}|${replica.url}`, JSON.stringify(replica));
  }
}
