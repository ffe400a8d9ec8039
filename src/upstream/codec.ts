// The seam between the request path and whatever speaks HTTP/1.1 to upstreams. A codec makes a
// pool per endpoint; a pool dispatches one request to a handler that receives the response as
// start / data / end / error, and a controller whose pause/resume/abort is the backpressure.
import type { Readable } from 'node:stream';
import type { ProxyError } from '../http/errors.js';

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
}

export interface UpstreamController {
  pause(): void;
  resume(): void;
  abort(reason: Error): void;
}

export interface UpstreamHandler {
  /** Called once, before any other callback; keep the controller to pause/resume/abort. */
  onUpstreamStart(controller: UpstreamController): void;
  /** status and flat raw headers [name, value, ...] (names in any case). 1xx never arrive here. */
  onUpstreamHeaders(status: number, headers: string[]): void;
  onUpstreamData(chunk: Buffer): void;
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
}

export interface PoolOptions {
  /** max connections per endpoint per worker */
  connections: number;
  /** close idle keep-alive connections after this long (kept below common upstream defaults of 5 s) */
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  /** close a connection after this many requests (DestinationRule maxRequestsPerConnection); 0 = no limit */
  maxRequestsPerConnection: number;
}

export interface UpstreamCodec {
  readonly name: string;
  createPool(address: string, port: number, options: PoolOptions): UpstreamPool;
}
