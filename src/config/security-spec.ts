// Snapshot shapes for mesh security: the inbound mTLS mode, compiled AuthorizationPolicies and
// upstream (DestinationRule) TLS. Plain data only (posted to workers), numeric where the request
// path compares: CIDRs as masked 32-bit words, ports as numbers, header names lower-cased.

/** PeerAuthentication result for one listener (outbound listeners: always DISABLE). */
export type MtlsMode = 'DISABLE' | 'PERMISSIVE' | 'STRICT';

export type AuthzAction = 'ALLOW' | 'DENY' | 'AUDIT';

/** Istio's string forms: `abc` exact, `abc*` prefix, `*abc` suffix, `*` present (any value). */
export interface AuthzStringSpec {
  kind: 'exact' | 'prefix' | 'suffix' | 'present';
  value: string;
}

/**
 * An IP block: `words` are the address as 32-bit unsigned words already masked (1 for IPv4,
 * 4 for IPv6, most significant first), `masks` the matching per-word masks. A single IP is /32 or /128.
 */
export interface CidrSpec {
  v6: boolean;
  words: number[];
  masks: number[];
  /** as written, for config_dump and logs */
  text: string;
}

/** What a predicate reads from the request (see src/filters/authz/attributes.ts). */
export type AuthzAttribute =
  | 'principal' | 'namespace' | 'serviceAccount' | 'requestPrincipal' | 'sourceIp' | 'remoteIp'
  | 'host' | 'method' | 'path' | 'port' | 'header'
  | 'requestAudience' | 'requestPresenter' | 'requestClaim';

/**
 * One condition: the attribute matches any of the values (OR); `not` inverts it (Istio `notX`,
 * `notValues`: none may match). Exactly one of strings / cidrs / ports is used, by attribute.
 */
export interface AuthzPredicate {
  attr: AuthzAttribute;
  /** lower-case header name for attr 'header', else null */
  header: string | null;
  /** the claim's path for attr 'requestClaim' (`request.auth.claims[a][b]` → ['a', 'b']); absent otherwise */
  claim?: string[];
  not: boolean;
  strings: AuthzStringSpec[];
  cidrs: CidrSpec[];
  ports: number[];
}

/** Istio rule: any `from` entry (each an AND of predicates), any `to` entry, and every `when`. */
export interface AuthzRuleSpec {
  /** null: no `from` (any source) */
  from: AuthzPredicate[][] | null;
  /** null: no `to` (any operation) */
  to: AuthzPredicate[][] | null;
  when: AuthzPredicate[];
}

export interface CompiledPolicy {
  /** `<namespace>/<name>`, reported as the deciding policy */
  name: string;
  /** empty: matches nothing (a policy without `rules`); `[{}]` compiles to one rule matching everything */
  rules: AuthzRuleSpec[];
}

/** Null in the snapshot when no AuthorizationPolicy applies, so the request path skips authz. */
export interface AuthzSpec {
  deny: CompiledPolicy[];
  allow: CompiledPolicy[];
  audit: CompiledPolicy[];
}

/** Where a JWT is read from: a header (with its value prefix, e.g. "Bearer "), a query parameter or a cookie. */
export type JwtLocation =
  | { kind: 'header'; name: string; prefix: string }
  | { kind: 'param'; name: string }
  | { kind: 'cookie'; name: string };

/** One RequestAuthentication jwtRule, Istio's defaults applied. */
export interface JwtRuleSpec {
  /** `<namespace>/<name>` of the RequestAuthentication */
  source: string;
  issuer: string;
  /** empty: the audience is not checked */
  audiences: string[];
  /** where the keys come from: a jwksUri, `discovery:<issuer>` (OpenID discovery), or null with inline `jwks` */
  jwksUri: string | null;
  /** inline JWKS (JSON text), already checked */
  jwks: string | null;
  /** Istio's default when none is given: header Authorization with prefix "Bearer ", and query parameter access_token */
  locations: JwtLocation[];
  forwardOriginalToken: boolean;
  outputPayloadToHeader: string | null;
  outputClaimToHeaders: { header: string; claim: string }[];
  /** how long a JWKS fetch may take */
  timeoutMs: number;
}

/** DestinationRule trafficPolicy.tls in effect for a cluster; only ISTIO_MUTUAL is originated. */
export interface ClusterTlsSpec {
  mode: 'ISTIO_MUTUAL';
  /** identities the upstream certificate must carry (DestinationRule subjectAltNames); empty: the endpoints' serviceAccount */
  subjectAltNames: string[];
  sni: string | null;
}
