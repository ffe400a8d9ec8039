// Host → routes lookup for outbound listeners: exact names in a map, then `*.suffix` wildcards
// (longest suffix first), then `*`. Host headers seen before are cached as received (with port,
// any case) so the usual request costs one map lookup.
import type { Snapshot } from '../config/snapshot.js';
import type { ClusterRuntime } from '../upstream/cluster.js';
import { CompiledRoute } from './route.js';

export class VirtualHost {
  readonly hosts: string[];
  readonly routes: CompiledRoute[];
  constructor(hosts: string[], routes: CompiledRoute[]) {
    this.hosts = hosts;
    this.routes = routes;
  }
}

const CACHE_LIMIT = 4096;

export class RouteTable {
  private readonly exact = new Map<string, VirtualHost>();
  private readonly wildcards: [suffix: string, vh: VirtualHost][] = [];
  private catchAll: VirtualHost | null = null;
  private readonly seen = new Map<string, VirtualHost | null>();
  private readonly vhosts: VirtualHost[] = [];

  constructor(snapshot: Snapshot, clusters: ClusterRuntime[]) {
    for (const spec of snapshot.virtualHosts) {
      const vh = new VirtualHost(spec.hosts, spec.routes.map((r, i) => new CompiledRoute(r, clusters, i)));
      this.vhosts.push(vh);
      for (const host of spec.hosts) {
        if (host === '*') this.catchAll ??= vh;
        else if (host.startsWith('*.')) this.wildcards.push([host.slice(1), vh]);
        else if (!this.exact.has(host)) this.exact.set(host, vh);
      }
    }
    this.wildcards.sort((a, b) => b[0].length - a[0].length);
  }

  /** Every compiled rule (the generation builds their filter chains). */
  *all(): Iterable<CompiledRoute> {
    for (const vh of this.vhosts) yield* vh.routes;
  }

  /** The virtual host for a Host header value, or null (404 NR). */
  find(authority: string): VirtualHost | null {
    const hit = this.seen.get(authority);
    if (hit !== undefined) return hit;
    const vh = this.resolve(normalizeHost(authority));
    if (this.seen.size >= CACHE_LIMIT) this.seen.clear();
    this.seen.set(authority, vh);
    return vh;
  }

  private resolve(host: string): VirtualHost | null {
    const vh = this.exact.get(host);
    if (vh !== undefined) return vh;
    for (const [suffix, w] of this.wildcards) if (host.endsWith(suffix) && host.length > suffix.length) return w;
    return this.catchAll;
  }
}

/** Lower-case host without port; keeps IPv6 brackets' content. */
export function normalizeHost(authority: string): string {
  let host = authority;
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    host = close > 0 ? host.slice(1, close) : host;
  } else {
    const colon = host.lastIndexOf(':');
    if (colon >= 0) host = host.slice(0, colon);
  }
  if (host.endsWith('.')) host = host.slice(0, -1);
  return host.toLowerCase();
}
