// VirtualService `retries` compiled once per route: which failures and statuses are retried, and
// the back-off between tries (Envoy: 25 ms base, exponential, full jitter, 250 ms cap).
import type { RetrySpec } from '../../config/snapshot.js';
import type { ProxyError } from '../../http/errors.js';
import { FLAG_UC, FLAG_UF, FLAG_UR, FLAG_UT } from '../../stats/flags.js';

const BACKOFF_BASE_MS = 25;
const BACKOFF_MAX_MS = 250;

export class RetryPolicy {
  readonly attempts: number;
  readonly perTryTimeoutMs: number;
  private readonly connectFailure: boolean;
  private readonly refusedStream: boolean;
  private readonly reset: boolean;
  private readonly any5xx: boolean;
  private readonly gatewayError: boolean;
  private readonly retriable4xx: boolean;
  private readonly codes: Set<number>;
  /** gRPC statuses retried (retryOn cancelled, deadline-exceeded, internal, resource-exhausted, unavailable) */
  private readonly grpcCodes: Set<number>;

  constructor(spec: RetrySpec) {
    const on = new Set(spec.retryOn);
    this.attempts = spec.attempts;
    this.perTryTimeoutMs = spec.perTryTimeoutMs;
    this.any5xx = on.has('5xx');
    this.gatewayError = on.has('gateway-error');
    // HTTP/1.1 has no refused stream: a refused connection is its closest meaning
    this.connectFailure = on.has('connect-failure') || on.has('refused-stream') || this.any5xx || this.gatewayError;
    this.reset = on.has('reset') || this.any5xx || this.gatewayError;
    // HTTP/2 REFUSED_STREAM: the request was never processed (Envoy: refused-stream, and 5xx / reset cover it)
    this.refusedStream = on.has('refused-stream') || this.reset;
    this.retriable4xx = on.has('retriable-4xx');
    this.codes = new Set(spec.retriableStatusCodes);
    this.grpcCodes = new Set(spec.retryOn.flatMap((c) => (c in GRPC_CONDITIONS ? [GRPC_CONDITIONS[c] as number] : [])));
  }

  /**
   * A failure before any response byte: connect failures (the request never left) and resets
   * (it may have reached the app; only retried when asked for with `reset`, `5xx`, `gateway-error`).
   */
  retriesError(err: ProxyError): boolean {
    if (this.attempts === 0) return false;
    if (err.flag === FLAG_UF) return this.connectFailure;
    // a reused keep-alive connection the upstream had closed: the request never reached the app
    if (err.flag === FLAG_UC) return err.retryable ? this.connectFailure : this.reset;
    if (err.flag === FLAG_UT) return this.any5xx || this.gatewayError || this.reset;
    // an HTTP/2 stream reset before any response header (REFUSED_STREAM: never processed)
    if (err.flag === FLAG_UR) return err.retryable ? this.refusedStream : this.reset;
    return false;
  }

  /** A gRPC status in the response headers (a trailers-only response, as Envoy requires for a gRPC retry). */
  retriesGrpc(grpcStatus: number): boolean {
    return this.attempts > 0 && this.grpcCodes.has(grpcStatus);
  }

  retriesStatus(status: number): boolean {
    if (this.attempts === 0) return false;
    if (this.codes.has(status)) return true;
    if (status >= 500) return this.any5xx || (this.gatewayError && status >= 502 && status <= 504);
    return status === 409 && this.retriable4xx;
  }
}

/** Envoy's retriable gRPC conditions and the status each names. */
const GRPC_CONDITIONS: Readonly<Record<string, number>> = {
  'cancelled': 1, 'deadline-exceeded': 4, 'resource-exhausted': 8, 'internal': 13, 'unavailable': 14,
};

/** Back-off before retry number `n` (1-based): uniformly random in [0, min(cap, base × (2^n − 1))]. */
export function backoffMs(n: number): number {
  return Math.random() * Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * (2 ** n - 1));
}
