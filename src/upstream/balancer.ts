// Load balancers over a cluster's available endpoints. LEAST_REQUEST is Istio's default: power of
// two random choices by requests in flight sidecar-wide (Envoy's least_request, choice_count 2).
// PEAK_EWMA is Linkerd's default: two random choices by latency estimate × load. Slow start
// (warmupDurationSecs) weighs endpoints still warming by the share of their window that has passed.
import type { LbPolicy } from '../config/snapshot.js';
import type { Endpoint } from './endpoint.js';

export interface Balancer {
  pick(endpoints: readonly Endpoint[]): Endpoint | null;
}

class RoundRobin implements Balancer {
  private next = Math.floor(Math.random() * 1024);
  pick(endpoints: readonly Endpoint[]): Endpoint | null {
    const n = endpoints.length;
    if (n === 0) return null;
    const i = this.next++ % n;
    if (this.next > 0x3fffffff) this.next = 0;
    return endpoints[i] as Endpoint;
  }
}

class RandomPick implements Balancer {
  pick(endpoints: readonly Endpoint[]): Endpoint | null {
    const n = endpoints.length;
    if (n === 0) return null;
    return endpoints[Math.floor(Math.random() * n)] as Endpoint;
  }
}

function twoChoices(endpoints: readonly Endpoint[]): [Endpoint, Endpoint] {
  const n = endpoints.length;
  const a = endpoints[Math.floor(Math.random() * n)] as Endpoint;
  let b = endpoints[Math.floor(Math.random() * (n - 1))] as Endpoint;
  if (b === a) b = endpoints[n - 1] as Endpoint;
  return [a, b];
}

class LeastRequest implements Balancer {
  pick(endpoints: readonly Endpoint[]): Endpoint | null {
    const n = endpoints.length;
    if (n < 2) return n === 0 ? null : (endpoints[0] as Endpoint);
    const [a, b] = twoChoices(endpoints);
    return b.active() < a.active() ? b : a;
  }
}

class PeakEwma implements Balancer {
  pick(endpoints: readonly Endpoint[]): Endpoint | null {
    const n = endpoints.length;
    if (n < 2) return n === 0 ? null : (endpoints[0] as Endpoint);
    const [a, b] = twoChoices(endpoints);
    return b.ewmaCost() < a.ewmaCost() ? b : a;
  }
}

export function createBalancer(policy: LbPolicy): Balancer {
  switch (policy) {
    case 'ROUND_ROBIN': return new RoundRobin();
    case 'RANDOM':
    case 'PASSTHROUGH': return new RandomPick();
    case 'PEAK_EWMA': return new PeakEwma();
    default: return new LeastRequest();
  }
}

/** Envoy's slow start floor: a new endpoint starts at 10% of its weight. */
const MIN_WARM_FACTOR = 0.1;

/** Weighted random choice while some endpoint is inside its slow-start window. */
export function pickWarming(endpoints: readonly Endpoint[], windowMs: number, now: number): Endpoint | null {
  const n = endpoints.length;
  if (n === 0) return null;
  let total = 0;
  const weights = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const ep = endpoints[i] as Endpoint;
    const age = now - ep.firstSeen;
    const factor = age >= windowMs ? 1 : Math.max(MIN_WARM_FACTOR, age / windowMs);
    const w = ep.spec.weight * factor / (ep.active() + 1);
    weights[i] = w;
    total += w;
  }
  let r = Math.random() * total;
  for (let i = 0; i < n; i++) {
    r -= weights[i] as number;
    if (r < 0) return endpoints[i] as Endpoint;
  }
  return endpoints[n - 1] as Endpoint;
}
