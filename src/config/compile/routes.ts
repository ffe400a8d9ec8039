// Virtual hosts: one per VirtualService (its rules in order, first match wins), then one per
// ServiceEntry host no VirtualService host covers (exactly or by wildcard), with a single
// catch-all route named `default` (with Istio's default retry policy, as Istio's default routes).
import type { Catalog, OwnedVirtualService } from '../catalog.js';
import { hostAliases, hostCovers, hostKey } from '../hosts.js';
import type { HttpRuleModel } from '../model.js';
import type { MirrorSpec, RouteSpec, VirtualHostSpec, WeightedDestinationSpec } from '../snapshot.js';
import { defaultRetries } from '../validate/http-retries.js';
import type { ClusterTable } from './clusters.js';

export function compileVirtualHosts(cat: Catalog, clusters: ClusterTable): VirtualHostSpec[] {
  const out: VirtualHostSpec[] = [];
  for (const owned of cat.virtualServices) {
    if (owned.names.length > 0) out.push({ hosts: owned.names, routes: owned.vs.model.http.map((r, i) => compileRule(owned, r, i, clusters)) });
  }
  const routed = [...cat.routedKeys];
  const done = new Set<string>();
  for (const se of cat.serviceEntries) {
    const ns = se.res.namespace;
    for (const host of se.model.hosts) {
      const key = hostKey(host, ns);
      if (done.has(key) || routed.some((p) => hostCovers(p, key))) continue;
      done.add(key);
      const names = hostAliases(host, ns).filter((n) => !cat.claimedNames.has(n));
      if (names.length === 0) continue;
      const dest: WeightedDestinationSpec = { ...clusters.outbound(ns, host, null, null), weight: 100, host, subset: null, headers: null };
      out.push({ hosts: names, routes: [defaultRoute(`ServiceEntry/${ns}/${se.res.name}`, dest)] });
    }
  }
  return out;
}

function compileRule(owned: OwnedVirtualService, rule: HttpRuleModel, index: number, clusters: ClusterTable): RouteSpec {
  const { res } = owned.vs;
  const destinations = rule.route?.map((d): WeightedDestinationSpec => ({
    ...clusters.outbound(res.namespace, d.host, d.subset, d.port),
    weight: d.weight,
    host: d.host,
    subset: d.subset,
    headers: d.headers,
  })) ?? null;
  const mirrors = rule.mirrors.map((m): MirrorSpec => ({
    ...clusters.outbound(res.namespace, m.host, m.subset, m.port),
    host: m.host,
    subset: m.subset,
    percent: m.percent,
  }));
  return {
    name: rule.name ?? `${res.name}.${index}`,
    source: `VirtualService/${res.namespace}/${res.name}`,
    matches: rule.matches,
    destinations,
    totalWeight: destinations?.reduce((s, d) => s + d.weight, 0) ?? 0,
    redirect: rule.redirect,
    directResponse: rule.directResponse,
    rewrite: rule.rewrite,
    requestHeaders: rule.requestHeaders,
    responseHeaders: rule.responseHeaders,
    timeoutMs: rule.timeoutMs,
    retries: rule.retries,
    fault: rule.fault,
    mirrors,
  };
}

function defaultRoute(source: string, dest: WeightedDestinationSpec): RouteSpec {
  return {
    name: 'default',
    source,
    matches: [],
    destinations: [dest],
    totalWeight: dest.weight,
    redirect: null,
    directResponse: null,
    rewrite: null,
    requestHeaders: null,
    responseHeaders: null,
    timeoutMs: 0,
    retries: defaultRetries(),
    fault: null,
    mirrors: [],
  };
}
