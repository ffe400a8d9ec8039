// Upstream pools of one worker, keyed by endpoint address:port. A new config generation reuses
// the pools of endpoints it still has (no reconnect storm) and closes the others gracefully.
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

  /** Builds the pool set for a new generation; `keep` receives (address, port) for each endpoint in use. */
  rebuild(endpoints: Iterable<{ address: string; port: number }>): Map<string, UpstreamPool> {
    const next = new Map<string, UpstreamPool>();
    for (const { address, port } of endpoints) {
      const key = endpointKey(address, port);
      if (next.has(key)) continue;
      next.set(key, this.pools.get(key) ?? this.codec.createPool(address, port, this.options));
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
