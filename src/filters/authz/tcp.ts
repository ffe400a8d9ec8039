// AuthorizationPolicy for connections that carry no HTTP (TCP listeners), as Istio builds it for
// its TCP filter chains: attributes only HTTP has (hosts, methods, paths, request principals,
// request headers) cannot match. An ALLOW rule using one of them is dropped (it never matches);
// in a DENY or AUDIT rule those conditions are dropped and the rest decides, so such a rule denies
// more, never less (istio.io "Authorization for TCP traffic").
import type { AuthzAttribute, AuthzPredicate, AuthzRuleSpec, AuthzSpec, CompiledPolicy } from '../../config/security-spec.js';

const HTTP_ONLY: ReadonlySet<AuthzAttribute> = new Set<AuthzAttribute>(['host', 'method', 'path', 'header', 'requestPrincipal']);

function httpOnly(p: AuthzPredicate): boolean {
  return HTTP_ONLY.has(p.attr);
}

function usesHttp(r: AuthzRuleSpec): boolean {
  const entries = (list: AuthzPredicate[][] | null): boolean => list !== null && list.some((e) => e.some(httpOnly));
  return entries(r.from) || entries(r.to) || r.when.some(httpOnly);
}

function withoutHttp(r: AuthzRuleSpec): AuthzRuleSpec {
  const strip = (list: AuthzPredicate[][] | null): AuthzPredicate[][] | null => list?.map((e) => e.filter((p) => !httpOnly(p))) ?? null;
  return { from: strip(r.from), to: strip(r.to), when: r.when.filter((p) => !httpOnly(p)) };
}

/** The policies as they apply to a TCP connection (see above); null when there is nothing to check. */
export function tcpAuthzSpec(spec: AuthzSpec | null): AuthzSpec | null {
  if (spec === null) return null;
  const allow = spec.allow.map((p): CompiledPolicy => ({ name: p.name, rules: p.rules.filter((r) => !usesHttp(r)) }));
  const stripped = (p: CompiledPolicy): CompiledPolicy => ({ name: p.name, rules: p.rules.map(withoutHttp) });
  return { deny: spec.deny.map(stripped), allow, audit: spec.audit.map(stripped) };
}
