// Istio's standard metric labels, built in one place for every istio_* metric (HTTP requests and
// TCP connections alike) from what a reporter knows: its own workload, the peer (from the metadata
// exchange, or the endpoint's config on the client side), the service, and the request's outcome.
// The rules are the ones of Istio's stats filter (istio/proxy istio_stats.cc): "unknown" where the
// peer is not known, "latest" for a peer's missing canonical revision, the peer's namespace from
// its certificate first; `connection_security_policy` is known on the server side only.
import type { WorkloadLabels } from '../telemetry/workload.js';

/** The label names, in the order they are rendered. */
export const ISTIO_LABEL_NAMES = [
  'reporter',
  'source_workload', 'source_workload_namespace', 'source_principal', 'source_app', 'source_version',
  'source_canonical_service', 'source_canonical_revision', 'source_cluster',
  'destination_workload', 'destination_workload_namespace', 'destination_principal', 'destination_app', 'destination_version',
  'destination_service', 'destination_service_name', 'destination_service_namespace',
  'destination_canonical_service', 'destination_canonical_revision', 'destination_cluster',
  'request_protocol', 'response_code', 'grpc_response_status', 'response_flags', 'connection_security_policy',
] as const;
export type IstioLabelName = (typeof ISTIO_LABEL_NAMES)[number];
export type IstioLabels = Record<IstioLabelName, string>;

export const UNKNOWN = 'unknown';

/** The far end of a request or connection, as the reporter learned it. */
export interface PeerLabels {
  /** null: no (trusted) metadata and no endpoint config */
  workload: WorkloadLabels | null;
  /** the peer's verified SPIFFE id; '' when not mTLS */
  principal: string;
}

export interface ServiceLabels {
  /** the service host ('' when not known) */
  host: string;
  /** its short name ('' when not known) */
  name: string;
}

/** The labels shared by every outcome of one (reporter, peer, service): everything but the response's. */
export interface ConnectionLabels {
  reporter: 'source' | 'destination';
  self: WorkloadLabels;
  /** this sidecar's SPIFFE id ('' without one) */
  selfPrincipal: string;
  peer: PeerLabels;
  service: ServiceLabels;
  /** server side: whether the connection was mTLS; client side: not known (Istio reports "unknown") */
  mtls: boolean | null;
}

function or(v: string, fallback: string): string {
  return v === '' ? fallback : v;
}

/** The namespace in `.../ns/<ns>/...`, or ''. */
export function principalNamespace(principal: string): string {
  const i = principal.indexOf('/ns/');
  if (i < 0) return '';
  const end = principal.indexOf('/', i + 4);
  return principal.slice(i + 4, end < 0 ? principal.length : end);
}

/** Istio's destination_service_name for a host: its first DNS label. */
export function serviceShortName(host: string): string {
  const dot = host.indexOf('.');
  return dot > 0 ? host.slice(0, dot) : host;
}

/** Every label but request_protocol, response_code, grpc_response_status and response_flags. */
export function connectionLabels(c: ConnectionLabels): Omit<IstioLabels, 'request_protocol' | 'response_code' | 'grpc_response_status' | 'response_flags'> {
  const self = c.self;
  const peer = c.peer.workload;
  const peerNs = or(principalNamespace(c.peer.principal), peer?.namespace ?? '');
  const peerSide = {
    workload: or(peer?.workload ?? '', UNKNOWN),
    namespace: or(peerNs, UNKNOWN),
    principal: or(c.peer.principal, UNKNOWN),
    app: or(peer?.app ?? '', UNKNOWN),
    version: or(peer?.version ?? '', UNKNOWN),
    canonicalService: or(peer?.canonicalService ?? '', UNKNOWN),
    canonicalRevision: or(peer?.canonicalRevision ?? '', 'latest'),
    cluster: or(peer?.cluster ?? '', UNKNOWN),
  };
  const selfSide = {
    workload: or(self.workload, UNKNOWN),
    namespace: or(self.namespace, UNKNOWN),
    principal: or(c.selfPrincipal, UNKNOWN),
    app: self.app,
    version: self.version,
    canonicalService: or(self.canonicalService, UNKNOWN),
    canonicalRevision: self.canonicalRevision,
    cluster: or(self.cluster, UNKNOWN),
  };
  const server = c.reporter === 'destination';
  const src = server ? peerSide : selfSide;
  const dst = server ? selfSide : peerSide;
  // server side: the service is the one selecting this workload, else the Host, else the canonical name
  const serviceHost = server ? or(c.service.host, selfSide.canonicalService) : or(c.service.host, UNKNOWN);
  const serviceName = server ? or(c.service.name, selfSide.canonicalService) : or(c.service.name, UNKNOWN);
  return {
    reporter: c.reporter,
    source_workload: src.workload,
    source_workload_namespace: src.namespace,
    // the client's own principal is known only on an mTLS connection (its local certificate)
    source_principal: server ? src.principal : (c.peer.principal === '' ? UNKNOWN : src.principal),
    source_app: src.app,
    source_version: src.version,
    source_canonical_service: src.canonicalService,
    source_canonical_revision: src.canonicalRevision,
    source_cluster: src.cluster,
    destination_workload: dst.workload,
    destination_workload_namespace: dst.namespace,
    destination_principal: server ? (c.mtls === true ? dst.principal : UNKNOWN) : dst.principal,
    destination_app: dst.app,
    destination_version: dst.version,
    destination_service: serviceHost,
    destination_service_name: serviceName,
    destination_service_namespace: server ? selfSide.namespace : peerSide.namespace,
    destination_canonical_service: dst.canonicalService,
    destination_canonical_revision: dst.canonicalRevision,
    destination_cluster: dst.cluster,
    connection_security_policy: c.mtls === null ? UNKNOWN : c.mtls ? 'mutual_tls' : 'none',
  };
}

/** The whole label set of one outcome. `grpcStatus` < 0: not gRPC (Istio renders ""). */
export function istioLabels(conn: ReturnType<typeof connectionLabels>, protocol: 'http' | 'grpc' | 'tcp', responseCode: number, grpcStatus: number, responseFlags: string): IstioLabels {
  return {
    ...conn,
    request_protocol: protocol,
    response_code: String(responseCode),
    grpc_response_status: grpcStatus < 0 ? '' : String(grpcStatus),
    response_flags: responseFlags,
  };
}
