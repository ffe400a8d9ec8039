// Messages between the control thread and data-plane workers.
import type { Snapshot } from '../config/snapshot.js';
import type { TracingSettings } from '../tracing/settings.js';
import type { WorkloadIdentity } from '../tls/identity/source.js';
import type { CodecName } from '../upstream/codecs.js';
import type { H1Settings } from '../downstream/h1/connection.js';
import type { PathNormalization } from '../http/path-normalize.js';
import type { InboundTlsMode } from '../downstream/tls/acceptor.js';
import type { HandshakeCounts } from '../tls/handshake-stats.js';
import type { OwnMetadata } from '../telemetry/peer-metadata.js';
import type { WorkloadMeta } from '../telemetry/workload.js';
import type { JwksUpdate } from '../filters/jwt/keys.js';

/** How every data-plane worker runs: set once from the command line, the same for all workers. */
export interface DataPlaneSettings {
  codec: CodecName;
  /** the safety cap: connections one worker may open to one endpoint (--max-connections-per-endpoint) */
  connectionsPerEndpoint: number;
  /** a request waiting for a connection at that cap gets 503 UO after this long (--upstream-queue-timeout) */
  upstreamQueueTimeoutMs: number;
  upstreamIdleTimeoutMs: number;
  connectTimeoutMs: number;
  logLevel: string;
  /** file path, 'stdout', or null (off) */
  accessLog: string | null;
  /** 0..1 */
  accessLogSample: number;
  /** false with --disable-stats (benchmarks: the cost of stats) */
  stats: boolean;
  /** retries may add this share of the request rate (per worker) ... */
  retryBudgetRatio: number;
  /** ... but at least this many retries per second (per worker) */
  retryBudgetMinPerSecond: number;
  /** --trace-otlp / --trace-zipkin …; null: tracing off (trace headers pass through untouched) */
  tracing: TracingSettings | null;
  /** the HTTP/1.1 listener: HTTP/1.0, idle and request time-outs */
  h1: H1Settings;
  /** --path-normalization (Istio MeshConfig pathNormalization.normalization); default BASE */
  pathNormalization: PathNormalization;
  /** this sidecar's workload (--register / --workload); null when not known */
  workload: WorkloadMeta | null;
  /** its metadata-exchange headers, encoded once; null when the workload is not known */
  peerMetadata: OwnMetadata | null;
}

export interface WorkerOptions extends DataPlaneSettings {
  workerId: number;
  snapshot: Snapshot;
  /** sidecar-wide upstream counters (limits, outlier ejection), shared by every worker */
  upstreamState: SharedArrayBuffer;
  /** the sidecar's identity (inbound and outbound mTLS, x-forwarded-client-cert's By=); null = none yet */
  identity: WorkloadIdentity | null;
  /** per Snapshot.listeners index: whether the worker terminates mTLS there (tls/mtls-plan.ts) */
  inboundTls: (InboundTlsMode | null)[];
  /** the sidecar's TLS session-ticket keys (48 bytes), the same in every worker: a session resumes on any of them */
  ticketKeys: Uint8Array;
  /** the JWKS the control thread has fetched so far (RequestAuthentication jwksUri), one per uri */
  jwks: JwksUpdate[];
}

export type ToWorker =
  | { type: 'drain'; timeoutMs: number }
  /** first step of a shutdown: inbound listeners stop accepting, responses carry Connection: close */
  | { type: 'drain-inbound' }
  /** a new config generation: requests already in flight finish on the one they started with */
  | { type: 'snapshot'; snapshot: Snapshot }
  /** restart drill: the worker throws, as a bug would, and goes through its crash path */
  | { type: 'crash' }
  /** identity rotation (with new ticket keys): new connections use it, inbound and outbound; open ones keep theirs */
  | { type: 'identity'; identity: WorkloadIdentity; ticketKeys: Uint8Array }
  /** a jwksUri's keys were fetched (or the fetch failed: the last good keys stay) */
  | { type: 'jwks'; update: JwksUpdate };

/** a worker's span counts since it started: [exported, dropped] */
export type TraceCounts = [number, number];

/** A worker's once-a-second report. */
export interface GaugesReport {
  inflight: number;
  /** per endpoint [address:port, in-flight, connections] */
  endpoints: [string, number, number][];
  trace: TraceCounts | null;
  /** what its HTTP filters did since it started: [filter, action, count] */
  filters: [string, string, number][];
  /** its TLS handshakes since it started */
  tls: HandshakeCounts;
  /** its V8 heap: [used, committed] bytes (the isolate's own: RSS is the process's) */
  heap: [number, number];
}

export type FromWorker =
  | { type: 'ready'; workerId: number; generation: number }
  /** the worker's stats ring and string table (shared memory), sent once at start */
  | { type: 'ring'; workerId: number; ring: SharedArrayBuffer; strings: SharedArrayBuffer }
  | { type: 'applied'; workerId: number; generation: number }
  /** once a second: in-flight requests, and per endpoint [address:port, in-flight, connections] */
  | { type: 'gauges'; workerId: number; report: GaugesReport }
  | { type: 'fatal'; workerId: number; message: string }
  | { type: 'crashed'; workerId: number; message: string }
  | { type: 'drained'; workerId: number; inflight: number }
  /** while draining: nothing in flight and no new request for a quiet period */
  | { type: 'quiet'; workerId: number }
  /** the answer to an 'identity' message: in force (refused: the PEMs were unusable, the previous identity stays) */
  | { type: 'identity-applied'; workerId: number; spiffeId: string; refused: string | null };
