// Upstream TLS of an outbound cluster, Istio's merge: a matching top-level portLevelSettings entry
// replaces the rule's tls, a subset's tls replaces that, and the subset's matching port entry
// replaces it again; a port entry without tls means none (port-level settings do not inherit).
import type { Catalog } from '../catalog.js';
import type { PolicyTlsModel, TlsSettingsModel } from '../model.js';
import type { ClusterSpec, ClusterTlsSpec } from '../snapshot.js';

export function clusterTls(cat: Catalog, c: Pick<ClusterSpec, 'name' | 'host' | 'subset' | 'port'>): ClusterTlsSpec | null {
  if (!c.name.startsWith('outbound|')) return null;
  const dr = cat.destinationRules.get(c.host);
  if (dr === undefined) return null;
  const { top, subsets } = dr.model.tls;
  let tls = atPort(top, c.port, top.tls);
  const sub = c.subset !== null && Object.hasOwn(subsets, c.subset) ? subsets[c.subset] : undefined;
  if (sub !== undefined) tls = atPort(sub, c.port, sub.tls ?? tls);
  if (tls === null || tls.mode !== 'ISTIO_MUTUAL') return null;
  return { mode: 'ISTIO_MUTUAL', subjectAltNames: [...tls.subjectAltNames], sni: tls.sni };
}

function atPort(policy: PolicyTlsModel, port: number, otherwise: TlsSettingsModel | null): TlsSettingsModel | null {
  const entry = policy.ports.find((p) => p.port === port);
  return entry === undefined ? otherwise : entry.tls;
}
