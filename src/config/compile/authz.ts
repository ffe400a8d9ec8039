// Snapshot.authz: every AuthorizationPolicy that applies (targetRef and CUSTOM ones excluded), by
// action, in file order. Null when there is none, so the request path skips authz entirely.
import type { Catalog } from '../catalog.js';
import type { AuthzSpec } from '../snapshot.js';

export function compileAuthz(cat: Catalog): AuthzSpec | null {
  const spec: AuthzSpec = { deny: [], allow: [], audit: [] };
  for (const { model } of cat.authorizationPolicies) {
    if (model.action === 'DENY') spec.deny.push(model.policy);
    else if (model.action === 'ALLOW') spec.allow.push(model.policy);
    else if (model.action === 'AUDIT') spec.audit.push(model.policy);
  }
  return spec.deny.length + spec.allow.length + spec.audit.length === 0 ? null : spec;
}
