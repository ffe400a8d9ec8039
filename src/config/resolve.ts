// From a route destination (host, subset, port as written in some namespace) to what serves it:
// the ServiceEntries for the host, the DestinationRule subset and LB policy, the port, and the
// endpoints. Validation uses it to warn about dangling references; compilation to build clusters.
import type { Catalog } from './catalog.js';
import { hostKey } from './hosts.js';
import { MESH_IDENTITY_ANNOTATION, spiffeId } from './identity.js';
import type { Parsed, ServiceEntryModel, SubsetModel, TrafficPolicyModel, WorkloadModel } from './model.js';
import type { EndpointSpec } from './snapshot.js';
import { effectivePolicy, type EffectivePolicy } from './traffic-policy.js';

/** Port used when neither the destination nor the ServiceEntry names one (plain HTTP). */
export const DEFAULT_SERVICE_PORT = 80;

export interface Resolved {
  ok: true;
  key: string;
  subset: SubsetModel | null;
  port: number;
  policy: EffectivePolicy;
  entries: Parsed<ServiceEntryModel>[];
}

export interface Unresolved {
  ok: false;
  field: 'host' | 'subset' | 'port';
  reason: string;
}

export function resolveDestination(
  cat: Catalog, namespace: string, host: string, subset: string | null, port: number | null,
): Resolved | Unresolved {
  const key = hostKey(host, namespace);
  const entries = cat.serviceEntriesByHost.get(key) ?? [];
  if (entries.length === 0) return { ok: false, field: 'host', reason: `no ServiceEntry for host ${host}` };
  const dr = cat.destinationRules.get(key);
  const s = subset === null ? null : dr?.model.subsets.find((x) => x.name === subset);
  if (s === undefined) return { ok: false, field: 'subset', reason: `subset ${subset} is not defined by any DestinationRule for host ${host}` };
  const declared = entries.flatMap((e) => e.model.ports.map((p) => p.number));
  if (port !== null && declared.length > 0 && !declared.includes(port)) {
    return { ok: false, field: 'port', reason: `port ${port} is not a port of the ServiceEntry for host ${host}` };
  }
  const resolvedPort = port ?? declared[0] ?? DEFAULT_SERVICE_PORT;
  const levels: (TrafficPolicyModel | null)[] = [dr?.model.policy ?? null, s?.policy ?? null];
  return { ok: true, key, subset: s, port: resolvedPort, policy: effectivePolicy(levels, resolvedPort, dr?.model.peakEwma ?? false), entries };
}

/** Endpoints of a resolved destination: every ServiceEntry's workloads, filtered by the subset labels. */
export function endpointsOf(cat: Catalog, r: Resolved): EndpointSpec[] {
  const out: EndpointSpec[] = [];
  for (const se of r.entries) {
    const sePort = se.model.ports.find((p) => p.number === r.port);
    if (se.model.ports.length > 0 && sePort === undefined) continue;
    for (const [w, source, identity] of workloadsOf(cat, se, r.key)) {
      if (r.subset !== null && !hasLabels(w.labels, r.subset.labels)) continue;
      const named = sePort?.name == null ? undefined : w.ports[sePort.name];
      const serviceAccount = w.serviceAccount === null ? null : spiffeId(se.res.namespace, w.serviceAccount);
      out.push({
        address: w.address, port: named ?? sePort?.targetPort ?? r.port, labels: w.labels, weight: w.weight, source, slot: -1, serviceAccount,
        meshIdentity: identity, network: w.network ?? null, locality: w.locality ?? null,
      });
    }
  }
  return out;
}

/**
 * [workload, source, mesh identity]. Istio's workloadSelector: the WorkloadEntries of the
 * ServiceEntry's namespace whose labels include the selector's (registered ones included: they
 * come from the store as WorkloadEntries and carry the identity they serve with).
 */
function workloadsOf(cat: Catalog, se: Parsed<ServiceEntryModel>, key: string): [WorkloadModel, string, string | null][] {
  const ns = se.res.namespace;
  const { selector, endpoints, resolution, hosts } = se.model;
  if (selector !== null) {
    return cat.workloadEntries
      .filter((we) => we.res.namespace === ns && hasLabels(we.model.labels, selector))
      .map((we) => [we.model, `WorkloadEntry/${ns}/${we.res.name}`, we.res.annotations?.[MESH_IDENTITY_ANNOTATION] ?? null]);
  }
  if (endpoints.length > 0) return endpoints.map((w, i) => [w, `ServiceEntry/${ns}/${se.res.name}#${i}`, null]);
  // Istio: DNS resolution without endpoints resolves the host name itself.
  const host = hosts.find((h) => hostKey(h, ns) === key);
  if ((resolution === 'DNS' || resolution === 'DNS_ROUND_ROBIN') && host !== undefined && !host.startsWith('*')) {
    return [[{ address: host.toLowerCase(), ports: {}, labels: {}, weight: 1, serviceAccount: null }, `ServiceEntry/${ns}/${se.res.name}#${host}`, null]];
  }
  return [];
}

/** Every `want` label present with the same value in `have`. */
export function hasLabels(have: Record<string, string>, want: Record<string, string>): boolean {
  return Object.entries(want).every(([k, v]) => have[k] === v);
}
