// Upstream pools of one worker, keyed by endpoint address:port (plus the DestinationRule pool
// settings when a cluster sets its own). A new config generation reuses the pools of endpoints it
// still has (no reconnect storm) and closes the others gracefully.
import type { ClusterSpec, EndpointSpec } from '../config/snapshot.js';
import type { PoolOptions, UpstreamCodec, UpstreamPool } from './codec.js';
import { endpointKey } from './endpoint.js';

export class PoolRegistry {
  private readonly codec: UpstreamCodec;
  private readonly options: PoolOptions;
  private pools = new Map<string, UpstreamPool>();

  constructor(codec: UpstreamCodec, options: PoolOptions) {
    this.codec = codec;
    this.options = options;
  }

  get size(): number { return this.pools.size; }

  /** Builds the pool set for a new generation; returns the pool of each (cluster, endpoint) by poolKey. */
  rebuild(clusters: readonly ClusterSpec[]): Map<string, UpstreamPool> {
    const next = new Map<string, UpstreamPool>();
    for (const c of clusters) {
      for (const e of c.endpoints) {
        const key = poolKey(c, e);
        if (next.has(key)) continue;
        next.set(key, this.pools.get(key) ?? this.codec.createPool(e.address, e.port, this.optionsFor(c)));
      }
    }
    for (const [key, pool] of this.pools) {
      if (!next.has(key)) void pool.close().catch(() => undefined);
    }
    this.pools = next;
    return next;
  }

  private optionsFor(c: ClusterSpec): PoolOptions {
    const p = c.pool;
    return {
      connections: this.options.connections,
      idleTimeoutMs: p.idleTimeoutMs > 0 ? p.idleTimeoutMs : this.options.idleTimeoutMs,
      connectTimeoutMs: p.connectTimeoutMs > 0 ? p.connectTimeoutMs : this.options.connectTimeoutMs,
      maxRequestsPerConnection: p.maxRequestsPerConnection,
    };
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close().catch(() => undefined)));
  }

  async destroyAll(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.destroy().catch(() => undefined)));
  }
}

/** Pools are shared by clusters whose pool settings agree (the common case: none set). */
export function poolKey(c: ClusterSpec, e: EndpointSpec): string {
  const key = endpointKey(e.address, e.port);
  const p = c.pool;
  if (p.idleTimeoutMs === 0 && p.connectTimeoutMs === 0 && p.maxRequestsPerConnection === 0) return key;
  return `${key}|i${p.idleTimeoutMs}|c${p.connectTimeoutMs}|r${p.maxRequestsPerConnection}`;
}
