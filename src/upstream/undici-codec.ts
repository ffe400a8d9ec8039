// The undici-backed codec: one undici Pool per endpoint, requests via `dispatch` with the
// controller-style handler API. Kept as the reference implementation behind UpstreamCodec.
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import {
  ProxyError, upstreamConnectFailure, upstreamProtocolError, upstreamResetMidResponse, upstreamTimeout,
} from '../http/errors.js';
import type { UpstreamTls } from '../tls/outbound/client-tls.js';
import type { PoolOptions, UpstreamCodec, UpstreamController, UpstreamHandler, UpstreamPool, UpstreamRequest } from './codec.js';

type Controller = Dispatcher.DispatchController;

/** Adapts undici's handler callbacks to UpstreamHandler; one per request. */
class UndiciExchange implements Dispatcher.DispatchHandler, UpstreamController {
  readonly signalsReadEnd = false;
  readonly headersValidated = false;
  private readonly handler: UpstreamHandler;
  private controller: Controller | null = null;
  private started = false;
  private finished = false;

  constructor(handler: UpstreamHandler) {
    this.handler = handler;
  }

  pause(): void { this.controller?.pause(); }
  resume(): void { this.controller?.resume(); }
  describe(): string { return `undici exchange paused=${this.controller?.paused ?? 'n/a'}`; }
  abort(reason: Error): void {
    if (this.finished) return;
    this.finished = true;
    this.controller?.abort(reason);
  }

  onRequestStart(controller: Controller): void {
    this.controller = controller;
    this.handler.onUpstreamStart(this);
  }

  onResponseStart(_controller: Controller, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    if (this.finished || statusCode < 200) return;
    this.started = true;
    const flat: string[] = [];
    for (const name in headers) {
      const value = headers[name];
      if (value === undefined) continue;
      if (typeof value === 'string') flat.push(name, value);
      else for (const v of value) flat.push(name, v);
    }
    this.handler.onUpstreamHeaders(statusCode, flat);
  }

  onResponseData(_controller: Controller, chunk: Buffer): void {
    if (!this.finished) this.handler.onUpstreamData(chunk);
  }

  onResponseEnd(): void {
    if (this.finished) return;
    this.finished = true;
    this.handler.onUpstreamEnd();
  }

  onResponseError(_controller: Controller, err: Error): void {
    if (this.finished) return;
    this.finished = true;
    this.handler.onUpstreamError(mapError(err, this.started));
  }
}

function mapError(err: Error, started: boolean): ProxyError {
  if (err instanceof ProxyError) return err;
  const code = (err as { code?: string }).code ?? '';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return upstreamTimeout(0);
  if (code === 'HPE_INVALID_HEADER_TOKEN' || code.startsWith('HPE_') || code === 'UND_ERR_INVALID_ARG') {
    return started ? upstreamResetMidResponse(err.message) : upstreamProtocolError(err.message);
  }
  if (started) return upstreamResetMidResponse(`${code} ${err.message}`);
  return upstreamConnectFailure(`${code || err.name} ${err.message}`.trim(), code === 'ECONNREFUSED' || code === 'UND_ERR_CONNECT_TIMEOUT');
}

class UndiciPool implements UpstreamPool {
  readonly origin: string;
  private readonly pool: Pool;

  constructor(address: string, port: number, options: PoolOptions) {
    const host = address.includes(':') ? `[${address}]` : address;
    this.origin = `http://${host}:${port}`;
    this.pool = new Pool(this.origin, {
      connections: options.connections,
      pipelining: 1,
      keepAliveTimeout: options.idleTimeoutMs,
      keepAliveMaxTimeout: options.idleTimeoutMs,
      connectTimeout: options.connectTimeoutMs,
      ...(options.maxRequestsPerConnection > 0 ? { maxRequestsPerClient: options.maxRequestsPerConnection } : {}),
      headersTimeout: 0,
      bodyTimeout: 0,
    });
  }

  get connectionCount(): number {
    return this.pool.stats.connected;
  }

  dispatch(req: UpstreamRequest, handler: UpstreamHandler): void {
    const exchange = new UndiciExchange(handler);
    this.pool.dispatch({
      origin: this.origin,
      method: req.method as Dispatcher.HttpMethod,
      path: req.path,
      headers: req.headers,
      body: req.body,
      // undici treats a set content-length as the body framing; otherwise it streams chunked.
      reset: false,
    }, exchange);
  }

  close(): Promise<void> { return this.pool.close(); }
  destroy(): Promise<void> { return this.pool.destroy(); }
}

/** The undici codec does not speak mesh mTLS: such a cluster fails its requests (UF) rather than go out in plaintext. */
class NoTlsPool implements UpstreamPool {
  readonly origin: string;
  readonly connectionCount = 0;
  constructor(address: string, port: number) { this.origin = `https://${address}:${port}`; }
  dispatch(_req: UpstreamRequest, handler: UpstreamHandler): void {
    handler.onUpstreamStart({ signalsReadEnd: false, headersValidated: false, pause() {}, resume() {}, abort() {}, describe: () => 'no TLS pool' });
    handler.onUpstreamError(upstreamConnectFailure('ISTIO_MUTUAL upstreams need the h1 codec (--upstream-codec h1)', false));
  }
  close(): Promise<void> { return Promise.resolve(); }
  destroy(): Promise<void> { return Promise.resolve(); }
}

export const undiciCodec: UpstreamCodec = {
  name: 'undici',
  createPool(address: string, port: number, options: PoolOptions, tls: UpstreamTls | null = null): UpstreamPool {
    return tls === null ? new UndiciPool(address, port, options) : new NoTlsPool(address, port);
  },
};
