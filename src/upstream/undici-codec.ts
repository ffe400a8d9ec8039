// The undici-backed codec: one undici Pool per endpoint, requests via `dispatch` with the
// controller-style handler API. Kept as the reference implementation behind UpstreamCodec.
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import {
  ProxyError, downstreamAborted, upstreamConnectFailure, upstreamConnectionTermination, upstreamOverflow, upstreamProtocolError,
  upstreamResetMidResponse, upstreamTimeout,
} from '../http/errors.js';
import type { UpstreamTls } from '../tls/outbound/client-tls.js';
import {
  MAX_QUEUED, type PoolOptions, type UpstreamCodec, type UpstreamController, type UpstreamHandler, type UpstreamPool, type UpstreamRequest,
} from './codec.js';

type Controller = Dispatcher.DispatchController;

/** Adapts undici's handler callbacks to UpstreamHandler; one per request. */
class UndiciExchange implements Dispatcher.DispatchHandler, UpstreamController {
  readonly signalsReadEnd = false;
  readonly headersValidated = false;
  readonly handler: UpstreamHandler;
  readonly request: UpstreamRequest;
  private readonly pool: UndiciPool;
  private controller: Controller | null = null;
  private started = false;
  /** the handler got its end or error, or the caller aborted */
  finished = false;
  /** handed to undici (holds one of the pool's connections until undici is done with it) */
  sent = false;
  /** Date.now() when it started waiting for a connection */
  queuedAt = 0;

  constructor(pool: UndiciPool, request: UpstreamRequest, handler: UpstreamHandler) {
    this.pool = pool;
    this.request = request;
    this.handler = handler;
  }

  pause(): void { this.controller?.pause(); }
  resume(): void { this.controller?.resume(); }
  describe(): string { return `undici exchange sent=${this.sent} paused=${this.controller?.paused ?? 'n/a'}`; }
  abort(reason: Error): void {
    if (this.finished) return;
    this.finished = true;
    this.controller?.abort(reason); // before onRequestStart: aborted there
  }

  /** Fails a request that never reached undici (queue timeout, pool closed). */
  fail(err: ProxyError): void {
    if (this.finished) return;
    this.finished = true;
    this.handler.onUpstreamError(err);
  }

  onRequestStart(controller: Controller): void {
    this.controller = controller;
    if (this.finished) controller.abort(downstreamAborted());
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
    this.pool.released(this);
    if (this.finished) return;
    this.finished = true;
    this.handler.onUpstreamEnd();
  }

  onResponseError(_controller: Controller, err: Error): void {
    this.pool.released(this);
    if (this.finished) return;
    this.finished = true;
    this.handler.onUpstreamError(mapError(err, this.started));
  }
}

/** errno codes of a connection that could not be made */
const CONNECT_ERRNOS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN']);

function mapError(err: Error, started: boolean): ProxyError {
  if (err instanceof ProxyError) return err;
  const code = (err as { code?: string }).code ?? '';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return upstreamTimeout(0);
  if (code.startsWith('HPE_') || code === 'UND_ERR_INVALID_ARG') return upstreamProtocolError(err.message);
  const detail = `${code || err.name} ${err.message}`.trim();
  if (started) return upstreamResetMidResponse(detail);
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return upstreamConnectFailure('connection timeout', detail);
  if (CONNECT_ERRNOS.has(code)) return upstreamConnectFailure('remote connection failure', detail, code);
  return upstreamConnectionTermination(detail, false);
}

/**
 * One undici Pool per endpoint. Requests beyond `connections` in flight wait here (not in undici's
 * unbounded queue), so the pool can say it is saturated and a wait past queueTimeoutMs is a 503 UO.
 */
class UndiciPool implements UpstreamPool {
  readonly origin: string;
  private readonly pool: Pool;
  private readonly maxInflight: number;
  private readonly queueTimeoutMs: number;
  private inflight = 0;
  private waiting: UndiciExchange[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(address: string, port: number, options: PoolOptions) {
    const host = address.includes(':') ? `[${address}]` : address;
    this.origin = `http://${host}:${port}`;
    this.maxInflight = Math.max(1, options.connections | 0);
    this.queueTimeoutMs = options.queueTimeoutMs;
    this.pool = new Pool(this.origin, {
      connections: this.maxInflight,
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

  get saturated(): boolean {
    return this.inflight >= this.maxInflight;
  }

  dispatch(req: UpstreamRequest, handler: UpstreamHandler): void {
    const ex = new UndiciExchange(this, req, handler);
    handler.onUpstreamStart(ex);
    if (ex.finished) return;
    if (this.inflight < this.maxInflight) return this.send(ex);
    if (this.waiting.length >= MAX_QUEUED) return ex.fail(upstreamOverflow(`${this.origin}: ${MAX_QUEUED} requests already wait for a connection`));
    ex.queuedAt = Date.now();
    this.waiting.push(ex);
    if (this.timer === null && this.queueTimeoutMs > 0) {
      this.timer = setInterval(expireWaiting, Math.max(5, Math.min(1000, this.queueTimeoutMs >> 3)), this);
      this.timer.unref();
    }
  }

  private send(ex: UndiciExchange): void {
    this.inflight++;
    ex.sent = true;
    const req = ex.request;
    this.pool.dispatch({
      origin: this.origin,
      method: req.method as Dispatcher.HttpMethod,
      path: req.path,
      headers: req.headers,
      body: req.body,
      // undici treats a set content-length as the body framing; otherwise it streams chunked.
      reset: false,
    }, ex);
  }

  /** undici is done with `ex`: its connection can take the next waiting request. */
  released(ex: UndiciExchange): void {
    if (!ex.sent) return;
    ex.sent = false;
    this.inflight--;
    while (this.waiting.length > 0 && this.inflight < this.maxInflight) {
      const next = this.waiting.shift() as UndiciExchange;
      if (!next.finished) this.send(next);
    }
    this.stopTimerIfIdle();
  }

  expire(now: number): void {
    let n = 0;
    while (n < this.waiting.length) {
      const ex = this.waiting[n] as UndiciExchange;
      if (!ex.finished && now - ex.queuedAt < this.queueTimeoutMs) break;
      n++;
    }
    if (n === 0) return;
    const expired = this.waiting.splice(0, n);
    for (const ex of expired) ex.fail(upstreamOverflow(`${this.origin}: no connection within ${this.queueTimeoutMs} ms (${this.maxInflight} per worker, all busy)`));
    this.stopTimerIfIdle();
  }

  private stopTimerIfIdle(): void {
    if (this.waiting.length === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private failWaiting(why: string): void {
    const waiting = this.waiting;
    this.waiting = [];
    this.stopTimerIfIdle();
    for (const ex of waiting) ex.fail(upstreamConnectFailure('local connection failure', why));
  }

  close(): Promise<void> {
    this.failWaiting('upstream pool closed');
    return this.pool.close();
  }

  destroy(): Promise<void> {
    this.failWaiting('upstream pool destroyed');
    return this.pool.destroy();
  }
}

function expireWaiting(pool: UndiciPool): void {
  pool.expire(Date.now());
}

/** The undici codec does not speak mesh mTLS: such a cluster fails its requests (UF) rather than go out in plaintext. */
class NoTlsPool implements UpstreamPool {
  readonly origin: string;
  readonly connectionCount = 0;
  readonly saturated = false;
  constructor(address: string, port: number) { this.origin = `https://${address}:${port}`; }
  dispatch(_req: UpstreamRequest, handler: UpstreamHandler): void {
    handler.onUpstreamStart({ signalsReadEnd: false, headersValidated: false, pause() {}, resume() {}, abort() {}, describe: () => 'no TLS pool' });
    handler.onUpstreamError(upstreamConnectFailure('local connection failure', 'ISTIO_MUTUAL upstreams need the h1 codec (--upstream-codec h1)'));
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
