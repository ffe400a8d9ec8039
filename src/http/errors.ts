// Typed proxy failures. Each carries the HTTP status meshlet answers with, its Envoy-style
// response flags (a bit set, see src/stats/flags.ts), where it came from and whether a retry
// could succeed. respond.ts is the one place that turns them into responses.
import {
  FLAG_NONE, FLAG_DPE, FLAG_FI, FLAG_IE, FLAG_NC, FLAG_NR, FLAG_RBAC, FLAG_UC, FLAG_UF, FLAG_UH, FLAG_UO, FLAG_UPE, FLAG_UR, FLAG_URX, FLAG_UT, FLAG_DC,
} from '../stats/flags.js';

export type ErrorSource = 'downstream' | 'upstream' | 'internal';

export class ProxyError extends Error {
  readonly code: string;
  readonly status: number;
  /** response flags (bits) */
  readonly flag: number;
  readonly source: ErrorSource;
  readonly retryable: boolean;
  /** What happened, with addresses and errno: for the access log and logs, never for a reply body. */
  readonly detail: string;
  /** HTTP/2 error code for a client stream reset because of this error (an upstream's RST_STREAM code passed on); -1: the sink's default */
  readonly resetCode: number;
  /** the gRPC status a gRPC request's reply carries (a fault's grpcStatus); -1: derived from the flags (respond.ts) */
  grpcStatus = -1;
  constructor(code: string, status: number, flag: number, source: ErrorSource, retryable: boolean, message: string, detail = '', resetCode = -1) {
    super(message);
    this.resetCode = resetCode;
    this.name = 'ProxyError';
    this.code = code;
    this.status = status;
    this.flag = flag;
    this.source = source;
    this.retryable = retryable;
    this.detail = detail;
  }
}

/** The start of Envoy's local reply to a request whose upstream failed before any response header. */
export const RESET_BEFORE_HEADERS = 'upstream connect error or disconnect/reset before headers. ';

/** Envoy's reset reasons (Http::Utility::resetReasonToString) for the failures meshlet tells apart. */
export type ConnectFailureReason = 'remote connection failure' | 'local connection failure' | 'connection timeout';

/** Envoy's transport failure reasons for connect errors: the OS's text for the errno, never an address. */
const TRANSPORT_FAILURE: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'Connection refused',
  ECONNRESET: 'Connection reset by peer',
  EHOSTUNREACH: 'No route to host',
  ENETUNREACH: 'Network is unreachable',
  ETIMEDOUT: 'Connection timed out',
  EADDRNOTAVAIL: 'Cannot assign requested address',
};

/** `, transport failure reason: delayed connect error: …` for a known errno code, else ''. */
function transportFailure(errno: string): string {
  const text = TRANSPORT_FAILURE[errno];
  return text === undefined ? '' : `, transport failure reason: delayed connect error: ${text}`;
}

/** No route matched: Envoy NR. */
export function noRoute(host: string, path: string): ProxyError {
  return new ProxyError('NO_ROUTE', 404, FLAG_NR, 'internal', false, `no route for host "${host}" path "${path}"`);
}

/** The route's destination names no known cluster or subset: Envoy NC. */
export function noCluster(reason: string): ProxyError {
  return new ProxyError('NO_CLUSTER', 503, FLAG_NC, 'internal', false, reason);
}

/** The cluster exists but has no (healthy) endpoint: Envoy UH. */
export function noHealthyUpstream(cluster: string): ProxyError {
  return new ProxyError('NO_HEALTHY_UPSTREAM', 503, FLAG_UH, 'internal', false, `no healthy upstream in ${cluster}`);
}

/**
 * No connection could be made (refused, unreachable, TLS handshake or peer identity refused,
 * connect timeout): 503 UF, as Envoy. The request never left, so it can be retried. `errno` (e.g.
 * ECONNREFUSED) picks Envoy's transport failure reason; `detail` (addresses) goes to logs only.
 */
export function upstreamConnectFailure(reason: ConnectFailureReason, detail: string, errno = ''): ProxyError {
  return new ProxyError('UPSTREAM_CONNECT_FAILURE', 503, FLAG_UF, 'upstream', true,
    `${RESET_BEFORE_HEADERS}reset reason: ${reason}${transportFailure(errno)}`, detail);
}

/**
 * The connection was closed or reset after the request went out and before any response header:
 * 503 UC (Envoy's upstream connection termination). `retryable`: the request cannot have reached
 * the app (a reused keep-alive connection the upstream had closed, or a request still waiting).
 */
export function upstreamConnectionTermination(detail: string, retryable: boolean): ProxyError {
  return new ProxyError('UPSTREAM_CONNECTION_TERMINATION', 503, FLAG_UC, 'upstream', retryable,
    `${RESET_BEFORE_HEADERS}reset reason: connection termination`, detail);
}

/** Upstream sent something that is not valid HTTP/1.1 (or a forbidden header value): Envoy UPE. */
export function upstreamProtocolError(detail: string): ProxyError {
  return new ProxyError('UPSTREAM_PROTOCOL_ERROR', 502, FLAG_UPE, 'upstream', false, `upstream protocol error: ${detail}`);
}

/**
 * Upstream reset after the response started: the client connection is closed (an HTTP/2 client's
 * stream is reset, with the upstream's RST_STREAM code when there was one), no status is possible.
 */
export function upstreamResetMidResponse(detail: string, resetCode = -1): ProxyError {
  return new ProxyError('UPSTREAM_RESET', 502, FLAG_UR, 'upstream', false, `upstream reset mid-response: ${detail}`, '', resetCode);
}

/**
 * The upstream reset its HTTP/2 stream (RST_STREAM) before any response header: 503 UR, Envoy's
 * "remote reset". REFUSED_STREAM means the request was never processed, so it may be retried
 * (retryOn refused-stream, in Istio's default).
 */
export function upstreamStreamReset(refused: boolean, detail: string): ProxyError {
  return new ProxyError('UPSTREAM_STREAM_RESET', 503, FLAG_UR, 'upstream', refused,
    `${RESET_BEFORE_HEADERS}reset reason: ${refused ? 'remote refused stream reset' : 'remote reset'}`, detail);
}

export function upstreamTimeout(ms: number): ProxyError {
  return new ProxyError('UPSTREAM_TIMEOUT', 504, FLAG_UT, 'upstream', true, `upstream request timeout after ${ms} ms`);
}

/** The request cannot be forwarded as sent: 400 with flag DPE (downstream protocol error). */
export function badRequest(detail: string): ProxyError {
  return new ProxyError('BAD_REQUEST', 400, FLAG_DPE, 'downstream', false, detail);
}

/** The downstream went away. Nothing is written; used to abort the upstream side. */
export function downstreamAborted(): ProxyError {
  return new ProxyError('DOWNSTREAM_ABORTED', 499, FLAG_DC, 'downstream', false, 'downstream connection closed');
}

export function internalError(err: unknown): ProxyError {
  if (err instanceof ProxyError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ProxyError('INTERNAL', 500, FLAG_IE, 'internal', false, `internal error: ${message}`);
}

/**
 * VirtualService fault abort: the upstream is never contacted (Envoy's body and flag). `grpcStatus`
 * (abort.grpcStatus, -1 when httpStatus is used): a gRPC request gets it in its gRPC-shaped reply.
 */
export function faultAbort(status: number, grpcStatus = -1): ProxyError {
  const err = new ProxyError('FAULT_ABORT', status, FLAG_FI, 'internal', false, 'fault filter abort');
  err.grpcStatus = grpcStatus;
  return err;
}

/** The same failure, reported after the route's retries were used up: Envoy adds URX ("UF,URX") and says so in the body. */
export function retriesExhausted(err: ProxyError): ProxyError {
  const m = err.message;
  const message = m.startsWith(RESET_BEFORE_HEADERS) ? `${RESET_BEFORE_HEADERS}retried and the latest ${m.slice(RESET_BEFORE_HEADERS.length)}` : `${m} (retries exhausted)`;
  return new ProxyError(err.code, err.status, err.flag | FLAG_URX, err.source, false, message, err.detail);
}

/**
 * A connection limit is reached: a DestinationRule connectionPool limit (refused at once), or the
 * per-worker connection cap of an endpoint whose wait timed out. 503 UO with Envoy's body.
 */
export function upstreamOverflow(detail: string): ProxyError {
  return new ProxyError('UPSTREAM_OVERFLOW', 503, FLAG_UO, 'internal', false, `${RESET_BEFORE_HEADERS}reset reason: overflow`, detail);
}

/** An AuthorizationPolicy denied the request: 403 `RBAC: access denied`, flag RBAC (as Envoy). */
export function rbacDenied(policy: string): ProxyError {
  return new ProxyError('RBAC_DENIED', 403, FLAG_RBAC, 'downstream', false, `denied by ${policy}`);
}

/**
 * RequestAuthentication: a JWT was presented and did not verify. 401 with Envoy's reason as the
 * body (e.g. "Jwt is expired") and no response flag, as Envoy's jwt_authn answers.
 */
export function jwtRejected(reason: string): ProxyError {
  return new ProxyError('JWT_AUTHN', 401, FLAG_NONE, 'downstream', false, reason);
}

// Requests meshlet's HTTP/1.1 listener refuses while reading them (flag DPE, as Envoy's codec
// errors): each reply closes the connection, since what follows on it cannot be framed safely.

/** A request head over the size or header-count limit: 431 (Envoy's default limits). */
export function headersTooLarge(detail: string): ProxyError {
  return new ProxyError('HEADERS_TOO_LARGE', 431, FLAG_DPE, 'downstream', false, detail);
}

/** A request version other than HTTP/1.1 or 1.0: 505. */
export function versionNotSupported(version: string): ProxyError {
  return new ProxyError('VERSION_NOT_SUPPORTED', 505, FLAG_DPE, 'downstream', false, `${version} is not supported`);
}

/** HTTP/1.0 while it is not accepted: 426, as Envoy answers under Istio's default. */
export function upgradeRequired(): ProxyError {
  return new ProxyError('UPGRADE_REQUIRED', 426, FLAG_DPE, 'downstream', false, 'HTTP/1.0 is not accepted (use HTTP/1.1)');
}

/** A transfer coding or method meshlet cannot forward: 501 (RFC 9112 §6.1). */
export function notImplemented(detail: string): ProxyError {
  return new ProxyError('NOT_IMPLEMENTED', 501, FLAG_DPE, 'downstream', false, detail);
}

/** An Expect other than 100-continue: 417 (RFC 9110 §10.1.1). */
export function expectationFailed(detail: string): ProxyError {
  return new ProxyError('EXPECTATION_FAILED', 417, FLAG_DPE, 'downstream', false, detail);
}

/** The request head (or its body) stopped arriving: 408. */
export function requestTimeout(detail: string): ProxyError {
  return new ProxyError('REQUEST_TIMEOUT', 408, FLAG_DPE, 'downstream', false, detail);
}

/** A WebSocket opening handshake that is not one (RFC 6455 §4.2.1: GET, one valid Sec-WebSocket-Key): 400. */
export function badWebSocketHandshake(detail: string): ProxyError {
  return new ProxyError('BAD_WEBSOCKET_HANDSHAKE', 400, FLAG_DPE, 'downstream', false, detail);
}

/** A WebSocket version other than 13: 426 with `Sec-WebSocket-Version: 13` (RFC 6455 §4.4). */
export function webSocketVersionUnsupported(version: string): ProxyError {
  return new ProxyError('WEBSOCKET_VERSION', 426, FLAG_DPE, 'downstream', false, `Sec-WebSocket-Version "${version.slice(0, 16)}" is not supported (13 is)`);
}
