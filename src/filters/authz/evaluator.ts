// Istio AuthorizationPolicy evaluation over the compiled Snapshot.authz, once per inbound request:
// any matching DENY policy denies; otherwise, when ALLOW policies exist, one must match; AUDIT
// policies are only reported. Attributes are derived lazily, at most once per request (peer
// address parsed into reused words, principal split in place), and nothing matches by regex.
import type { AuthzPredicate, AuthzSpec, CompiledPolicy } from '../../config/security-spec.js';
import type { AuthzAttributes } from './attributes.js';
import { cidrContains, parseIp } from './ip.js';
import { anyRegion, asciiLower, regionEquals } from './string-match.js';
import { claimAt } from '../jwt/auth.js';

export interface AuthzResult {
  allowed: boolean;
  /**
   * the policy that decided (`<namespace>/<name>`): the matching DENY or ALLOW policy; null when
   * allowed because no ALLOW policy exists, or denied because none of them matched
   */
  policy: string | null;
  /** the first AUDIT policy that matched (whatever the decision), or null */
  audit: string | null;
}

const SPIFFE = 'spiffe://';

export class AuthzEvaluator {
  private readonly spec: AuthzSpec;
  // per-evaluation caches, reset by evaluate()
  private req: AuthzAttributes | null = null;
  private ipFamily: -1 | 0 | 4 | 6 = -1;
  private readonly ip = new Uint32Array(4);
  private principalParsed = false;
  private idStart = 0;
  private nsStart = -1;
  private nsEnd = -1;
  private saStart = -1;
  private saEnd = -1;
  private host: string | null = null;

  constructor(spec: AuthzSpec) {
    this.spec = spec;
  }

  /** Decides one request; fills and returns `out` when given (no allocation), else a new result. */
  evaluate(req: AuthzAttributes, out: AuthzResult = { allowed: true, policy: null, audit: null }): AuthzResult {
    this.req = req;
    this.ipFamily = -1;
    this.principalParsed = false;
    this.host = null;
    const { deny, allow, audit } = this.spec;
    out.audit = this.firstMatch(audit);
    const denied = this.firstMatch(deny);
    if (denied !== null) {
      out.allowed = false;
      out.policy = denied;
    } else if (allow.length === 0) {
      out.allowed = true;
      out.policy = null;
    } else {
      out.policy = this.firstMatch(allow);
      out.allowed = out.policy !== null;
    }
    this.req = null;
    return out;
  }

  private firstMatch(policies: readonly CompiledPolicy[]): string | null {
    for (let i = 0; i < policies.length; i++) {
      const p = policies[i] as CompiledPolicy;
      if (this.policyMatches(p)) return p.name;
    }
    return null;
  }

  /** Any rule; a rule needs any `from` entry, any `to` entry and every `when` condition. */
  private policyMatches(p: CompiledPolicy): boolean {
    for (const r of p.rules) {
      if (r.from !== null && !this.anyAll(r.from)) continue;
      if (r.to !== null && !this.anyAll(r.to)) continue;
      if (this.all(r.when)) return true;
    }
    return false;
  }

  private anyAll(entries: readonly AuthzPredicate[][]): boolean {
    for (let i = 0; i < entries.length; i++) if (this.all(entries[i] as AuthzPredicate[])) return true;
    return false;
  }

  private all(preds: readonly AuthzPredicate[]): boolean {
    for (let i = 0; i < preds.length; i++) {
      const p = preds[i] as AuthzPredicate;
      if (this.hit(p) === p.not) return false;
    }
    return true;
  }

  /** Whether any value of `p` matches (before `not`); an absent attribute matches nothing. */
  private hit(p: AuthzPredicate): boolean {
    const req = this.req as AuthzAttributes;
    switch (p.attr) {
      case 'principal': {
        const s = req.principal;
        if (s === null) return false;
        this.parsePrincipal(s);
        return anyRegion(p.strings, s, this.idStart, s.length);
      }
      case 'namespace': {
        const s = req.principal;
        if (s === null) return false;
        this.parsePrincipal(s);
        return this.nsStart >= 0 && anyRegion(p.strings, s, this.nsStart, this.nsEnd);
      }
      case 'serviceAccount':
        return this.serviceAccountHit(p);
      case 'requestPrincipal': {
        const a = req.auth;
        return a !== null && anyRegion(p.strings, a.principal, 0, a.principal.length);
      }
      case 'requestAudience': {
        const a = req.auth;
        if (a === null) return false;
        for (const aud of a.audiences) if (anyRegion(p.strings, aud, 0, aud.length)) return true;
        return false;
      }
      case 'requestPresenter': {
        const a = req.auth;
        return a !== null && a.presenter !== '' && anyRegion(p.strings, a.presenter, 0, a.presenter.length);
      }
      case 'requestClaim':
        return req.auth !== null && claimHit(p, req.auth.claims);
      case 'sourceIp':
      case 'remoteIp': {
        // meshlet trusts no X-Forwarded-For (Istio's default numTrustedProxies 0): remote = peer
        if (this.ipFamily < 0) this.ipFamily = parseIp(req.sourceIp, this.ip);
        const family = this.ipFamily as 0 | 4 | 6;
        for (let i = 0; i < p.cidrs.length; i++) if (cidrContains(p.cidrs[i]!, family, this.ip)) return true;
        return false;
      }
      case 'host': {
        const h = (this.host ??= asciiLower(req.host));
        return anyRegion(p.strings, h, 0, h.length);
      }
      case 'method':
        return anyRegion(p.strings, req.method, 0, req.method.length);
      case 'path':
        return anyRegion(p.strings, req.path, 0, req.path.length);
      case 'port':
        return p.ports.includes(req.port);
      case 'header': {
        const v = req.headerValue(p.header as string);
        return v !== null && anyRegion(p.strings, v, 0, v.length);
      }
    }
  }

  /** Values `ns/sa` against the principal's `/ns/<ns>/sa/<sa>`. */
  private serviceAccountHit(p: AuthzPredicate): boolean {
    const s = (this.req as AuthzAttributes).principal;
    if (s === null) return false;
    this.parsePrincipal(s);
    if (this.saStart < 0) return false;
    const nsLen = this.nsEnd - this.nsStart;
    const saLen = this.saEnd - this.saStart;
    for (const m of p.strings) {
      const v = m.value;
      if (v.length !== nsLen + 1 + saLen || v.charCodeAt(nsLen) !== 47) continue;
      if (regionEquals(v, 0, s, this.nsStart, nsLen) && regionEquals(v, nsLen + 1, s, this.saStart, saLen)) return true;
    }
    return false;
  }

  /** `[spiffe://]<td>/ns/<ns>/sa/<sa>`: offsets of the identity, namespace and service account. */
  private parsePrincipal(s: string): void {
    if (this.principalParsed) return;
    this.principalParsed = true;
    this.idStart = s.startsWith(SPIFFE) ? SPIFFE.length : 0;
    this.nsStart = this.nsEnd = this.saStart = this.saEnd = -1;
    const ns = s.indexOf('/ns/', this.idStart);
    if (ns < 0) return;
    this.nsStart = ns + 4;
    const slash = s.indexOf('/', this.nsStart);
    this.nsEnd = slash < 0 ? s.length : slash;
    if (slash >= 0 && s.startsWith('/sa/', slash)) {
      this.saStart = slash + 4;
      const end = s.indexOf('/', this.saStart);
      this.saEnd = end < 0 ? s.length : end;
    }
  }
}

/** A claim that is a string, or a list holding a string, matching one of the values (Istio: string and list claims). */
function claimHit(p: AuthzPredicate, claims: Readonly<Record<string, unknown>>): boolean {
  const v = claimAt(claims, p.claim ?? []);
  if (typeof v === 'string') return anyRegion(p.strings, v, 0, v.length);
  if (Array.isArray(v)) {
    for (const x of v) if (typeof x === 'string' && anyRegion(p.strings, x, 0, x.length)) return true;
  }
  return false;
}

/** The evaluator for a snapshot's authz (built once per generation); null when there is nothing to check. */
export function createAuthzEvaluator(spec: AuthzSpec | null): AuthzEvaluator | null {
  return spec === null ? null : new AuthzEvaluator(spec);
}
