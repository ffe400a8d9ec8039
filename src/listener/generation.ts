// Everything a worker needs to serve one config generation, built once when the snapshot
// arrives: runtime clusters (sharing pools kept across generations) and the route table.
import type { Snapshot } from '../config/snapshot.js';
import { upstreamTlsFor, type ClientTls } from '../tls/outbound/client-tls.js';
import { ClusterRuntime } from '../upstream/cluster.js';
import type { Endpoint } from '../upstream/endpoint.js';
import type { PoolRegistry } from '../upstream/pool-registry.js';
import { RouteTable } from '../routing/route-table.js';

export class Generation {
  readonly snapshot: Snapshot;
  readonly id: number;
  readonly clusters: ClusterRuntime[];
  readonly routes: RouteTable;
  /** every endpoint of this generation by pool key (address:port, plus TLS settings for mTLS) */
  readonly endpoints: Map<string, Endpoint>;

  /** `clientTls`: this worker's identity for ISTIO_MUTUAL clusters; null = none yet (plaintext) */
  constructor(snapshot: Snapshot, registry: PoolRegistry, clientTls: ClientTls | null = null) {
    this.snapshot = snapshot;
    this.id = snapshot.generation;
    const tls = snapshot.clusters.map((c) => c.endpoints.map((e) => upstreamTlsFor(c, e, clientTls)));
    const pools = registry.rebuild(snapshot.clusters.flatMap((c, i) => c.endpoints.map((e, j) => ({ address: e.address, port: e.port, tls: tls[i]?.[j] ?? null }))));
    const shared = new Map<string, Endpoint>();
    this.clusters = snapshot.clusters.map((c, i) => new ClusterRuntime(c, pools, shared, tls[i] ?? []));
    this.endpoints = shared;
    this.routes = new RouteTable(snapshot, this.clusters);
  }

  cluster(id: number): ClusterRuntime | null {
    return id >= 0 ? (this.clusters[id] ?? null) : null;
  }
}
