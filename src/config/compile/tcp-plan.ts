// The routes of an outbound TCP or TLS listener (port P), planned from the catalog:
//   TCP: VirtualService `tcp[]` rules that take port P (a match entry with `port: P`, or — without
//        a port — a rule of a VirtualService whose host is one of the listener's services), then
//        each service's default route (host:P). A connection carries no name, so the first route
//        takes every connection: more than one applying is warned about.
//   TLS: VirtualService `tls[]` rules whose match entries take port P (their sniHosts), then each
//        service not routed by a `tls[]` rule gets a default route for its own names.
// The listener's services are the ServiceEntry hosts that declare port P and that the Sidecar
// listener's egress `hosts` (`namespace/host`) let it reach. Validation calls this for its
// warnings (references.ts); compilation turns the plans into TcpRouteSpecs (tcp-routes.ts).
import type { Catalog, OwnedVirtualService } from '../catalog.js';
import { hostAliases, hostCovers, hostKey } from '../hosts.js';
import type { PlannedListener } from '../listeners.js';
import type { L4RuleModel, Parsed, ServiceEntryModel } from '../model.js';

export interface L4Service {
  se: Parsed<ServiceEntryModel>;
  /** host as written in the ServiceEntry */
  host: string;
  key: string;
}

export interface TcpRoutePlan {
  name: string;
  source: string;
  sniHosts: string[];
  /** a VirtualService rule (its destinations), or null for a service's default route */
  rule: { owned: OwnedVirtualService; rule: L4RuleModel } | null;
  /** the default route's service */
  service: L4Service | null;
}

/** The listener's services (see above), in catalog order. */
export function listenerServices(cat: Catalog, l: PlannedListener): L4Service[] {
  const out: L4Service[] = [];
  const seen = new Set<string>();
  for (const se of cat.serviceEntries) {
    if (!se.model.ports.some((p) => p.number === l.port)) continue;
    const ns = se.res.namespace;
    for (const host of se.model.hosts) {
      const key = hostKey(host, ns);
      if (seen.has(key) || !egressAllows(l, ns, key)) continue;
      seen.add(key);
      out.push({ se, host, key });
    }
  }
  return out;
}

/** Sidecar egress `hosts`: `*` / `.` (the Sidecar's namespace) / `~` (none) / a namespace, then `*`, a name or `*.suffix`. */
function egressAllows(l: PlannedListener, ns: string, key: string): boolean {
  for (const entry of l.hosts) {
    const slash = entry.indexOf('/');
    const want = entry.slice(0, slash);
    if (want === '~') continue;
    if (want !== '*' && (want === '.' ? l.namespace : want) !== ns) continue;
    const host = entry.slice(slash + 1);
    if (host === '*' || hostCovers(hostKey(host, ns), key)) return true;
  }
  return false;
}

export function planTcpRoutes(cat: Catalog, l: PlannedListener): TcpRoutePlan[] {
  if (l.direction !== 'outbound' || l.traffic === 'http') return [];
  const services = listenerServices(cat, l);
  return l.traffic === 'tls' ? planTls(cat, l, services) : planTcp(cat, l, services);
}

function planTcp(cat: Catalog, l: PlannedListener, services: L4Service[]): TcpRoutePlan[] {
  const plans: TcpRoutePlan[] = [];
  const routed = new Set<string>();
  for (const owned of cat.virtualServices) {
    const { vs } = owned;
    const mine = services.filter((s) => vs.model.hosts.some((h) => hostCovers(hostKey(h.value, vs.res.namespace), s.key)));
    vs.model.tcp.forEach((rule, i) => {
      const byHost = mine.length > 0;
      const takes = rule.matches.length === 0 ? byHost : rule.matches.some((m) => m.port === l.port || (m.port === 0 && byHost));
      if (!takes) return;
      for (const s of mine) routed.add(s.key);
      plans.push({ name: `${vs.res.name}.tcp.${i}`, source: `VirtualService/${vs.res.namespace}/${vs.res.name}`, sniHosts: [], rule: { owned, rule }, service: null });
    });
  }
  for (const s of services) {
    if (routed.has(s.key)) continue;
    plans.push({ name: 'default', source: `ServiceEntry/${s.se.res.namespace}/${s.se.res.name}`, sniHosts: [], rule: null, service: s });
  }
  return plans;
}

function planTls(cat: Catalog, l: PlannedListener, services: L4Service[]): TcpRoutePlan[] {
  const plans: TcpRoutePlan[] = [];
  const routed = new Set<string>();
  for (const owned of cat.virtualServices) {
    const { vs } = owned;
    vs.model.tls.forEach((rule, i) => {
      const sni = new Set<string>();
      for (const m of rule.matches) if (m.port === 0 || m.port === l.port) for (const h of m.sniHosts) sni.add(h);
      if (sni.size === 0) return;
      for (const s of services) if (vs.model.hosts.some((h) => hostCovers(hostKey(h.value, vs.res.namespace), s.key))) routed.add(s.key);
      plans.push({ name: `${vs.res.name}.tls.${i}`, source: `VirtualService/${vs.res.namespace}/${vs.res.name}`, sniHosts: [...sni], rule: { owned, rule }, service: null });
    });
  }
  for (const s of services) {
    if (routed.has(s.key)) continue;
    const names = new Set([...hostAliases(s.host, s.se.res.namespace), s.key]);
    plans.push({ name: 'default', source: `ServiceEntry/${s.se.res.namespace}/${s.se.res.name}`, sniHosts: [...names], rule: null, service: s });
  }
  return plans;
}
