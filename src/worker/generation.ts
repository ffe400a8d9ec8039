// Everything a worker needs to serve one config generation, built once when the snapshot
// arrives: runtime clusters (sharing pools kept across generations), the route table, and the
// filter chains (per outbound route, and the inbound listeners' one).
import type { Snapshot } from '../config/snapshot.js';
import { upstreamTlsFor, type ClientTls } from '../tls/outbound/client-tls.js';
import { ClusterRuntime } from '../upstream/cluster.js';
import type { PoolRegistry } from '../upstream/pool-registry.js';
import type { SharedUpstreamState } from '../upstream/shared/layout.js';
import { RouteTable } from '../routing/route-table.js';
import { createAuthzEvaluator } from '../filters/authz/index.js';
import { inboundChain, routeChain, type FilterChain, type FilterStats } from '../filters/chain.js';
import { tcpAuthzSpec } from '../filters/authz/tcp.js';
import type { AuthzEvaluator } from '../filters/authz/evaluator.js';
import { TcpRouteTable } from '../routing/tcp-routes.js';
import { effectiveTelemetry, type EffectiveTelemetry } from '../telemetry/policy.js';
import { selectedService } from '../telemetry/services.js';
import { JwksStore } from '../filters/jwt/keys.js';
import type { WorkloadMeta } from '../telemetry/workload.js';

export class Generation {
  readonly snapshot: Snapshot;
  readonly id: number;
  readonly clusters: ClusterRuntime[];
  readonly routes: RouteTable;
  /** the inbound listeners' filter chain (AuthorizationPolicy); null when nothing applies */
  readonly inboundChain: FilterChain | null;
  /** per listener index: the routes of an outbound TCP / TLS listener, else null */
  readonly tcpRoutes: (TcpRouteTable | null)[];
  /** AuthorizationPolicy as it applies to inbound TCP connections (filters/authz/tcp.ts); null when none */
  readonly tcpAuthz: AuthzEvaluator | null;
  private readonly clusterIds: Map<string, number>;
  /** a ServiceEntry selects this workload: inbound metrics name it (not the request's Host) */
  readonly inboundServiceSelected: boolean;
  /** the Telemetry in effect for this workload: tracing, access logging, metric overrides */
  readonly telemetry: EffectiveTelemetry;

  /** a Telemetry turns access logging on for some direction, or an AUDIT AuthorizationPolicy has requests to log */
  get wantsAccessLog(): boolean {
    return this.telemetry.accessLog.some((p) => p !== null && p.enabled) || (this.snapshot.authz?.audit.length ?? 0) > 0;
  }

  /** `clientTls`: this worker's identity for ISTIO_MUTUAL clusters; null = none yet (plaintext) */
  constructor(snapshot: Snapshot, registry: PoolRegistry, shared: SharedUpstreamState | null, clientTls: ClientTls | null, filterStats: FilterStats,
    workload: WorkloadMeta | null = null, jwks: JwksStore | null = null) {
    this.snapshot = snapshot;
    this.id = snapshot.generation;
    const tls = snapshot.clusters.map((c) => c.endpoints.map((e) => upstreamTlsFor(c, e, clientTls)));
    const pools = registry.rebuild(snapshot.clusters, tls);
    this.clusters = snapshot.clusters.map((c, i) => new ClusterRuntime(c, pools, shared, tls[i] ?? []));
    this.routes = new RouteTable(snapshot, this.clusters);
    for (const route of this.routes.all()) route.chain = routeChain(route, filterStats);
    const jwt = snapshot.jwtRules === undefined ? null : { rules: snapshot.jwtRules, keys: jwks ?? new JwksStore() };
    this.inboundChain = inboundChain(jwt, createAuthzEvaluator(snapshot.authz ?? null), filterStats);
    this.inboundServiceSelected = workload !== null && selectedService(snapshot, workload) !== null;
    this.telemetry = effectiveTelemetry(snapshot.telemetry, workload);
    this.tcpRoutes = snapshot.listeners.map((l) => (l.tcpRoutes === undefined || l.traffic === undefined || l.traffic === 'http' ? null : new TcpRouteTable(l.tcpRoutes, this.clusters)));
    this.tcpAuthz = createAuthzEvaluator(tcpAuthzSpec(snapshot.authz ?? null));
    this.clusterIds = new Map(snapshot.clusters.map((c) => [c.name, c.id]));
  }

  /** The id of the cluster named `name` in this generation, or -1 (a long-lived connection's records follow its cluster across reloads). */
  clusterId(name: string): number {
    return this.clusterIds.get(name) ?? -1;
  }

  cluster(id: number): ClusterRuntime | null {
    return id >= 0 ? (this.clusters[id] ?? null) : null;
  }
}
