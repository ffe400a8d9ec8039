// The per-endpoint pool: at most `connections` sockets, idle ones reused LIFO, waiting exchanges
// served FIFO from a bounded queue, and one pool-level sweep timer (running only while the pool
// has connections) for idle, connect and queue timeouts: nothing is allocated per request for timing.
import { upstreamConnectFailure, upstreamOverflow, upstreamProtocolError, type ProxyError } from '../../http/errors.js';
import type { UpstreamTls } from '../../tls/outbound/client-tls.js';
import { MAX_QUEUED, type PoolOptions, type UpstreamHandler, type UpstreamPool, type UpstreamRequest } from '../codec.js';
import { CONNECTING, Connection, IDLE, type ConnectionOwner } from './connection.js';
import { takeExchange, type Exchange, type ExchangeOwner } from './exchange.js';
import { buildHead, headMxFrom, headMxTo, lastHeadError, noBodySuffix } from './request-writer.js';
import { PoolSweep } from '../pool-sweep.js';
import { WaitQueue } from '../wait-queue.js';
import { now } from '../../tcp/read-time.js';

export class H1Pool implements UpstreamPool, ConnectionOwner, ExchangeOwner {
  readonly origin: string;
  private readonly address: string;
  private readonly port: number;
  private readonly hostHeader: string;
  private readonly maxConnections: number;
  private readonly idleTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly queueTimeoutMs: number;
  readonly maxRequestsPerConnection: number;
  /** null: plaintext; otherwise every connection is mesh mTLS */
  private readonly tls: UpstreamTls | null;

  /** every connection, connecting or not */
  private readonly all: Connection[] = [];
  /** idle connections, least recently used first (reuse pops the most recent) */
  private readonly idle: Connection[] = [];
  private connecting = 0;
  /** exchanges waiting for a connection */
  private readonly queue = new WaitQueue<Exchange>();
  private readonly sweepTimer: PoolSweep;
  private closing = false;
  private destroyed = false;
  private closeWaiters: (() => void)[] = [];

  constructor(address: string, port: number, options: PoolOptions, tls: UpstreamTls | null = null) {
    this.address = address;
    this.port = port;
    this.tls = tls;
    const host = address.includes(':') ? `[${address}]` : address;
    this.hostHeader = `${host}:${port}`;
    this.origin = `${tls === null ? 'http' : 'https'}://${host}:${port}`;
    this.maxConnections = Math.max(1, options.connections | 0);
    this.idleTimeoutMs = options.idleTimeoutMs;
    this.connectTimeoutMs = options.connectTimeoutMs;
    this.queueTimeoutMs = options.queueTimeoutMs;
    this.maxRequestsPerConnection = options.maxRequestsPerConnection;
    this.sweepTimer = new PoolSweep(options, this.sweep);
  }

  /** For tests and stats. */
  get connectionCount(): number { return this.all.length; }
  get idleCount(): number { return this.idle.length; }
  get queued(): number { return this.queue.live; }
  get saturated(): boolean { return this.idle.length === 0 && this.all.length >= this.maxConnections; }

  dispatch(req: UpstreamRequest, handler: UpstreamHandler): void {
    const ex = takeExchange(this, handler, req.method, req.body, req.contentLength);
    handler.onUpstreamStart(ex);
    if (ex.done) return; // aborted from onUpstreamStart
    if (this.closing) return this.failNow(ex, upstreamConnectFailure('local connection failure', 'upstream pool closed'));
    // a request without a body gets its framing now: the head leaves as it is, in one write
    const complete = req.body === null || req.contentLength === 0;
    const conn = this.idle.pop();
    // on mesh mTLS, where this sidecar's metadata is in the head: a connection exchanging it once
    // stops sending it once the server's has been believed (telemetry/mx-once.ts), so the head for
    // such a connection leaves it out
    const mxFrom = req.mxLast === true && this.tls !== null ? req.headers.length - 4 : -1;
    const mxDone = mxFrom >= 0 && conn !== undefined && conn.mx !== null && conn.mx.peerId !== -2;
    const head = buildHead(req.method, req.path, req.headers, this.hostHeader, complete ? noBodySuffix(req.method) : '', mxFrom, mxDone);
    if (head === null) {
      if (conn !== undefined) this.idle.push(conn);
      return this.failNow(ex, upstreamProtocolError(lastHeadError()));
    }
    ex.head = head;
    ex.mxFrom = headMxFrom;
    ex.mxTo = headMxTo;
    if (conn !== undefined) return conn.assign(ex);
    if (this.queue.live >= MAX_QUEUED) return this.failNow(ex, upstreamOverflow(`${this.origin}: ${MAX_QUEUED} requests already wait for a connection`));
    this.queue.push(ex, now());
    this.pump();
  }

  close(): Promise<void> {
    this.closing = true;
    while (this.idle.length > 0) (this.idle.pop() as Connection).destroy();
    if (this.isDrained()) {
      this.sweepTimer.stop();
      return Promise.resolve();
    }
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  destroy(): Promise<void> {
    this.closing = true;
    this.destroyed = true;
    const waiting = this.queue.drain();
    while (this.idle.length > 0) (this.idle.pop() as Connection).destroy();
    for (const conn of this.all.slice()) conn.destroy('upstream pool destroyed');
    for (const ex of waiting) this.failNow(ex, upstreamConnectFailure('local connection failure', 'upstream pool destroyed'));
    this.checkClosed();
    return Promise.resolve();
  }

  // ---- ExchangeOwner ----

  queuedAborted(ex: Exchange): void {
    if (!this.queue.remove(ex)) return;
    this.checkClosed();
  }

  // ---- ConnectionOwner ----

  onConnected(conn: Connection): void {
    this.connecting--;
    this.release(conn);
  }

  onConnectFailed(conn: Connection, err: ProxyError): void {
    this.detach(conn, CONNECTING);
    // This connection was opened for the oldest waiting exchange; if no other connection is open
    // or on its way, nothing will serve the rest either.
    const failing: Exchange[] = [];
    const first = this.queue.shift();
    if (first !== null) failing.push(first);
    if (this.all.length === 0) failing.push(...this.queue.drain());
    for (const ex of failing) this.failNow(ex, err);
    this.pump();
    this.checkClosed();
  }

  release(conn: Connection): void {
    const ex = this.queue.shift();
    if (ex !== null) return conn.assign(ex);
    if (this.closing) {
      conn.destroy();
      return;
    }
    conn.since = now();
    this.idle.push(conn);
  }

  remove(conn: Connection, prev: number): void {
    this.detach(conn, prev);
    this.pump();
    this.checkClosed();
  }

  // ---- internals ----

  private detach(conn: Connection, prev: number): void {
    const i = conn.index;
    if (i >= 0 && this.all[i] === conn) {
      const last = this.all.pop() as Connection;
      if (last !== conn) {
        this.all[i] = last;
        last.index = i;
      }
      conn.index = -1;
    }
    if (prev === CONNECTING) this.connecting--;
    else if (prev === IDLE) {
      const j = this.idle.lastIndexOf(conn);
      if (j >= 0) this.idle.splice(j, 1);
    }
    if (this.all.length === 0) this.sweepTimer.stop();
  }

  /** Opens connections for waiting exchanges not already covered by connections on their way. */
  private pump(): void {
    while (this.queue.live > this.connecting && this.all.length < this.maxConnections && !this.destroyed) {
      const conn = new Connection(this, this.address, this.port, this.tls);
      conn.index = this.all.length;
      this.all.push(conn);
      this.connecting++;
      this.sweepTimer.start();
    }
  }

  private failNow(ex: Exchange, err: ProxyError): void {
    ex.done = true;
    ex.queued = false;
    ex.handler.onUpstreamError(err);
  }

  private isDrained(): boolean {
    return this.all.length === 0 && this.queue.live === 0;
  }

  private checkClosed(): void {
    if (!this.closing) return;
    if (this.queue.live === 0) {
      // nothing left to serve: connections still opening or idle are not needed any more
      while (this.idle.length > 0) (this.idle.pop() as Connection).destroy();
      if (this.connecting > 0) for (const conn of this.all.slice()) if (conn.state === CONNECTING) conn.destroy();
    }
    if (!this.isDrained()) return;
    this.sweepTimer.stop();
    const waiters = this.closeWaiters;
    this.closeWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private readonly sweep = (): void => {
    const t = now();
    if (this.idleTimeoutMs > 0) {
      // idle[0] is the least recently used
      let n = 0;
      while (n < this.idle.length && t - (this.idle[n] as Connection).since >= this.idleTimeoutMs) n++;
      if (n > 0) for (const conn of this.idle.splice(0, n)) conn.destroy();
    }
    if (this.connecting > 0 && this.connectTimeoutMs > 0) {
      for (const conn of this.all.slice()) {
        if (conn.state === CONNECTING && t - conn.since >= this.connectTimeoutMs) conn.connectTimedOut(this.connectTimeoutMs);
      }
    }
    if (this.queue.live > this.connecting && this.queueTimeoutMs > 0 && this.all.length >= this.maxConnections) this.expireQueued(t);
  };

  /**
   * At the connection cap, exchanges that waited longer than the queue timeout fail with 503 UO.
   * The oldest `connecting` ones are spared: connections on their way will take them (a slow
   * connect is the connect timeout's business). The queue is in arrival order, so the scan stops
   * at the first exchange still within its time.
   */
  private expireQueued(now: number): void {
    const expired = this.queue.expire(now, this.queueTimeoutMs, this.connecting);
    for (const ex of expired) {
      this.failNow(ex, upstreamOverflow(`${this.origin}: no connection within ${this.queueTimeoutMs} ms (${this.maxConnections} per worker, all busy)`));
    }
    this.checkClosed();
  }
}
