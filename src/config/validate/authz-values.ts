// AuthorizationPolicy values → predicates: Istio's string forms (exact, `abc*`, `*abc`, `*`),
// principals (written without `spiffe://`), service accounts, IP blocks and ports, each checked
// and compiled once (CIDRs to masked words, hosts lower-cased).
import { compileCidr } from '../../filters/authz/ip.js';
import { SPIFFE_PREFIX } from '../identity.js';
import type { AuthzAttribute, AuthzPredicate, AuthzStringSpec } from '../security-spec.js';
import type { Checker, StringItem } from './checker.js';

/** Istio's matcher for a value: `*` present, `*abc` suffix, `abc*` prefix, otherwise exact. */
export function authzString(value: string): AuthzStringSpec {
  if (value === '*') return { kind: 'present', value: '' };
  if (value.startsWith('*')) return { kind: 'suffix', value: value.slice(1) };
  if (value.endsWith('*')) return { kind: 'prefix', value: value.slice(0, -1) };
  return { kind: 'exact', value };
}

export function predicate(attr: AuthzAttribute, not: boolean, header: string | null = null): AuthzPredicate {
  return { attr, header, not, strings: [], cidrs: [], ports: [] };
}

/**
 * Fills `p` from `values` (already read as non-empty strings) according to its attribute;
 * `policyNamespace` completes a bare service account name.
 */
export function fillPredicate(ck: Checker, p: AuthzPredicate, values: StringItem[], policyNamespace: string): void {
  for (const v of values) {
    switch (p.attr) {
      case 'sourceIp':
      case 'remoteIp': {
        const c = compileCidr(v.value);
        if (typeof c === 'string') ck.error(v.path, c);
        else p.cidrs.push(c);
        break;
      }
      case 'port': {
        const n = /^\d{1,5}$/.test(v.value) ? Number(v.value) : -1;
        if (n < 0 || n > 65535) ck.error(v.path, `bad port (${v.value}): must be a number in 0..65535`);
        else p.ports.push(n);
        break;
      }
      case 'serviceAccount':
        p.strings.push({ kind: 'exact', value: serviceAccount(ck, v, policyNamespace) });
        break;
      default:
        p.strings.push(stringValue(ck, p.attr, v));
    }
  }
}

function stringValue(ck: Checker, attr: AuthzAttribute, v: StringItem): AuthzStringSpec {
  let value = v.value;
  if (attr === 'principal' && value.startsWith(SPIFFE_PREFIX)) {
    ck.warn(v.path, `principals are written without "${SPIFFE_PREFIX}" (e.g. cluster.local/ns/default/sa/sleep); meshlet drops the prefix`);
    value = value.slice(SPIFFE_PREFIX.length);
  }
  if (attr === 'path' && /[{}]/.test(value)) {
    ck.error(v.path, `path templates ({*}, {**}) are not supported by meshlet: "${value}"`);
  }
  const inner = value.length > 1 ? value.slice(1, -1) : '';
  if (inner.includes('*')) ck.warn(v.path, `only a leading or trailing * is a wildcard; the * inside "${value}" is matched literally (as in Istio)`);
  const s = authzString(value);
  // Istio matches hosts case-insensitively: compare lower-cased on both sides
  return attr === 'host' ? { kind: s.kind, value: s.value.toLowerCase() } : s;
}

/** `ns/sa` or `sa` (the policy's namespace) → `ns/sa`; Istio forbids wildcards here. */
function serviceAccount(ck: Checker, v: StringItem, policyNamespace: string): string {
  const parts = v.value.split('/');
  if (v.value.includes('*')) ck.error(v.path, `wildcard not allowed in service accounts: "${v.value}"`);
  else if (parts.length > 2 || parts.some((x) => x === '')) {
    ck.error(v.path, `expected format 'serviceAccount' or 'namespace/serviceAccount', found "${v.value}"`);
  }
  return parts.length === 1 ? `${policyNamespace}/${v.value}` : v.value;
}
