// Everything a worker needs to serve one config generation, built once when the snapshot
// arrives: runtime clusters (sharing pools kept across generations) and the route table.
import type { Snapshot } from '../config/snapshot.js';
import { ClusterRuntime } from '../upstream/cluster.js';
import type { PoolRegistry } from '../upstream/pool-registry.js';
import type { SharedUpstreamState } from '../upstream/shared/layout.js';
import { RouteTable } from '../routing/route-table.js';

export class Generation {
  readonly snapshot: Snapshot;
  readonly id: number;
  readonly clusters: ClusterRuntime[];
  readonly routes: RouteTable;

  constructor(snapshot: Snapshot, registry: PoolRegistry, shared: SharedUpstreamState | null) {
    this.snapshot = snapshot;
    this.id = snapshot.generation;
    const pools = registry.rebuild(snapshot.clusters);
    this.clusters = snapshot.clusters.map((c) => new ClusterRuntime(c, pools, shared));
    this.routes = new RouteTable(snapshot, this.clusters);
  }

  cluster(id: number): ClusterRuntime | null {
    return id >= 0 ? (this.clusters[id] ?? null) : null;
  }
}
