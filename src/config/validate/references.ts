// References between resources that may be satisfied by a later apply: warnings, not errors.
// Uses the same resolution as the compiler, so a warning here means a 503 at request time (or,
// for a mirror destination, no mirrored copy).
import type { Catalog } from '../catalog.js';
import { hostKey } from '../hosts.js';
import type { DestinationModel, Parsed, VirtualServiceModel } from '../model.js';
import { endpointsOf, resolveDestination } from '../resolve.js';
import { planTcpRoutes } from '../compile/tcp-plan.js';

const FIELD_PATH = { host: 'host', subset: 'subset', port: 'port.number' } as const;

/** What a dangling destination means at request time: [unresolved, no endpoints]. */
const ROUTED = ['requests routed here fail with 503 (NC) until it exists', 'requests routed here fail with 503 (UH)'] as const;
const MIRRORED = ['no request is mirrored here until it exists', 'mirrored copies are dropped'] as const;
const CONNECTED = ['connections routed here are closed (NC) until it exists', 'connections routed here are closed (UH)'] as const;

/**
 * TCP and TLS listeners: one without any route closes every connection; on a TCP listener only the
 * first route is ever used; a tcp/tls rule no listener takes has no effect.
 */
function checkL4Listeners(cat: Catalog): void {
  const used = new Set<unknown>();
  for (const l of cat.listeners) {
    const plans = planTcpRoutes(cat, l);
    for (const p of plans) if (p.rule !== null) used.add(p.rule.rule);
    if (l.direction !== 'outbound' || l.traffic === 'http') continue;
    if (plans.length === 0 && l.traffic !== 'auto') {
      l.ck?.warn(`${l.path}.port`, `no ServiceEntry host reachable through this listener's hosts declares port ${l.port}, and no VirtualService ${l.traffic} rule takes it: its connections are closed (NR)`);
      continue;
    }
    if (l.traffic !== 'tcp' && l.traffic !== 'auto') continue;
    const [first, ...rest] = plans;
    for (const p of rest) {
      const why = `TCP port ${l.port} sends every connection to ${first?.source} (${first?.name}): this route never takes one (a connection carries no name to tell them apart)`;
      if (p.rule !== null) p.rule.owned.vs.ck.warn(p.rule.rule.path, why);
      else p.service?.se.ck.warn('spec.ports', why);
    }
  }
  for (const { vs } of cat.virtualServices) {
    for (const rule of vs.model.tcp) if (!used.has(rule)) vs.ck.warn(rule.path, 'no TCP listener takes this rule (a Sidecar egress port with protocol TCP on a port of its hosts, or on its match port): no effect');
    for (const rule of vs.model.tls) if (!used.has(rule)) vs.ck.warn(rule.path, 'no TLS listener takes this rule (a Sidecar egress port with protocol TLS on its match port): no effect');
  }
}

export function checkReferences(cat: Catalog): void {
  for (const { vs } of cat.virtualServices) {
    for (const rule of vs.model.http) {
      for (const d of rule.route ?? []) checkDestination(cat, vs, d, `${d.path}.destination`, ROUTED);
      for (const m of rule.mirrors) checkDestination(cat, vs, m, m.path, MIRRORED);
    }
    for (const rule of [...vs.model.tcp, ...vs.model.tls]) {
      for (const d of rule.route) checkDestination(cat, vs, d, `${d.path}.destination`, CONNECTED);
    }
  }
  checkL4Listeners(cat);
  for (const dr of cat.allDestinationRules) {
    const { host, subsets } = dr.model;
    if (host === '') continue;
    const key = hostKey(host, dr.res.namespace);
    if (!cat.serviceEntriesByHost.has(key)) {
      dr.ck.warn('spec.host', `no ServiceEntry for host ${host}; this rule has no effect until one exists`);
      continue;
    }
    if (cat.destinationRules.get(key) !== dr) continue;
    for (const s of subsets) {
      const r = resolveDestination(cat, dr.res.namespace, host, s.name, null);
      if (r.ok && endpointsOf(cat, r).length === 0) dr.ck.warn(`${s.path}.labels`, `subset ${s.name} selects no endpoints of host ${host}`);
    }
  }
}

/** Warns when the destination block at `path` resolves to nothing, or to a cluster without endpoints. */
function checkDestination(
  cat: Catalog, vs: Parsed<VirtualServiceModel>, d: Pick<DestinationModel, 'host' | 'subset' | 'port'>, path: string,
  effect: readonly [string, string],
): void {
  const r = resolveDestination(cat, vs.res.namespace, d.host, d.subset, d.port);
  if (!r.ok) {
    vs.ck.warn(`${path}.${FIELD_PATH[r.field]}`, `${r.reason}; ${effect[0]}`);
  } else if (endpointsOf(cat, r).length === 0) {
    const what = d.subset === null ? `host ${d.host}` : `subset ${d.subset} of host ${d.host}`;
    vs.ck.warn(path, `${what} has no endpoints on port ${r.port}; ${effect[1]}`);
  }
}
