// The HTTP filter chain: compiled once per generation (per route for outbound traffic, per
// listener for inbound), run once per request between routing and the upstream attempt. Each
// filter answers CONTINUE, STOP (it ended the request with a local reply: ctx.fail) or WAIT (it
// calls ctx.resumeFilters() later, e.g. after an injected delay). A route or listener without
// filters has a null chain, which the request path skips. Each filter counts what it did in its
// worker's FilterStats (exported as meshlet_http_filter_total{filter, action}).
//
// The order is set here, in one place (Envoy's sidecar order: jwt_authn → rbac → fault → router):
//   inbound listener:  jwt (RequestAuthentication) → authz (AuthorizationPolicy)
//   outbound route:    fault (delay, then abort) → headers (request header operations)
// Adding a filter: a folder under src/filters/ with its filter class, and one line below.
import type { ProxyError } from '../http/errors.js';
import type { CompiledRoute } from '../routing/route.js';
import type { RequestView } from '../routing/request-view.js';
import type { AuthzEvaluator } from './authz/evaluator.js';
import { AuthzFilter } from './authz/filter.js';
import type { JwtAuth } from './jwt/auth.js';
import { JwtFilter } from './jwt/filter.js';
import type { JwksStore } from './jwt/keys.js';
import type { JwtRuleSpec } from '../config/security-spec.js';
import { FaultFilter } from './fault/filter.js';
import { RequestHeadersFilter } from './headers/filter.js';
import type { HeaderOpsSpec } from '../config/snapshot.js';

export const CONTINUE = 0;
export const STOP = 1;
export const WAIT = 2;
export type FilterStatus = typeof CONTINUE | typeof STOP | typeof WAIT;

/** What a filter reads and does: the request (its view, peer, headers to change) and two ways on. */
export interface FilterContext extends RequestView {
  /** the mTLS peer's SPIFFE id; null for plaintext */
  readonly peerPrincipal: string | null;
  /** the client's address */
  readonly sourceIp: string;
  /** the chosen destination's request header operations (outbound), null when none */
  readonly destinationRequestOps: HeaderOpsSpec | null;
  /** the verified JWT (set by the jwt filter), read by authz: request.auth.* */
  auth: JwtAuth | null;
  /** the AUDIT AuthorizationPolicy that matched (written to the access log), null when none */
  auditPolicy: string | null;
  /** adds response flags (bits, src/stats/flags.ts) to the request's record */
  addFlags(bits: number): void;
  /** ends the request with the local reply for `err`; the filter then returns STOP */
  fail(err: ProxyError): void;
  /** a filter that returned WAIT continues the chain with the next filter */
  resumeFilters(): void;
  /** true once the request ended (the client left, or a timeout answered it): a waiting filter lets go */
  readonly ended: boolean;
}

export interface HttpFilter {
  readonly name: string;
  onRequest(ctx: FilterContext): FilterStatus;
}

export type FilterChain = readonly HttpFilter[];

/** Per-worker counters: filter name → action → count; filters keep a reference to their row. */
export class FilterStats {
  private readonly rows = new Map<string, Map<string, number>>();

  /** A counter function for one filter's action: (n = 1) adds to it. */
  counter(filter: string, action: string): () => void {
    let row = this.rows.get(filter);
    if (row === undefined) this.rows.set(filter, (row = new Map()));
    if (!row.has(action)) row.set(action, 0);
    const r = row;
    return () => {
      r.set(action, (r.get(action) as number) + 1);
    };
  }

  /** [filter, action, count] for every counter, for the worker's once-a-second report. */
  snapshot(): [string, string, number][] {
    const out: [string, string, number][] = [];
    for (const [filter, row] of this.rows) for (const [action, n] of row) out.push([filter, action, n]);
    return out;
  }
}

/** The inbound listener's chain (RequestAuthentication, AuthorizationPolicy), or null when nothing applies. */
export function inboundChain(jwt: { rules: readonly JwtRuleSpec[]; keys: JwksStore } | null, authz: AuthzEvaluator | null, stats: FilterStats): FilterChain | null {
  const filters: HttpFilter[] = [];
  if (jwt !== null && jwt.rules.length > 0) filters.push(new JwtFilter(jwt.rules, jwt.keys, stats));
  if (authz !== null) filters.push(new AuthzFilter(authz, stats));
  return filters.length === 0 ? null : filters;
}

/** An outbound route's chain, or null when nothing applies (a plain route pays one null check). */
export function routeChain(route: CompiledRoute, stats: FilterStats): FilterChain | null {
  const filters: HttpFilter[] = [];
  const spec = route.spec;
  if (spec.fault !== null) filters.push(new FaultFilter(spec.fault, stats));
  if (spec.requestHeaders !== null || route.destinations?.some((d) => d.spec.headers?.request != null) === true) {
    filters.push(new RequestHeadersFilter(spec.requestHeaders, stats));
  }
  return filters.length === 0 ? null : filters;
}
