// Upstream pools of one worker, keyed by endpoint address:port (plus the TLS settings for mTLS
// clusters). A new config generation reuses the pools of endpoints it still has (no reconnect
// storm) and closes the others gracefully.
import type { UpstreamTls } from '../tls/outbound/client-tls.js';
import type { PoolOptions, UpstreamCodec, UpstreamPool } from './codec.js';
import { poolKey } from './endpoint.js';

export interface PoolTarget {
  address: string;
  port: number;
  tls: UpstreamTls | null;
}

export class PoolRegistry {
  private readonly codec: UpstreamCodec;
  private readonly options: PoolOptions;
  private pools = new Map<string, UpstreamPool>();

  constructor(codec: UpstreamCodec, options: PoolOptions) {
    this.codec = codec;
    this.options = options;
  }

  get size(): number { return this.pools.size; }

  /** Builds the pool set for a new generation, keyed by poolKey(). */
  rebuild(targets: Iterable<PoolTarget>): Map<string, UpstreamPool> {
    const next = new Map<string, UpstreamPool>();
    for (const { address, port, tls } of targets) {
      const key = poolKey(address, port, tls);
      if (next.has(key)) continue;
      next.set(key, this.pools.get(key) ?? this.codec.createPool(address, port, this.options, tls));
    }
    for (const [key, pool] of this.pools) {
      if (!next.has(key)) void pool.close().catch(() => undefined);
    }
    this.pools = next;
    return next;
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close().catch(() => undefined)));
  }

  async destroyAll(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.destroy().catch(() => undefined)));
  }
}
