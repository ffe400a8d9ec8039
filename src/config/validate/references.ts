// References between resources that may be satisfied by a later apply: warnings, not errors.
// Uses the same resolution as the compiler, so a warning here means a 503 at request time.
import type { Catalog } from '../catalog.js';
import { hostKey } from '../hosts.js';
import { endpointsOf, resolveDestination } from '../resolve.js';

const FIELD_PATH = { host: 'host', subset: 'subset', port: 'port.number' } as const;

export function checkReferences(cat: Catalog): void {
  for (const { vs } of cat.virtualServices) {
    for (const rule of vs.model.http) {
      for (const d of rule.route ?? []) {
        const r = resolveDestination(cat, vs.res.namespace, d.host, d.subset, d.port);
        if (!r.ok) {
          vs.ck.warn(`${d.path}.destination.${FIELD_PATH[r.field]}`, `${r.reason}; requests routed here fail with 503 (NC) until it exists`);
        } else if (endpointsOf(cat, r).length === 0) {
          const what = d.subset === null ? `host ${d.host}` : `subset ${d.subset} of host ${d.host}`;
          vs.ck.warn(`${d.path}.destination`, `${what} has no endpoints on port ${r.port}; requests routed here fail with 503 (UH)`);
        }
      }
    }
  }
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
