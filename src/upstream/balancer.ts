// Load balancers over a cluster's endpoints. LEAST_REQUEST is Istio's default: power of two
// random choices by in-flight requests (Envoy's least_request with choice_count 2).
import type { LbPolicy } from '../config/snapshot.js';
import type { Endpoint } from './endpoint.js';

export interface Balancer {
  pick(endpoints: Endpoint[]): Endpoint | null;
}

class RoundRobin implements Balancer {
  private next = Math.floor(Math.random() * 1024);
  pick(endpoints: Endpoint[]): Endpoint | null {
    const n = endpoints.length;
    if (n === 0) return null;
    const i = this.next++ % n;
    if (this.next > 0x3fffffff) this.next = 0;
    return endpoints[i] as Endpoint;
  }
}

class RandomPick implements Balancer {
  pick(endpoints: Endpoint[]): Endpoint | null {
    const n = endpoints.length;
    if (n === 0) return null;
    return endpoints[Math.floor(Math.random() * n)] as Endpoint;
  }
}

class LeastRequest implements Balancer {
  pick(endpoints: Endpoint[]): Endpoint | null {
    const n = endpoints.length;
    if (n < 2) return n === 0 ? null : (endpoints[0] as Endpoint);
    const a = endpoints[Math.floor(Math.random() * n)] as Endpoint;
    let b = endpoints[Math.floor(Math.random() * (n - 1))] as Endpoint;
    if (b === a) b = endpoints[n - 1] as Endpoint;
    return b.inflight < a.inflight ? b : a;
  }
}

export function createBalancer(policy: LbPolicy): Balancer {
  switch (policy) {
    case 'ROUND_ROBIN': return new RoundRobin();
    case 'RANDOM': return new RandomPick();
    default: return new LeastRequest();
  }
}
