// RequestAuthentication as the first filter of the inbound chain (Envoy's jwt_authn, as Istio
// configures it: every jwtRule a provider, "requires any, allow missing"). A request without a
// token passes (an AuthorizationPolicy must require one); a token that is present must verify
// against a rule of its issuer read from that location, or the request gets 401 with Envoy's
// reason. A verified token gives the request its principal, audiences, presenter and claims
// (request.auth.*), is removed unless forwardOriginalToken, and fills outputPayloadToHeader /
// outputClaimToHeaders (client-sent copies of those headers are always removed).
// Verification is asynchronous (WebCrypto): the filter answers WAIT and resumes the chain; a token
// verified before is served from a per-worker cache synchronously (its exp/nbf re-checked).
import { jwtRejected, internalError } from '../../http/errors.js';
import { findHeader, hasForbiddenChar, removeHeader } from '../../http/headers.js';
import type { JwtLocation, JwtRuleSpec } from '../../config/security-spec.js';
import { queryParam } from '../../routing/request-view.js';
import { CONTINUE, WAIT, type FilterContext, type FilterStats, type FilterStatus, type HttpFilter } from '../chain.js';
import { claimAt, type JwtAuth } from './auth.js';
import type { JwksStore } from './keys.js';
import { CLOCK_SKEW_S, FAILURE_TEXT, inspect, verifyToken, type JwtFailure } from './verify.js';
import type { JWTPayload, JWTVerifyGetKey } from 'jose';

/** verified tokens kept per filter; the cache starts over when full */
const CACHE_SIZE = 1000;

interface Location {
  readonly loc: JwtLocation;
  /** indexes of the rules reading this location */
  readonly rules: number[];
}

interface Verified {
  auth: JwtAuth;
  payload: JWTPayload;
  /** bit i: rule i accepted the token */
  rules: number;
}

interface Candidate {
  token: string;
  location: number;
}

export class JwtFilter implements HttpFilter {
  readonly name = 'jwt';
  private readonly rules: readonly JwtRuleSpec[];
  private readonly locations: Location[] = [];
  private readonly outputHeaders: string[];
  private readonly store: JwksStore;
  private readonly cache = new Map<string, Verified>();
  private readonly allowed: () => void;
  private readonly noToken: () => void;
  private readonly denied: Record<JwtFailure, () => void>;

  constructor(rules: readonly JwtRuleSpec[], store: JwksStore, stats: FilterStats) {
    this.rules = rules;
    this.store = store;
    const seen = new Map<string, Location>();
    rules.forEach((r, i) => {
      for (const loc of r.locations) {
        const key = `${loc.kind}\n${loc.name}\n${loc.kind === 'header' ? loc.prefix.toLowerCase() : ''}`;
        let l = seen.get(key);
        if (l === undefined) {
          l = { loc, rules: [] };
          seen.set(key, l);
          this.locations.push(l);
        }
        l.rules.push(i);
      }
    });
    this.outputHeaders = [...new Set(rules.flatMap((r) => [...(r.outputPayloadToHeader === null ? [] : [r.outputPayloadToHeader]), ...r.outputClaimToHeaders.map((o) => o.header)]))];
    this.allowed = stats.counter('jwt', 'allowed');
    this.noToken = stats.counter('jwt', 'no_token');
    this.denied = Object.fromEntries((Object.keys(FAILURE_TEXT) as JwtFailure[]).map((f) => [f, stats.counter('jwt', `denied_${f}`)])) as Record<JwtFailure, () => void>;
  }

  onRequest(ctx: FilterContext): FilterStatus {
    for (const h of this.outputHeaders) if (findHeader(ctx.headers, h) >= 0) removeHeader(ctx.headers, h);
    const candidates = this.extract(ctx);
    if (candidates === null) {
      this.noToken();
      return CONTINUE;
    }
    // a token verified before: no crypto, no wait
    const now = Date.now() / 1000;
    for (const c of candidates) {
      const v = this.cache.get(c.token);
      if (v === undefined || !timely(v.payload, now)) continue;
      const rule = this.acceptingRule(v.rules, c.location);
      if (rule < 0) continue;
      this.accept(ctx, c, rule, v);
      return CONTINUE;
    }
    void this.verify(ctx, candidates);
    return WAIT;
  }

  /** Tokens found in the rules' locations; null when there is none (the usual case allocates nothing). */
  private extract(ctx: FilterContext): Candidate[] | null {
    let out: Candidate[] | null = null;
    for (let i = 0; i < this.locations.length; i++) {
      const token = read((this.locations[i] as Location).loc, ctx);
      if (token === null || token === '') continue;
      if (out !== null && out.some((c) => c.token === token)) continue;
      (out ??= []).push({ token, location: i });
    }
    return out;
  }

  private acceptingRule(bits: number, location: number): number {
    for (const r of (this.locations[location] as Location).rules) if (r < 31 && (bits & (1 << r)) !== 0) return r;
    return -1;
  }

  private async verify(ctx: FilterContext, candidates: Candidate[]): Promise<void> {
    let failure: JwtFailure | null = null;
    try {
      for (const c of candidates) {
        const u = inspect(c.token);
        if (typeof u === 'string') {
          failure ??= u;
          continue;
        }
        const rules = (this.locations[c.location] as Location).rules.filter((r) => (this.rules[r] as JwtRuleSpec).issuer === u.iss);
        if (rules.length === 0) failure ??= 'unknown_issuer';
        for (const r of rules) {
          const rule = this.rules[r] as JwtRuleSpec;
          const keys = await this.keysFor(rule);
          if (keys === null) {
            failure ??= 'jwks_unavailable';
            continue;
          }
          const result = await verifyToken(c.token, keys, rule);
          if (typeof result === 'string') {
            failure ??= result;
            continue;
          }
          const v = this.remember(c.token, result, r);
          if (ctx.ended) return;
          this.accept(ctx, c, r, v);
          ctx.resumeFilters();
          return;
        }
      }
    } catch (err) {
      if (!ctx.ended) ctx.fail(internalError(err));
      return;
    }
    if (ctx.ended) return;
    const f = failure ?? 'signature';
    this.denied[f]();
    ctx.fail(jwtRejected(FAILURE_TEXT[f]));
  }

  /** The rule's keys: inline, or its jwksUri's once known (waiting for a first fetch still running). */
  private keysFor(rule: JwtRuleSpec): Promise<JWTVerifyGetKey | null> | JWTVerifyGetKey | null {
    if (rule.jwks !== null) return this.store.inline(rule.jwks);
    const uri = rule.jwksUri as string;
    const set = this.store.get(uri);
    if (!set.pending) return set.keys;
    return new Promise((resolve) => this.store.whenReady(uri, () => resolve(this.store.get(uri).keys)));
  }

  private remember(token: string, payload: JWTPayload, rule: number): Verified {
    let v = this.cache.get(token);
    if (v === undefined) {
      if (this.cache.size >= CACHE_SIZE) this.cache.clear();
      const aud = payload.aud;
      v = {
        auth: {
          principal: `${payload.iss ?? ''}/${payload.sub ?? ''}`,
          audiences: typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [],
          presenter: typeof payload.azp === 'string' ? payload.azp : '',
          claims: payload,
        },
        payload,
        rules: 0,
      };
      this.cache.set(token, v);
    }
    if (rule < 31) v.rules |= 1 << rule;
    return v;
  }

  /** The request carries the verified token: its attributes, the token removed (or not), the output headers. */
  private accept(ctx: FilterContext, c: Candidate, r: number, v: Verified): void {
    this.allowed();
    ctx.auth = v.auth;
    const rule = this.rules[r] as JwtRuleSpec;
    const loc = (this.locations[c.location] as Location).loc;
    if (!rule.forwardOriginalToken && loc.kind === 'header') removeHeader(ctx.headers, loc.name);
    if (rule.outputPayloadToHeader !== null) {
      const a = c.token.indexOf('.');
      ctx.headers.push(rule.outputPayloadToHeader, c.token.slice(a + 1, c.token.indexOf('.', a + 1)));
    }
    for (const o of rule.outputClaimToHeaders) {
      const value = claimAt(v.payload, o.claim.split('.'));
      if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
        const text = String(value);
        if (!hasForbiddenChar(text)) ctx.headers.push(o.header, text);
      }
    }
  }
}

/** exp and nbf against now, with Envoy's clock skew (tokens without them are timely). */
function timely(p: JWTPayload, now: number): boolean {
  if (typeof p.exp === 'number' && now > p.exp + CLOCK_SKEW_S) return false;
  if (typeof p.nbf === 'number' && now < p.nbf - CLOCK_SKEW_S) return false;
  return true;
}

/** The token at one location, or null. A header's prefix (e.g. "Bearer ") is matched case-insensitively. */
function read(loc: JwtLocation, ctx: FilterContext): string | null {
  switch (loc.kind) {
    case 'header': {
      const i = findHeader(ctx.headers, loc.name);
      if (i < 0) return null;
      const v = ctx.headers[i] as string;
      if (loc.prefix === '') return v.trim();
      if (v.length < loc.prefix.length || v.slice(0, loc.prefix.length).toLowerCase() !== loc.prefix.toLowerCase()) return null;
      return v.slice(loc.prefix.length).trim();
    }
    case 'param':
      return ctx.query === '' ? null : queryParam(ctx.query, loc.name);
    case 'cookie': {
      const i = findHeader(ctx.headers, 'cookie');
      if (i < 0) return null;
      for (const part of (ctx.headers[i] as string).split(';')) {
        const eq = part.indexOf('=');
        if (eq > 0 && part.slice(0, eq).trim() === loc.name) return part.slice(eq + 1).trim();
      }
      return null;
    }
  }
}
