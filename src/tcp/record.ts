// The stats and access-log records of proxied connections (TCP listeners, WebSockets): one record
// when the connection is established (or fails), one with the bytes since the last record every few
// seconds while it lasts, one when it closes (ring.ts KIND_CONN_*). A long-lived connection's
// records name its cluster in the generation current when they are written, so they stay
// resolvable after any number of reloads (the aggregator keeps only a few generations).
import { performance } from 'node:perf_hooks';
import { flagNames } from '../stats/flags.js';
import type { Endpoint } from '../upstream/endpoint.js';
import { DIRECTION_INBOUND, DIRECTION_OUTBOUND } from '../stats/ring.js';
import type { ClusterRuntime } from '../upstream/cluster.js';
import type { Generation } from '../worker/generation.js';
import type { ListenerRuntime } from '../worker/worker-state.js';

/** Bytes of a long-lived connection are reported at least this often (seconds; Istio reports TCP metrics periodically too). */
export const BYTES_REPORT_S = 5;

/** What a connection record reads. */
export interface ConnectionSource {
  readonly listener: ListenerRuntime;
  /** the generation the connection was routed with */
  readonly gen: Generation;
  readonly cluster: ClusterRuntime | null;
  /** ring.ts CONN_TCP / CONN_WEBSOCKET */
  readonly protocol: number;
  /** the far end as an id in the worker's string table (src/telemetry/exchange.ts), -1 when not known */
  readonly statsPeer: number;
}

export function recordConnection(c: ConnectionSource, kind: number, flags: number, bytesIn: number, bytesOut: number): void {
  const listener = c.listener;
  const state = listener.state;
  const stats = state.stats;
  if (stats === null) return;
  let gen = c.gen;
  let clusterId = c.cluster === null ? -1 : c.cluster.spec.id;
  const current = state.gen;
  if (current !== gen) {
    const id = c.cluster === null ? -1 : current.clusterId(c.cluster.name);
    if (id >= 0 || c.cluster === null) {
      gen = current;
      clusterId = id;
    }
  }
  stats.writeConnection(gen.id, listener.inbound ? DIRECTION_INBOUND : DIRECTION_OUTBOUND, listener.index, clusterId, -1,
    kind, c.protocol, flags, bytesIn, bytesOut, c.statsPeer);
}

const NO_HEADERS: string[] = [];

/**
 * The far end's stats id: inbound, the peer's verified identity (a TCP connection carries no
 * metadata headers); outbound, the endpoint's config with the upstream's verified identity.
 */
export function connectionPeer(listener: ListenerRuntime, endpoint: Endpoint | null, principal: string | null): number {
  const mx = listener.state.mx;
  if (listener.inbound) return mx.inbound(NO_HEADERS, principal);
  return endpoint === null ? -1 : mx.endpointPeer(endpoint, principal);
}

export interface ConnectionLogSource extends ConnectionSource {
  readonly t0: number;
  readonly sourceIp: string;
  readonly peerPrincipal: string | null;
  readonly upstreamHost: string | null;
  readonly routeName: string | null;
  readonly serverName: string;
  readonly failDetail: string | null;
}

/** The access log line of a proxied TCP connection (Envoy logs TCP connections with their bytes and flags, no HTTP fields). */
export function logConnection(c: ConnectionLogSource, flags: number, bytesIn: number, bytesOut: number): void {
  const log = c.listener.state.accessLog;
  if (log === null || !log.sampled()) return;
  const now = performance.now();
  log.write({
    start_time: new Date(Date.now() - (now - c.t0)).toISOString(),
    method: '',
    path: '',
    protocol: 'TCP',
    response_code: 0,
    response_flags: flagNames(flags),
    bytes_received: bytesIn,
    bytes_sent: bytesOut,
    duration_ms: Math.round((now - c.t0) * 1000) / 1000,
    upstream_service_time_ms: null,
    upstream_host: c.upstreamHost,
    upstream_cluster: c.cluster === null ? null : c.cluster.name,
    route_name: c.routeName,
    authority: c.serverName,
    x_request_id: '',
    user_agent: null,
    downstream_remote_address: c.sourceIp,
    downstream_peer_uri_san: c.peerPrincipal,
    direction: c.listener.spec.direction,
    upstream_transport_failure_reason: c.failDetail,
    authz_audit_policy: null,
    grpc_status: null,
  });
}
