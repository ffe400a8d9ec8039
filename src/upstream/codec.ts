// The seam between the request path and whatever speaks HTTP to upstreams (HTTP/1.1: h1/, HTTP/2:
// h2/). A codec makes a pool per endpoint; a pool dispatches one request to a handler that
// receives the response as start / headers / data / trailers / end / error, and a controller
// whose pause/resume/abort is the backpressure.
import type { Readable } from 'node:stream';
import type { ProxyError } from '../http/errors.js';
import type { MxOnce } from '../telemetry/mx-once.js';
import type { UpstreamTls } from '../tls/outbound/client-tls.js';

export interface UpstreamRequest {
  method: string;
  /** path + query, as sent upstream */
  path: string;
  /** flat [lowercase name, value, ...]; includes `host`; never hop-by-hop or framing headers */
  headers: string[];
  /** null for no body; otherwise a byte stream the codec reads with backpressure */
  body: Readable | null;
  /** body length when the client sent Content-Length, -1 when unknown (sent chunked) */
  contentLength: number;
  /**
   * the client sent `te: trailers` (gRPC does). TE is hop-by-hop, so it is not in `headers`; the
   * HTTP/2 codec sends `te: trailers` upstream when this is set (RFC 9113 §8.2.2 allows only that value).
   */
  teTrailers?: boolean;
  /** the client spoke HTTP/2 (a useClientProtocol cluster sends it over HTTP/2) */
  fromHttp2?: boolean;
  /** the last two headers are this sidecar's metadata (x-envoy-peer-metadata-id, x-envoy-peer-metadata) */
  mxLast?: boolean;
}

export interface UpstreamController {
  /** the codec calls onUpstreamReadEnd after each read it delivered (h1); otherwise handlers flush on their own */
  readonly signalsReadEnd: boolean;
  /** response header names are tokens and values carry no CR, LF or NUL: the codec checked them */
  readonly headersValidated: boolean;
  /**
   * defined when the codec hands out response heads already filtered for the client, as
   * filterResponseHeaders does (the h1 codec, which filters a head once and hands the same head
   * again out without filtering it again): the head's Content-Length then (-1: none)
   */
  readonly filteredLength?: number;
  /** body chunks stay valid after onUpstreamData returns (nothing reuses them): a sink may keep them without a copy */
  readonly chunksOwned?: boolean;
  /** the upstream's verified SPIFFE id when the connection is mesh mTLS; null (or absent) otherwise */
  readonly peerPrincipal?: string | null;
  /** the connection's metadata exchange once per connection (telemetry/mx-once.ts), if it has one */
  readonly mx?: MxOnce | null;
  pause(): void;
  resume(): void;
  abort(reason: Error): void;
  /** Flow-control state in one line, for the debug log when a client goes away mid-exchange. */
  describe(): string;
  /**
   * The caller will not touch this controller again (its request was answered and its handler is
   * reused): a codec may reuse the object for another request once it has let go of it too.
   */
  recycle?(): void;
}

export interface UpstreamHandler {
  /** Called once, before any other callback; keep the controller to pause/resume/abort. */
  onUpstreamStart(controller: UpstreamController): void;
  /**
   * status and flat raw headers [name, value, ...] (names in any case), or filtered ones when the
   * controller has filteredLength. 1xx never arrive here.
   */
  onUpstreamHeaders(status: number, headers: string[]): void;
  /** A body chunk, valid during the call only (it may be a view of a reused read buffer): copy what is kept. */
  onUpstreamData(chunk: Buffer): void;
  /**
   * Everything one upstream read carried has been delivered (codecs whose controller has
   * signalsReadEnd): a handler holding a response head back, to send it with the first body
   * bytes in one write, sends it now.
   */
  onUpstreamReadEnd?(): void;
  /**
   * The response's trailer fields (flat raw [name, value, ...]: an HTTP/2 trailing HEADERS frame,
   * or an HTTP/1.1 chunked body's trailer section), just before onUpstreamEnd.
   */
  onUpstreamTrailers?(trailers: string[]): void;
  onUpstreamEnd(): void;
  /** At most once, instead of onUpstreamEnd; the error is already typed (flag, status, retryable). */
  onUpstreamError(err: ProxyError): void;
}

export interface UpstreamPool {
  readonly origin: string;
  /** open connections (busy or idle), for /clusters and metrics */
  readonly connectionCount: number;
  dispatch(req: UpstreamRequest, handler: UpstreamHandler): void;
  /** Finish in-flight requests, then close every connection. */
  close(): Promise<void>;
  /** Close everything now. */
  destroy(): Promise<void>;
  /**
   * Every connection the pool may open is open and busy: a request dispatched now would wait (up
   * to queueTimeoutMs). The balancer prefers another endpoint of the cluster.
   */
  readonly saturated: boolean;
}

/** Requests waiting for a connection in one pool beyond this fail at once (503 UO). */
export const MAX_QUEUED = 16 * 1024;

export interface PoolOptions {
  /** max connections per endpoint per worker (the safety cap; see PoolRegistry for DestinationRule limits) */
  connections: number;
  /** a request waiting because every allowed connection is busy fails with 503 UO after this long; 0 = no limit */
  queueTimeoutMs: number;
  /** close idle keep-alive connections after this long (kept below common upstream defaults of 5 s) */
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  /** close a connection after this many requests (DestinationRule maxRequestsPerConnection); 0 = no limit */
  maxRequestsPerConnection: number;
  /** HTTP/2: streams per connection at most (DestinationRule maxConcurrentStreams); 0 = the peer's SETTINGS */
  maxConcurrentStreams?: number;
}

export interface UpstreamCodec {
  readonly name: string;
  /** `tls` non-null: the pool's connections speak mesh mTLS (ISTIO_MUTUAL) */
  createPool(address: string, port: number, options: PoolOptions, tls?: UpstreamTls | null): UpstreamPool;
}
