// The request record, written once when a request ends, whatever the path: one fixed-size record
// into the worker's stats ring (never blocks: a full ring counts a drop), the access log line when
// logging is on, and the span when the request is traced.
import { performance } from 'node:perf_hooks';
import { getHeader } from '../http/headers.js';
import type { CompiledRoute } from '../routing/route.js';
import { flagNames } from '../stats/flags.js';
import { evaluateFilter, type LogContext } from '../telemetry/filter-expr.js';
import { protocolCode } from '../telemetry/request.js';
import { DIRECTION_INBOUND, DIRECTION_OUTBOUND } from '../stats/ring.js';
import type { Span } from '../tracing/span.js';
import type { Endpoint } from '../upstream/endpoint.js';
import type { ListenerRuntime } from '../worker/worker-state.js';
import type { Generation } from '../worker/generation.js';
import type { AccessLog } from './access-log.js';
import type { ClientBody } from './client-body.js';
import type { GrpcCall } from './grpc-call.js';

/** What the record reads from the request's upstream attempt (UpstreamAttempt, or a WebSocket's UpgradeAttempt). */
export interface AttemptRecord {
  readonly endpoint: Endpoint | null;
  /** performance.now() of the first dispatch and of the upstream's end (0: not yet) */
  readonly tStart: number;
  readonly tEnd: number;
  readonly failDetail: string | null;
}

/** What the record reads from the exchange. */
export interface RecordSource {
  readonly listener: ListenerRuntime;
  readonly gen: Generation;
  readonly route: CompiledRoute | null;
  readonly clusterId: number;
  readonly attempt: AttemptRecord | null;
  readonly body: ClientBody | null;
  readonly span: Span | null;
  /** the status the client got (0 when it left first) */
  readonly recordedStatus: number;
  readonly flags: number;
  readonly t0: number;
  readonly bytesSent: number;
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly httpVersion: number;
  readonly authority: string;
  readonly scheme: string;
  readonly requestId: string;
  readonly headers: string[];
  readonly sourceIp: string;
  readonly peerPrincipal: string | null;
  /** a gRPC request's status and message counts; null for other requests */
  readonly grpc: GrpcCall | null;
  /** the far end and the inbound Host as ids in the worker's string table (-1: none) */
  readonly statsPeer: number;
  readonly statsHost: number;
  /** the AUDIT policy that matched: the request is always written to the access log */
  readonly auditPolicy: string | null;
}

/** `endedAt`: performance.now() when the request ended if the caller has it (the upstream's end), else 0. */
export function recordRequest(r: RecordSource, endedAt = 0): void {
  const now = endedAt > 0 ? endedAt : performance.now();
  const listener = r.listener;
  const a = r.attempt;
  const upstreamUs = a === null || a.tStart === 0 ? -1 : ((a.tEnd === 0 ? now : a.tEnd) - a.tStart) * 1000;
  const grpc = r.grpc;
  listener.state.stats?.write(
    r.gen.id, listener.inbound ? DIRECTION_INBOUND : DIRECTION_OUTBOUND, listener.index,
    r.route === null ? -1 : r.route.index, r.clusterId, -1,
    r.recordedStatus, r.flags, (now - r.t0) * 1000, upstreamUs,
    r.body === null ? 0 : r.body.received, r.bytesSent, r.statsPeer, r.statsHost, protocolCode(grpc, r.recordedStatus),
    grpc === null ? 0 : grpc.requestMessages.count, grpc === null ? 0 : grpc.responseMessages.count,
  );
  if (r.span !== null) r.span.end(r.recordedStatus, r.flags, a?.endpoint ?? null, r.gen.cluster(r.clusterId), r.peerPrincipal);
  const log = listener.state.accessLog;
  if (log !== null && (r.auditPolicy !== null || (logged(r, now) && log.sampled()))) accessLogLine(log, r, now, upstreamUs);
}

// the filter's view of a finished request: one per worker (records are written synchronously)
const LOG_CONTEXT: LogContext = {
  responseCode: 0, responseSize: 0, requestSize: 0, durationMs: 0, method: '', path: '', query: '', host: '', scheme: 'http', requestId: '', mtls: false, headers: [],
};

/** Whether the request is logged: a Telemetry's accessLogging for its direction (and filter), else --access-log. */
function logged(r: RecordSource, now: number): boolean {
  const policy = r.gen.telemetry.accessLog[r.listener.inbound ? 1 : 0];
  if (policy === null) return r.listener.state.accessLogFlag;
  if (!policy.enabled) return false;
  if (policy.filter === null) return true;
  const c = LOG_CONTEXT;
  c.responseCode = r.recordedStatus;
  c.responseSize = r.bytesSent;
  c.requestSize = r.body === null ? 0 : r.body.received;
  c.durationMs = now - r.t0;
  c.method = r.method;
  c.path = r.path;
  c.query = r.query;
  c.host = r.authority;
  c.scheme = r.scheme;
  c.requestId = r.requestId;
  c.mtls = r.peerPrincipal !== null;
  c.headers = r.headers;
  const yes = evaluateFilter(policy.filter, c);
  c.headers = NO_HEADERS;
  return yes;
}

const NO_HEADERS: string[] = [];

function accessLogLine(log: AccessLog, r: RecordSource, now: number, upstreamUs: number): void {
  const ep = r.attempt?.endpoint ?? null;
  log.write({
    start_time: new Date(Date.now() - (now - r.t0)).toISOString(),
    method: r.method,
    path: r.query === '' ? r.path : `${r.path}?${r.query}`,
    protocol: r.httpVersion === 20 ? 'HTTP/2' : r.httpVersion === 10 ? 'HTTP/1.0' : 'HTTP/1.1',
    response_code: r.recordedStatus,
    response_flags: flagNames(r.flags),
    bytes_received: r.body === null ? 0 : r.body.received,
    bytes_sent: r.bytesSent,
    duration_ms: Math.round((now - r.t0) * 1000) / 1000,
    upstream_service_time_ms: upstreamUs < 0 ? null : Math.round(upstreamUs) / 1000,
    upstream_host: ep === null ? null : ep.key,
    upstream_cluster: r.clusterId < 0 ? null : (r.gen.cluster(r.clusterId)?.name ?? null),
    route_name: r.route === null ? null : r.route.name,
    authority: r.authority,
    x_request_id: r.requestId,
    user_agent: getHeader(r.headers, 'user-agent') ?? null,
    downstream_remote_address: r.sourceIp,
    downstream_peer_uri_san: r.peerPrincipal,
    direction: r.listener.spec.direction,
    upstream_transport_failure_reason: r.attempt?.failDetail ?? null,
    authz_audit_policy: r.auditPolicy,
    grpc_status: r.grpc === null ? null : nullIfNone(r.grpc.recordedStatus(r.recordedStatus)),
  });
}

function nullIfNone(grpcStatus: number): number | null {
  return grpcStatus < 0 ? null : grpcStatus;
}
