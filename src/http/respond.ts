// The one place that shapes synthetic replies (errors, redirects, direct responses): a short
// text body and `x-meshlet-flags` carrying the Envoy-style response flag, or for a gRPC request a
// trailers-only gRPC response (HTTP 200, grpc-status, grpc-message). The downstream adapter
// frames and writes them (ResponseSink.reply).
import type { ProxyError } from './errors.js';
import { FLAG_DPE, FLAG_FI, FLAG_IE, FLAG_NC, FLAG_NR, FLAG_RBAC, FLAG_UC, FLAG_UF, FLAG_UH, FLAG_UO, FLAG_UPE, FLAG_UR, FLAG_UT, flagNames } from '../stats/flags.js';
import { encodeGrpcMessage, GRPC_DEADLINE_EXCEEDED, GRPC_PERMISSION_DENIED, GRPC_UNAVAILABLE, httpToGrpcStatus } from './grpc.js';
import { statusLine } from './status-lines.js';

export const FLAGS_HEADER = 'x-meshlet-flags';

export interface Reply {
  /** flat [lowercase name, value, ...], no framing headers */
  headers: string[];
  /** the body's bytes, one char per byte (latin1) */
  body: string;
}

export function errorReply(err: ProxyError, requestId: string): Reply {
  const headers = [FLAGS_HEADER, flagNames(err.flag), 'content-type', 'text/plain; charset=utf-8'];
  if (requestId !== '') headers.push('x-request-id', requestId);
  if (err.code === 'WEBSOCKET_VERSION') headers.push('sec-websocket-version', '13');
  // RFC 6750 §3: the token was refused
  if (err.code === 'JWT_AUTHN') headers.push('www-authenticate', 'Bearer error="invalid_token"');
  return { headers, body: bodyFor(err) };
}

function bodyFor(err: ProxyError): string {
  if (err.code === 'JWT_AUTHN') return err.message; // Envoy's words, e.g. "Jwt is expired"
  const f = err.flag;
  if ((f & FLAG_NR) !== 0) return `no route (NR): ${err.message}\n`;
  if ((f & FLAG_NC) !== 0) return `no cluster (NC): ${err.message}\n`;
  if ((f & FLAG_UH) !== 0) return `no healthy upstream (UH): ${err.message}\n`;
  // Envoy's own words, which name no address: the detail is in the access log
  if ((f & (FLAG_UF | FLAG_UC | FLAG_UO)) !== 0) return err.message;
  if ((f & FLAG_UT) !== 0) return 'upstream request timeout (UT)\n';
  if ((f & FLAG_UPE) !== 0) return `bad upstream response (UPE): ${err.message}\n`;
  if ((f & FLAG_DPE) !== 0) return err.status === 400 ? `bad request: ${err.message}\n` : `${statusLine(err.status).slice(4).toLowerCase()}: ${err.message}\n`;
  if ((f & FLAG_IE) !== 0) return 'internal error\n';
  if ((f & FLAG_FI) !== 0) return 'fault filter abort\n';
  if ((f & FLAG_RBAC) !== 0) return 'RBAC: access denied';
  return `${err.message} (${flagNames(f)})\n`;
}

/** A local reply for a gRPC request: HTTP 200 and a trailers-only response carrying the status. */
export interface GrpcReply extends Reply {
  grpcStatus: number;
}

/**
 * The reply to a gRPC request that failed in meshlet (Envoy's gRPC-shaped local reply): HTTP
 * 200, content-type application/grpc, grpc-status and grpc-message, no body. No route, no
 * cluster, no healthy upstream, overflow and upstream failures → 14 UNAVAILABLE; timeout → 4
 * DEADLINE_EXCEEDED; policy denial → 7 PERMISSION_DENIED; a fault's grpcStatus as configured;
 * anything else as Envoy maps its HTTP status.
 */
export function grpcErrorReply(err: ProxyError, requestId: string): GrpcReply {
  const grpcStatus = grpcStatusFor(err);
  const headers = ['content-type', 'application/grpc', 'grpc-status', String(grpcStatus), 'grpc-message', encodeGrpcMessage(grpcMessage(err)),
    FLAGS_HEADER, flagNames(err.flag)];
  if (requestId !== '') headers.push('x-request-id', requestId);
  return { headers, body: '', grpcStatus };
}

function grpcStatusFor(err: ProxyError): number {
  if (err.grpcStatus >= 0) return err.grpcStatus;
  const f = err.flag;
  if ((f & FLAG_UT) !== 0) return GRPC_DEADLINE_EXCEEDED;
  if ((f & FLAG_RBAC) !== 0) return GRPC_PERMISSION_DENIED;
  if ((f & (FLAG_NR | FLAG_NC | FLAG_UH | FLAG_UO | FLAG_UF | FLAG_UC | FLAG_UR)) !== 0) return GRPC_UNAVAILABLE;
  return httpToGrpcStatus(err.status);
}

/** The reply body's words, on one line (grpc-message is a header). */
function grpcMessage(err: ProxyError): string {
  const body = bodyFor(err);
  return body.endsWith('\n') ? body.slice(0, -1) : body;
}

export function redirectReply(location: string, requestId: string): Reply {
  return { headers: ['location', location, 'x-request-id', requestId], body: '' };
}

export function directReply(body: string, requestId: string): Reply {
  return { headers: ['content-type', 'text/plain; charset=utf-8', 'x-request-id', requestId], body: utf8AsLatin1(body) };
}

/** Replies are written as latin1 (one char, one byte): a UTF-8 body from the config is turned into its bytes first. */
function utf8AsLatin1(s: string): string {
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0x7f) return Buffer.from(s, 'utf8').toString('latin1');
  }
  return s;
}
