// A cluster (service host + subset + port) at run time: its endpoints and balancer.
import type { ClusterSpec } from '../config/snapshot.js';
import type { UpstreamPool } from './codec.js';
import { createBalancer, type Balancer } from './balancer.js';
import type { UpstreamTls } from '../tls/outbound/client-tls.js';
import { Endpoint, poolKey } from './endpoint.js';

export class ClusterRuntime {
  readonly spec: ClusterSpec;
  readonly name: string;
  readonly endpoints: Endpoint[];
  private readonly balancer: Balancer;

  /** `tls[i]`: the TLS settings of endpoint i (null: plaintext) */
  constructor(spec: ClusterSpec, pools: Map<string, UpstreamPool>, shared: Map<string, Endpoint>, tls: (UpstreamTls | null)[]) {
    this.spec = spec;
    this.name = spec.name;
    this.balancer = createBalancer(spec.lb);
    this.endpoints = spec.endpoints.map((e, i) => {
      // One Endpoint object per address:port (and TLS settings) within a generation, so in-flight
      // counts are shared by every cluster (subset) that contains it.
      const key = poolKey(e.address, e.port, tls[i] ?? null);
      let ep = shared.get(key);
      if (ep === undefined) {
        ep = new Endpoint(e, pools.get(key) as UpstreamPool);
        shared.set(key, ep);
      }
      return ep;
    });
  }

  pick(): Endpoint | null {
    return this.balancer.pick(this.endpoints);
  }
}
