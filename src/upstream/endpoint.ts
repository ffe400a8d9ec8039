// One endpoint of one cluster as the balancer sees it: its pool (shared across clusters and
// config generations through the PoolRegistry), this worker's in-flight count, and its slot in the
// sidecar-wide shared state (in-flight across workers, outlier counters, ejection, slow start).
import type { EndpointSpec } from '../config/snapshot.js';
import type { UpstreamPool } from './codec.js';
import type { UpstreamTls } from '../tls/outbound/client-tls.js';
import { E_ACTIVE, E_EJECTED, F_FIRST_SEEN, type SharedUpstreamState } from './shared/layout.js';

/** Linkerd's peak-EWMA defaults: decay window 10 s, unknown latency assumed 30 ms. */
const EWMA_DECAY_MS = 10_000;
const EWMA_DEFAULT_MS = 30;

export class Endpoint {
  readonly spec: EndpointSpec;
  readonly key: string;
  readonly pool: UpstreamPool;
  /** mesh mTLS to this endpoint (ISTIO_MUTUAL or auto mTLS); null: plaintext. Connections outside the pool (TCP, WebSockets) use it too */
  readonly tls: UpstreamTls | null;
  /** DestinationRule useClientProtocol: the HTTP/2 pool for requests of HTTP/2 clients (null otherwise) */
  readonly h2Pool: UpstreamPool | null;
  /** this worker's requests in flight (gauges) */
  inflight = 0;
  /** index of this endpoint's fields in shared.i32, or -1 without a slot */
  readonly base: number;
  private readonly i32: Int32Array | null;
  readonly firstSeen: number;
  /** peak-EWMA latency estimate (ms) and when it was last updated (per worker) */
  private ewma = EWMA_DEFAULT_MS;
  private ewmaAt = 0;
  /** this endpoint as a stats peer (src/telemetry/exchange.ts): its string id (-2: not yet) and the principal it was made for */
  statsPeer = -2;
  statsPeerPrincipal = '';

  constructor(spec: EndpointSpec, pool: UpstreamPool, shared: SharedUpstreamState | null, tls: UpstreamTls | null = null, h2Pool: UpstreamPool | null = null) {
    this.spec = spec;
    this.key = endpointKey(spec.address, spec.port);
    this.pool = pool;
    this.tls = tls;
    this.h2Pool = h2Pool;
    const slotted = shared !== null && spec.slot >= 0;
    this.i32 = slotted ? shared.i32 : null;
    this.base = slotted ? shared.ep(spec.slot) : -1;
    this.firstSeen = slotted ? (shared.f64[shared.fp(spec.slot) + F_FIRST_SEEN] as number) : 0;
  }

  begin(): void {
    this.inflight++;
    if (this.i32 !== null) Atomics.add(this.i32, this.base + E_ACTIVE, 1);
  }

  end(): void {
    this.inflight--;
    if (this.i32 !== null) Atomics.sub(this.i32, this.base + E_ACTIVE, 1);
  }

  /** requests in flight to this endpoint from every worker (this worker's when unslotted) */
  active(): number {
    return this.i32 === null ? this.inflight : Atomics.load(this.i32, this.base + E_ACTIVE);
  }

  ejected(): boolean {
    return this.i32 !== null && Atomics.load(this.i32, this.base + E_EJECTED) !== 0;
  }

  /** Peak EWMA: a slower sample takes over at once, faster ones decay in over ~10 s. */
  observeLatency(ms: number, now: number): void {
    if (ms > this.ewma) {
      this.ewma = ms;
    } else {
      const w = Math.exp(-(now - this.ewmaAt) / EWMA_DECAY_MS);
      this.ewma = this.ewma * w + ms * (1 - w);
    }
    this.ewmaAt = now;
  }

  /** Linkerd's cost: latency estimate × (requests in flight + 1). */
  ewmaCost(): number {
    return this.ewma * (this.active() + 1);
  }
}

export function endpointKey(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
