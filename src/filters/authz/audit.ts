// The FilterStats name of AUDIT matches, shared by the filter (workers) and the stats service
// (control thread), which must not load the filter chain (and jose with it) for a constant.
/** FilterStats rows of AUDIT matches, by policy (exported as meshlet_authz_audit_total, not meshlet_http_filter_total) */
export const AUDIT_FILTER = 'authz_audit';
