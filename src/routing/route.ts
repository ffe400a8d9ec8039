// A VirtualService http rule compiled for matching: the matches (ORed; conditions inside one
// match ANDed), and the resolved action. Built once per config generation.
import type { HeaderMatchSpec, MatchSpec, RouteSpec, WeightedDestinationSpec } from '../config/snapshot.js';
import { CompiledMirror } from '../filters/mirror/mirror.js';
import { RetryPolicy } from '../filters/retry/retry-policy.js';
import type { FilterChain } from '../filters/chain.js';
import type { ClusterRuntime } from '../upstream/cluster.js';
import { getHeader } from '../http/headers.js';
import { queryParam, type RequestView } from './request-view.js';
import { StringMatcher, PREFIX, REGEX } from './string-match.js';

class HeaderCondition {
  readonly name: string;
  readonly matcher: StringMatcher | null;
  constructor(spec: HeaderMatchSpec) {
    this.name = spec.name;
    this.matcher = spec.match === null ? null : new StringMatcher(spec.match, false);
  }
  test(value: string | null | undefined): boolean {
    if (value === undefined || value === null) return false;
    return this.matcher === null || this.matcher.test(value);
  }
}

function conditions(specs: HeaderMatchSpec[]): HeaderCondition[] | null {
  return specs.length === 0 ? null : specs.map((s) => new HeaderCondition(s));
}

export class CompiledMatch {
  readonly uri: StringMatcher | null;
  /** ignoreUriCase on an exact or prefix uri: the path is lower-cased before the compare */
  readonly lowerPath: boolean;
  readonly method: StringMatcher | null;
  readonly authority: StringMatcher | null;
  readonly scheme: StringMatcher | null;
  readonly headers: HeaderCondition[] | null;
  readonly withoutHeaders: HeaderCondition[] | null;
  readonly queryParams: HeaderCondition[] | null;
  readonly port: number;
  /** length of the matched prefix, for `rewrite.uri` (Istio replaces the matched prefix only) */
  readonly prefixLength: number;

  constructor(spec: MatchSpec) {
    this.uri = spec.uri === null ? null : new StringMatcher(spec.uri, spec.ignoreUriCase);
    this.lowerPath = spec.ignoreUriCase && this.uri !== null && this.uri.kind !== REGEX;
    this.method = spec.method === null ? null : new StringMatcher(spec.method, false);
    this.authority = spec.authority === null ? null : new StringMatcher(spec.authority, false);
    this.scheme = spec.scheme === null ? null : new StringMatcher(spec.scheme, false);
    this.headers = conditions(spec.headers);
    this.withoutHeaders = conditions(spec.withoutHeaders);
    this.queryParams = conditions(spec.queryParams);
    this.port = spec.port;
    this.prefixLength = this.uri !== null && this.uri.kind === PREFIX ? this.uri.value.length : -1;
  }

  test(req: RequestView): boolean {
    if (this.port !== 0 && this.port !== req.listenerPort) return false;
    if (this.uri !== null && !this.uri.test(this.lowerPath ? req.path.toLowerCase() : req.path)) return false;
    if (this.method !== null && !this.method.test(req.method)) return false;
    if (this.authority !== null && !this.authority.test(req.authority)) return false;
    if (this.scheme !== null && !this.scheme.test(req.scheme)) return false;
    if (this.headers !== null) {
      for (const h of this.headers) if (!h.test(getHeader(req.headers, h.name))) return false;
    }
    if (this.withoutHeaders !== null) {
      for (const h of this.withoutHeaders) if (h.test(getHeader(req.headers, h.name))) return false;
    }
    if (this.queryParams !== null) {
      for (const q of this.queryParams) if (!q.test(queryParam(req.query, q.name))) return false;
    }
    return true;
  }
}

export class WeightedDestination {
  readonly cluster: ClusterRuntime | null;
  readonly weight: number;
  readonly unresolved: string;
  readonly spec: WeightedDestinationSpec;
  constructor(spec: WeightedDestinationSpec, cluster: ClusterRuntime | null) {
    this.spec = spec;
    this.cluster = cluster;
    this.weight = spec.weight;
    this.unresolved = spec.unresolved ?? `destination ${spec.host}${spec.subset === null ? '' : ` subset ${spec.subset}`} has no cluster`;
  }
}

export class CompiledRoute {
  readonly spec: RouteSpec;
  readonly name: string;
  /** position inside its virtual host (stats records carry it) */
  readonly index: number;
  readonly matches: CompiledMatch[];
  readonly destinations: WeightedDestination[] | null;
  readonly totalWeight: number;
  readonly retry: RetryPolicy;
  /** null when the rule mirrors nothing */
  readonly mirrors: CompiledMirror[] | null;
  /** its HTTP filters (src/filters/chain.ts), set by the generation; null when none apply */
  chain: FilterChain | null = null;

  constructor(spec: RouteSpec, clusters: ClusterRuntime[], index: number) {
    this.retry = new RetryPolicy(spec.retries);
    this.mirrors = spec.mirrors.length === 0 ? null : spec.mirrors.map((m) => new CompiledMirror(m, clusters));
    this.spec = spec;
    this.name = spec.name;
    this.index = index;
    this.matches = spec.matches.map((m) => new CompiledMatch(m));
    this.destinations = spec.destinations === null ? null
      : spec.destinations.map((d) => new WeightedDestination(d, d.clusterId >= 0 ? (clusters[d.clusterId] ?? null) : null));
    this.totalWeight = spec.totalWeight;
  }

  /** Index of the first match that holds, 0 for a rule without matches, -1 when none holds. */
  matchIndex(req: RequestView): number {
    const matches = this.matches;
    if (matches.length === 0) return 0;
    for (let i = 0; i < matches.length; i++) if ((matches[i] as CompiledMatch).test(req)) return i;
    return -1;
  }

  /** Weighted pick: each destination gets weight / totalWeight of the traffic. */
  pickDestination(): WeightedDestination {
    const dests = this.destinations as WeightedDestination[];
    if (dests.length === 1) return dests[0] as WeightedDestination;
    let r = Math.random() * this.totalWeight;
    for (let i = 0; i < dests.length; i++) {
      const d = dests[i] as WeightedDestination;
      if (r < d.weight) return d;
      r -= d.weight;
    }
    return dests[dests.length - 1] as WeightedDestination;
  }
}
