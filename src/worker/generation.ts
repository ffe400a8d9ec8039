// Everything a worker needs to serve one config generation, built once when the snapshot
// arrives: runtime clusters (sharing pools kept across generations) and the route table.
import type { Snapshot } from '../config/snapshot.js';
import { upstreamTlsFor, type ClientTls } from '../tls/outbound/client-tls.js';
import { ClusterRuntime } from '../upstream/cluster.js';
import type { PoolRegistry } from '../upstream/pool-registry.js';
import type { SharedUpstreamState } from '../upstream/shared/layout.js';
import { RouteTable } from '../routing/route-table.js';
import { createAuthzEvaluator, type AuthzEvaluator } from '../filters/authz/index.js';

export class Generation {
  readonly snapshot: Snapshot;
  readonly id: number;
  readonly clusters: ClusterRuntime[];
  readonly routes: RouteTable;
  /** AuthorizationPolicies for inbound requests; null when there are none (the check is skipped) */
  readonly authz: AuthzEvaluator | null;

  /** `clientTls`: this worker's identity for ISTIO_MUTUAL clusters; null = none yet (plaintext) */
  constructor(snapshot: Snapshot, registry: PoolRegistry, shared: SharedUpstreamState | null, clientTls: ClientTls | null = null) {
    this.snapshot = snapshot;
    this.id = snapshot.generation;
    const tls = snapshot.clusters.map((c) => c.endpoints.map((e) => upstreamTlsFor(c, e, clientTls)));
    const pools = registry.rebuild(snapshot.clusters, tls);
    this.clusters = snapshot.clusters.map((c, i) => new ClusterRuntime(c, pools, shared, tls[i] ?? []));
    this.routes = new RouteTable(snapshot, this.clusters);
    this.authz = createAuthzEvaluator(snapshot.authz ?? null);
  }

  cluster(id: number): ClusterRuntime | null {
    return id >= 0 ? (this.clusters[id] ?? null) : null;
  }
}
