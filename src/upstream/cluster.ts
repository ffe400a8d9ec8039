// A cluster (service host + subset + port) at run time: its endpoints, the view of them that is
// not ejected, its balancer or consistent-hash table, and its sidecar-wide limits and outlier
// detector. Built once per config generation; `pick` is the per-request entry.
import type { ClusterSpec, HashSpec } from '../config/snapshot.js';
import type { UpstreamPool } from './codec.js';
import { createBalancer, pickWarming, type Balancer } from './balancer.js';
import { Endpoint } from './endpoint.js';
import { Maglev, RingHash, type HashTable } from './hash/table.js';
import { clientProtocolKey, poolKey } from './pool-registry.js';
import { Admission, binds } from './shared/admission.js';
import { C_VERSION, type SharedUpstreamState } from './shared/layout.js';
import { OutlierDetector } from './shared/outlier.js';
import type { UpstreamTls } from '../tls/outbound/client-tls.js';

export class ClusterRuntime {
  readonly spec: ClusterSpec;
  readonly name: string;
  readonly endpoints: Endpoint[];
  /** null when no connectionPool limit is set (the request path then skips admission entirely) */
  readonly admission: Admission | null;
  readonly outlier: OutlierDetector | null;
  readonly hash: HashSpec | null;
  /** every endpoint is reached over mesh mTLS: requests carry this sidecar's workload metadata */
  readonly meshed: boolean;
  private readonly table: HashTable | null;
  private readonly balancer: Balancer;
  private readonly i32: Int32Array | null;
  private readonly versionAt: number;
  private available: Endpoint[];
  private availableVersion = -1;
  /** slow start: Date.now() until which some endpoint is still warming (0 = none) */
  private warmUntil = 0;
  // lookup filter state (set before each hash lookup; avoids a closure per request)
  private exclude: Endpoint | null = null;
  private readonly acceptBound: (i: number) => boolean;

  /** `tls[i]`: the TLS settings of endpoint i (null: plaintext) */
  constructor(spec: ClusterSpec, pools: Map<string, UpstreamPool>, shared: SharedUpstreamState | null, tls: readonly (UpstreamTls | null)[] = []) {
    this.spec = spec;
    this.name = spec.name;
    this.balancer = createBalancer(spec.lb);
    this.endpoints = spec.endpoints.map((e, i) => {
      const t = tls[i] ?? null;
      const key = poolKey(spec, e, t);
      return new Endpoint(e, pools.get(key) as UpstreamPool, shared, t, spec.clientProtocol === true ? (pools.get(clientProtocolKey(key)) ?? null) : null);
    });
    this.available = this.endpoints;
    this.meshed = spec.endpoints.length > 0 && spec.endpoints.every((_e, i) => (tls[i] ?? null) !== null);
    const slotted = shared !== null && spec.slot >= 0;
    this.i32 = slotted ? shared.i32 : null;
    this.versionAt = slotted ? shared.cl(spec.slot) + C_VERSION : -1;
    const p = spec.pool;
    const limited = binds(p.maxConnections) || binds(p.maxPendingRequests) || binds(p.maxRequests) || binds(p.maxRetries);
    this.admission = slotted && limited ? new Admission(shared, spec.slot, p, spec.http2 === true) : null;
    this.outlier = slotted && spec.outlier !== null ? new OutlierDetector(spec.outlier, shared, spec.slot, this.endpoints.length) : null;
    this.hash = spec.hash;
    this.table = spec.hash === null ? null : buildTable(spec.hash, this.endpoints);
    if (spec.warmupMs > 0) this.warmUntil = Math.max(0, ...this.endpoints.map((e) => e.firstSeen)) + spec.warmupMs;
    this.acceptBound = (i: number) => this.accept(i);
  }

  /**
   * The endpoint for one try. `keyHash` is the request's consistent-hash key (-1: none, or the
   * cluster does not hash); `exclude` is the endpoint a retry moves away from, when another exists.
   */
  pick(keyHash: number, exclude: Endpoint | null): Endpoint | null {
    const eps = this.outlier === null ? this.endpoints : this.healthy();
    if (this.table !== null && keyHash >= 0) {
      this.exclude = eps.length > 1 ? exclude : null;
      const i = this.table.lookup(keyHash, this.acceptBound);
      this.exclude = null;
      if (i >= 0) return this.endpoints[i] as Endpoint;
      if (eps.length === 0) return null;
    }
    let ep: Endpoint | null;
    if (this.warmUntil !== 0) {
      const now = Date.now();
      if (now < this.warmUntil) ep = pickWarming(eps, this.spec.warmupMs, now);
      else {
        this.warmUntil = 0;
        ep = this.balancer.pick(eps);
      }
    } else {
      ep = this.balancer.pick(eps);
    }
    for (let i = 0; i < 3 && ep === exclude && ep !== null && eps.length > 1; i++) ep = this.balancer.pick(eps);
    if (ep === exclude && exclude !== null && eps.length > 1) ep = eps[(eps.indexOf(exclude) + 1) % eps.length] as Endpoint;
    if (ep !== null && ep.pool.saturated && eps.length > 1) return this.unsaturated(eps, ep, exclude);
    return ep;
  }

  /**
   * `ep`'s pool has every connection it may open busy: a request sent there would wait. Another
   * endpoint that can take it now goes first (from a random start, so they share the load);
   * when every one is saturated, `ep` it is, and the wait is bounded by the queue timeout.
   */
  private unsaturated(eps: readonly Endpoint[], ep: Endpoint, exclude: Endpoint | null): Endpoint {
    const n = eps.length;
    const start = Math.floor(Math.random() * n);
    for (let k = 0; k < n; k++) {
      const e = eps[(start + k) % n] as Endpoint;
      if (e !== exclude && !e.pool.saturated) return e;
    }
    return ep;
  }

  private accept(i: number): boolean {
    const ep = this.endpoints[i] as Endpoint;
    if (ep === this.exclude) return false;
    return this.outlier === null || this.available === this.endpoints || !ep.ejected();
  }

  /**
   * Endpoints not ejected, rebuilt when any worker ejects or returns one. Below minHealthPercent
   * healthy, every endpoint is used (Envoy's panic mode); with the default 0% that never happens.
   */
  private healthy(): Endpoint[] {
    const version = Atomics.load(this.i32 as Int32Array, this.versionAt);
    if (version === this.availableVersion) return this.available;
    this.availableVersion = version;
    const healthy = this.endpoints.filter((e) => !e.ejected());
    const minHealth = this.spec.outlier?.minHealthPercent ?? 0;
    const panic = minHealth > 0 && healthy.length * 100 < minHealth * this.endpoints.length;
    this.available = panic || healthy.length === this.endpoints.length ? this.endpoints : healthy;
    return this.available;
  }
}

function buildTable(hash: HashSpec, endpoints: readonly Endpoint[]): HashTable {
  const names = endpoints.map((e) => e.key);
  if (hash.algorithm === 'maglev') return new Maglev(names, hash.size);
  return new RingHash(names, endpoints.map((e) => e.spec.weight), hash.size);
}
