// The routes of one TCP or TLS listener at run time (built once per generation): a TCP listener's
// connections take its first route; a TLS listener's take the first route whose sniHosts hold the
// ClientHello's server name (exact, `*.suffix`, or `*`). Each route splits by weight per connection.
import type { TcpRouteSpec } from '../config/snapshot.js';
import type { ClusterRuntime } from '../upstream/cluster.js';
import { WeightedDestination } from './route.js';

export class TcpRoute {
  readonly spec: TcpRouteSpec;
  readonly name: string;
  /** position in its listener's list (stats records carry it) */
  readonly index: number;
  readonly destinations: WeightedDestination[];
  private readonly exact: ReadonlySet<string>;
  private readonly suffixes: readonly string[];
  private readonly any: boolean;

  constructor(spec: TcpRouteSpec, clusters: readonly ClusterRuntime[], index: number) {
    this.spec = spec;
    this.name = spec.name;
    this.index = index;
    this.destinations = spec.destinations.map((d) => new WeightedDestination(d, d.clusterId >= 0 ? (clusters[d.clusterId] ?? null) : null));
    this.exact = new Set(spec.sniHosts.filter((h) => !h.startsWith('*')));
    this.suffixes = spec.sniHosts.filter((h) => h.startsWith('*.')).map((h) => h.slice(1));
    this.any = spec.sniHosts.includes('*');
  }

  /** `name`: the lower-cased SNI. */
  takesName(name: string): boolean {
    if (this.any || this.exact.has(name)) return true;
    for (const s of this.suffixes) if (name.length > s.length && name.endsWith(s)) return true;
    return false;
  }

  /** Weighted pick: each destination gets weight / totalWeight of the connections. */
  pickDestination(): WeightedDestination {
    const dests = this.destinations;
    if (dests.length === 1) return dests[0] as WeightedDestination;
    let r = Math.random() * this.spec.totalWeight;
    for (let i = 0; i < dests.length; i++) {
      const d = dests[i] as WeightedDestination;
      if (r < d.weight) return d;
      r -= d.weight;
    }
    return dests[dests.length - 1] as WeightedDestination;
  }
}

export class TcpRouteTable {
  readonly routes: TcpRoute[];

  constructor(specs: readonly TcpRouteSpec[], clusters: readonly ClusterRuntime[]) {
    this.routes = specs.map((s, i) => new TcpRoute(s, clusters, i));
  }

  /** A TCP listener's route (the first), or null when it has none. */
  first(): TcpRoute | null {
    return this.routes[0] ?? null;
  }

  /** A TLS listener's route for the server name `sni` ('' when the ClientHello had none), or null. */
  bySni(sni: string): TcpRoute | null {
    if (sni === '') return null;
    const name = sni.toLowerCase();
    for (const r of this.routes) if (r.takesName(name)) return r;
    return null;
  }
}
