// TcpRouteSpecs of an outbound TCP / TLS listener from its route plans (tcp-plan.ts): each route's
// destinations resolved to clusters. A destination without a port takes the listener's port when
// its service declares it (Istio: the port may be omitted when it is unambiguous).
import type { Catalog } from '../catalog.js';
import { hostKey } from '../hosts.js';
import type { PlannedListener } from '../listeners.js';
import type { TcpRouteSpec, WeightedDestinationSpec } from '../snapshot.js';
import type { ClusterTable } from './clusters.js';
import { planTcpRoutes } from './tcp-plan.js';

export function compileTcpRoutes(cat: Catalog, clusters: ClusterTable, l: PlannedListener): TcpRouteSpec[] {
  return planTcpRoutes(cat, l).map((plan): TcpRouteSpec => {
    let destinations: WeightedDestinationSpec[];
    if (plan.rule !== null) {
      const ns = plan.rule.owned.vs.res.namespace;
      destinations = plan.rule.rule.route.map((d) => ({
        ...clusters.outbound(ns, d.host, d.subset, d.port ?? portFor(cat, ns, d.host, l.port)),
        weight: d.weight, host: d.host, subset: d.subset, headers: null,
      }));
    } else {
      const s = plan.service as NonNullable<typeof plan.service>;
      destinations = [{ ...clusters.outbound(s.se.res.namespace, s.host, null, l.port), weight: 100, host: s.host, subset: null, headers: null }];
    }
    return { name: plan.name, source: plan.source, sniHosts: plan.sniHosts, destinations, totalWeight: destinations.reduce((n, d) => n + d.weight, 0) };
  });
}

/** The listener's port when the destination's service declares it, else null (its first port). */
function portFor(cat: Catalog, ns: string, host: string, port: number): number | null {
  const entries = cat.serviceEntriesByHost.get(hostKey(host, ns)) ?? [];
  return entries.some((e) => e.model.ports.some((p) => p.number === port)) ? port : null;
}
