// A cluster (service host + subset + port) at run time: its endpoints and balancer.
import type { ClusterSpec } from '../config/snapshot.js';
import type { UpstreamPool } from './codec.js';
import { createBalancer, type Balancer } from './balancer.js';
import { Endpoint, endpointKey } from './endpoint.js';

export class ClusterRuntime {
  readonly spec: ClusterSpec;
  readonly name: string;
  readonly endpoints: Endpoint[];
  private readonly balancer: Balancer;

  constructor(spec: ClusterSpec, pools: Map<string, UpstreamPool>, shared: Map<string, Endpoint>) {
    this.spec = spec;
    this.name = spec.name;
    this.balancer = createBalancer(spec.lb);
    this.endpoints = spec.endpoints.map((e) => {
      // One Endpoint object per address:port within a generation, so in-flight counts are shared
      // by every cluster (subset) that contains it.
      const key = endpointKey(e.address, e.port);
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
