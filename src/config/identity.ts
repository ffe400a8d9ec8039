// Workload identity names: SPIFFE IDs `spiffe://<trust domain>/ns/<namespace>/sa/<service account>`
// and Istio's principal form (the same without `spiffe://`), as AuthorizationPolicy writes them.

/** Istio's default trust domain (meshlet has no MeshConfig to change it). */
export const TRUST_DOMAIN = 'cluster.local';
export const SPIFFE_PREFIX = 'spiffe://';
/** Set by a sidecar on the WorkloadEntry it registers: the SPIFFE ID it serves with (auto mTLS verifies it). */
export const MESH_IDENTITY_ANNOTATION = 'meshlet.io/spiffe-id';
/** Istio's root namespace: policies there without a selector apply mesh-wide. */
export const ROOT_NAMESPACE = 'istio-system';

export function spiffeId(namespace: string, serviceAccount: string, trustDomain = TRUST_DOMAIN): string {
  return `${SPIFFE_PREFIX}${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

/** `spiffe://td/ns/x/sa/y` → `td/ns/x/sa/y` (AuthorizationPolicy principal form); other strings unchanged. */
export function principalOf(id: string): string {
  return id.startsWith(SPIFFE_PREFIX) ? id.slice(SPIFFE_PREFIX.length) : id;
}
