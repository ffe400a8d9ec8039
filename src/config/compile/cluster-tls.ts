// Upstream TLS of an outbound cluster, Istio's merge: a matching top-level portLevelSettings entry
// replaces the rule's tls, a subset's tls replaces that, and the subset's matching port entry
// replaces it again; a port entry without tls means none (port-level settings do not inherit).
// Without any tls setting, auto mTLS decides per endpoint (src/tls/outbound/client-tls.ts).
import type { Catalog } from '../catalog.js';
import type { PolicyTlsModel, TlsSettingsModel } from '../model.js';
import type { ClusterSpec, ClusterTlsSpec } from '../snapshot.js';

export function clusterTls(cat: Catalog, c: Pick<ClusterSpec, 'name' | 'host' | 'subset' | 'port'>): ClusterTlsSpec | null {
  const tls = tlsSetting(cat, c);
  if (tls === null || tls.mode !== 'ISTIO_MUTUAL') return null;
  return { mode: 'ISTIO_MUTUAL', subjectAltNames: [...tls.subjectAltNames], sni: tls.sni };
}

/** Istio's auto mTLS applies to an outbound cluster when no DestinationRule tls (of any mode, DISABLE included) applies to it. */
export function autoMtls(cat: Catalog, c: Pick<ClusterSpec, 'name' | 'host' | 'subset' | 'port'>): boolean {
  return c.name.startsWith('outbound|') && tlsSetting(cat, c) === null;
}

function tlsSetting(cat: Catalog, c: Pick<ClusterSpec, 'name' | 'host' | 'subset' | 'port'>): TlsSettingsModel | null {
  if (!c.name.startsWith('outbound|')) return null;
  const dr = cat.destinationRules.get(c.host);
  if (dr === undefined) return null;
  const { top, subsets } = dr.model.tls;
  let tls = atPort(top, c.port, top.tls);
  const sub = c.subset !== null && Object.hasOwn(subsets, c.subset) ? subsets[c.subset] : undefined;
  if (sub !== undefined) tls = atPort(sub, c.port, sub.tls ?? tls);
  return tls;
}

function atPort(policy: PolicyTlsModel, port: number, otherwise: TlsSettingsModel | null): TlsSettingsModel | null {
  const entry = policy.ports.find((p) => p.port === port);
  return entry === undefined ? otherwise : entry.tls;
}
