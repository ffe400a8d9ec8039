// The request path's telemetry steps, kept out of Exchange: the metadata exchange at request start
// (inbound) and at the response head (both directions), the stats peer of an outbound request
// when it ends, and the protocol code its record carries (http, or grpc with its grpc-status).
import type { GrpcCall } from '../request/grpc-call.js';
import { PROTOCOL_GRPC, PROTOCOL_HTTP } from '../stats/ring.js';
import type { UpstreamController } from '../upstream/codec.js';
import type { Endpoint } from '../upstream/endpoint.js';
import type { PeerExchange } from './exchange.js';
import type { MxOnce } from './mx-once.js';
import { PEER_METADATA_HEADER, PEER_METADATA_ID_HEADER } from './peer-metadata.js';

/** What these steps read and set on the exchange. */
export interface TelemetryRequest {
  readonly headers: string[];
  readonly authority: string;
  readonly peerPrincipal: string | null;
  readonly listener: { readonly inbound: boolean; readonly state: { readonly mx: PeerExchange } };
  /** the client connection's metadata exchange once per connection (telemetry/mx-once.ts), if it has one */
  readonly sink: { readonly mx?: MxOnce | null };
  readonly gen: { readonly inboundServiceSelected: boolean };
  /** the far end's stats id (-1: unknown; -2: outbound, not learned yet: the endpoint stands in) */
  statsPeer: number;
  /** inbound Host's stats id when no service selects this workload */
  statsHost: number;
  /** inbound: the caller's metadata was believed, so the response carries this sidecar's */
  mxReply: boolean;
  /** outbound: the upstream's verified SPIFFE id, read with the response head (the connection may be reused by then) */
  upstreamPrincipal: string | null;
}

/** Inbound request start: metadata headers taken off (always), the caller learned when believed. */
export function inboundRequest(r: TelemetryRequest): void {
  const mx = r.listener.state.mx;
  r.statsPeer = mx.inbound(r.headers, r.peerPrincipal, r.sink.mx ?? null);
  r.mxReply = mx.trusted && mx.own !== null;
  if (!r.gen.inboundServiceSelected) r.statsHost = mx.host(r.authority);
}

/** The response head: inbound adds this sidecar's metadata when the caller's was believed; outbound (mesh) reads the server's. */
export function responseHead(r: TelemetryRequest, headers: string[], meshed: boolean, controller: UpstreamController): void {
  const mx = r.listener.state.mx;
  if (r.listener.inbound) {
    const own = mx.own;
    if (r.mxReply && own !== null) headers.push(PEER_METADATA_ID_HEADER, own.id, PEER_METADATA_HEADER, own.value);
  } else {
    const principal = controller.peerPrincipal ?? null;
    r.upstreamPrincipal = principal;
    if (!meshed) return;
    const id = mx.outboundResponse(headers, principal, controller.mx ?? null);
    if (id !== -2) r.statsPeer = id;
  }
}

/** Outbound request end: without believed metadata, the endpoint's config is the peer (Istio's client fallback). */
export function outboundPeer(r: TelemetryRequest, endpoint: Endpoint | null): void {
  if (r.statsPeer !== -2) return;
  r.statsPeer = endpoint === null ? -1 : r.listener.state.mx.endpointPeer(endpoint, r.upstreamPrincipal);
}

/** PROTOCOL_HTTP, or gRPC (a request with content-type application/grpc…) with its status when it has one (request/grpc-call.ts). */
export function protocolCode(grpc: GrpcCall | null, recordedStatus: number): number {
  if (grpc === null) return PROTOCOL_HTTP;
  const status = grpc.recordedStatus(recordedStatus);
  return status < 0 ? PROTOCOL_GRPC : PROTOCOL_GRPC + 1 + status;
}
