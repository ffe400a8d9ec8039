// Per-worker mutable state shared by every listener: the current generation (a reload swaps
// this one reference; a request keeps the one it started with) and the in-flight count for drain.
import { performance } from 'node:perf_hooks';
import type { ListenerSpec } from '../config/snapshot.js';
import type { RingWriter } from '../stats/ring.js';
import type { RetryBudget } from '../filters/retry/retry-budget.js';
import type { Tracer } from '../tracing/tracer.js';
import type { ClientTls } from '../tls/outbound/client-tls.js';
import type { ServerTls } from '../tls/inbound/server-tls.js';
import type { InboundTlsMode } from '../downstream/tls/acceptor.js';
import type { AccessLog } from '../request/access-log.js';
import type { Generation } from './generation.js';
import type { FilterStats } from '../filters/chain.js';
import { DEFAULT_PATH_NORMALIZATION, type PathNormalization } from '../http/path-normalize.js';
import { PeerExchange } from '../telemetry/exchange.js';
import { JwksStore } from '../filters/jwt/keys.js';

export class WorkerState {
  gen: Generation;
  /** this worker's stats ring: one record per finished request; null with --disable-stats */
  readonly stats: RingWriter | null;
  /** null when access logging is off (set later when a Telemetry turns it on) */
  accessLog: AccessLog | null;
  /** --access-log was given: without a Telemetry saying otherwise, every request is logged */
  accessLogFlag = false;
  inflight = 0;
  /** null when tracing is off: requests then pay one null check */
  tracer: Tracer | null = null;
  /** retries may add at most `ratio` of this worker's request rate (default 20%, min 10/s) */
  readonly retryBudget: RetryBudget;
  /** performance.now() of the last request start (drain waits for a quiet period) */
  lastStart = 0;
  draining = false;
  /** called when inflight drops to 0 while draining */
  onIdle: (() => void) | null = null;
  /** the sidecar's identity for outbound mTLS; null until one is configured */
  clientTls: ClientTls | null = null;
  /** the server side of inbound mTLS (identity, ticket keys, peers); null when no listener terminates TLS */
  serverTls: ServerTls | null = null;
  /** what the HTTP filters did (meshlet_http_filter_total), for every generation of this worker */
  readonly filterStats: FilterStats;
  /** how request paths are normalised before routing and authorization (--path-normalization) */
  pathNormalization: PathNormalization = DEFAULT_PATH_NORMALIZATION;
  /** the metadata exchange and the stats peer ids (src/telemetry/exchange.ts) */
  mx: PeerExchange = new PeerExchange(null, null);
  /** RequestAuthentication key sets, kept across generations */
  jwks: JwksStore = new JwksStore();
  /** connections outside the HTTP pools (TCP, WebSockets): connect timeout when the cluster sets none (--connect-timeout) */
  connectTimeoutMs = 10_000;
  constructor(gen: Generation, stats: RingWriter | null, accessLog: AccessLog | null, retryBudget: RetryBudget, filterStats: FilterStats) {
    this.gen = gen;
    this.filterStats = filterStats;
    this.retryBudget = retryBudget;
    this.stats = stats;
    this.accessLog = accessLog;
  }
  requestDone(): void {
    if (--this.inflight === 0 && this.onIdle !== null) this.onIdle();
  }
}

export class ListenerRuntime {
  readonly spec: ListenerSpec;
  readonly state: WorkerState;
  readonly inbound: boolean;
  /** index in Snapshot.listeners (listeners only change on restart, so it holds across generations) */
  readonly index: number;
  /**
   * Whether this worker terminates mTLS on the listener's port (fixed at the sidecar's start, see
   * tls/mtls-plan.ts): STRICT, PERMISSIVE (TLS or plaintext by the first byte), or null (plaintext).
   */
  readonly tls: InboundTlsMode | null;
  constructor(spec: ListenerSpec, state: WorkerState, index: number, tls: InboundTlsMode | null = null) {
    this.spec = spec;
    this.state = state;
    this.inbound = spec.direction === 'inbound';
    this.index = index;
    this.tls = tls;
  }
}
