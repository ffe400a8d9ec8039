// The per-endpoint HTTP/2 pool of one worker: requests are multiplexed as streams on few
// connections — a new connection is opened only when every open one is at its stream limit
// (the peer's SETTINGS_MAX_CONCURRENT_STREAMS, the DestinationRule's maxConcurrentStreams) or
// request budget (maxRequestsPerConnection), up to `connections`. Requests that find no free
// stream wait FIFO in a bounded queue (503 UO after the queue timeout, as the h1 pool). One
// pool-level sweep timer (running only while the pool has connections) handles idle, connect
// and queue timeouts.
import { upstreamConnectFailure, upstreamOverflow, type ProxyError } from '../../http/errors.js';
import type { UpstreamTls } from '../../tls/outbound/client-tls.js';
import { MAX_QUEUED, type PoolOptions, type UpstreamHandler, type UpstreamPool, type UpstreamRequest } from '../codec.js';
import { CONNECTING, H2Connection, INITIAL_MAX_STREAMS, READY, type ConnectionOwner } from './connection.js';
import { H2Exchange } from './stream.js';
import { PoolSweep } from '../pool-sweep.js';
import { WaitQueue } from '../wait-queue.js';

export class H2Pool implements UpstreamPool, ConnectionOwner {
  readonly origin: string;
  private readonly address: string;
  private readonly port: number;
  private readonly tls: UpstreamTls | null;
  private readonly maxConnections: number;
  private readonly idleTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly queueTimeoutMs: number;
  readonly maxRequestsPerConnection: number;
  readonly maxConcurrentStreams: number;
  peerMaxStreams: number;

  /** every connection, connecting, ready or draining */
  private readonly all: H2Connection[] = [];
  private connecting = 0;
  private readonly queue = new WaitQueue<H2Exchange>();
  private readonly sweepTimer: PoolSweep;
  private closing = false;
  private destroyed = false;
  private closeWaiters: (() => void)[] = [];

  constructor(address: string, port: number, options: PoolOptions, tls: UpstreamTls | null = null) {
    this.address = address;
    this.port = port;
    this.tls = tls;
    const host = address.includes(':') ? `[${address}]` : address;
    this.origin = `${tls === null ? 'h2c' : 'h2'}://${host}:${port}`;
    this.maxConnections = Math.max(1, options.connections | 0);
    this.idleTimeoutMs = options.idleTimeoutMs;
    this.connectTimeoutMs = options.connectTimeoutMs;
    this.queueTimeoutMs = options.queueTimeoutMs;
    this.maxRequestsPerConnection = options.maxRequestsPerConnection;
    this.maxConcurrentStreams = options.maxConcurrentStreams ?? 0;
    this.peerMaxStreams = this.maxConcurrentStreams > 0 ? Math.min(this.maxConcurrentStreams, INITIAL_MAX_STREAMS) : INITIAL_MAX_STREAMS;
    this.sweepTimer = new PoolSweep(options, this.sweep);
  }

  get connectionCount(): number { return this.all.length; }
  get queued(): number { return this.queue.live; }

  /** Every connection it may open is open and has no free stream. */
  get saturated(): boolean {
    if (this.all.length < this.maxConnections) return false;
    for (const c of this.all) if (c.free > 0) return false;
    return true;
  }

  dispatch(req: UpstreamRequest, handler: UpstreamHandler): void {
    const ex = new H2Exchange(handler, req);
    handler.onUpstreamStart(ex);
    if (ex.done) return; // aborted from onUpstreamStart
    if (this.closing) return this.failNow(ex, upstreamConnectFailure('local connection failure', 'upstream pool closed'));
    if (this.queue.live === 0) {
      const conn = this.withFreeStream();
      if (conn !== null) return conn.start(ex);
    }
    if (this.queue.live >= MAX_QUEUED) return this.failNow(ex, upstreamOverflow(`${this.origin}: ${MAX_QUEUED} requests already wait for a stream`));
    ex.owner = this;
    this.queue.push(ex, Date.now());
    this.pump();
  }

  close(): Promise<void> {
    this.closing = true;
    for (const c of this.all.slice()) if (c.active === 0) c.drain();
    if (this.isDrained()) {
      this.sweepTimer.stop();
      return Promise.resolve();
    }
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  destroy(): Promise<void> {
    this.closing = true;
    this.destroyed = true;
    const waiting = this.dequeueAll();
    for (const c of this.all.slice()) c.destroy('upstream pool destroyed');
    for (const ex of waiting) this.failNow(ex, upstreamConnectFailure('local connection failure', 'upstream pool destroyed'));
    this.checkClosed();
    return Promise.resolve();
  }

  // ---- StreamOwner (queued exchanges) / ConnectionOwner ----

  readonly goneReason = null;
  readonly peerPrincipal = null;

  streamClosed(): void {
    // (queued exchanges have no stream)
  }

  queuedAborted(ex: H2Exchange): void {
    if (!this.queue.remove(ex)) return;
    this.checkClosed();
  }

  onConnected(conn: H2Connection): void {
    this.connecting--;
    this.serveQueue(conn);
  }

  onConnectFailed(conn: H2Connection, err: ProxyError): void {
    this.detach(conn, true);
    // opened for the oldest waiting request; if nothing else is open or on its way, nothing will serve the rest either
    const failing: H2Exchange[] = [];
    const first = this.dequeue();
    if (first !== null) failing.push(first);
    if (this.all.length === 0) failing.push(...this.dequeueAll());
    for (const ex of failing) this.failNow(ex, err);
    this.pump();
    this.checkClosed();
  }

  onCapacity(conn: H2Connection): void {
    if (this.closing && this.queue.live === 0) {
      if (conn.active === 0) conn.drain();
      return;
    }
    this.serveQueue(conn);
  }

  onUnavailable(_conn: H2Connection): void {
    this.pump();
  }

  onClosed(conn: H2Connection): void {
    this.detach(conn, false);
    this.pump();
    this.checkClosed();
  }

  // ---- internals ----

  /** The connection with a free stream carrying the most streams (packs streams on few connections), or null. */
  private withFreeStream(): H2Connection | null {
    let best: H2Connection | null = null;
    for (let i = 0; i < this.all.length; i++) {
      const c = this.all[i] as H2Connection;
      if (c.free > 0 && (best === null || c.active > best.active)) best = c;
    }
    return best;
  }

  private serveQueue(conn: H2Connection): void {
    while (this.queue.live > 0 && conn.free > 0) {
      const ex = this.dequeue();
      if (ex === null) break;
      conn.start(ex);
    }
    if (this.queue.live > 0) this.pump();
  }

  private detach(conn: H2Connection, connecting: boolean): void {
    const i = conn.index;
    if (i >= 0 && this.all[i] === conn) {
      const last = this.all.pop() as H2Connection;
      if (last !== conn) {
        this.all[i] = last;
        last.index = i;
      }
      conn.index = -1;
      if (connecting) this.connecting--;
    }
    if (this.all.length === 0) this.sweepTimer.stop();
  }

  /** Opens a connection when requests wait, none is on its way, and the cap allows it. */
  private pump(): void {
    if (this.queue.live === 0 || this.destroyed) return;
    // ready connections with free streams take the queue first
    const free = this.withFreeStream();
    if (free !== null) return this.serveQueue(free);
    if (this.connecting > 0 || this.all.length >= this.maxConnections) return;
    const conn = new H2Connection(this, this.address, this.port, this.tls);
    conn.index = this.all.length;
    this.all.push(conn);
    this.connecting++;
    this.sweepTimer.start();
  }

  /** The oldest waiting exchange, no longer the pool's (it gets a stream or fails), or null. */
  private dequeue(): H2Exchange | null {
    const ex = this.queue.shift();
    if (ex !== null) ex.owner = null;
    return ex;
  }

  private dequeueAll(): H2Exchange[] {
    const all = this.queue.drain();
    for (const ex of all) ex.owner = null;
    return all;
  }

  private failNow(ex: H2Exchange, err: ProxyError): void {
    ex.done = true;
    ex.queued = false;
    ex.handler.onUpstreamError(err);
  }

  private isDrained(): boolean {
    return this.all.length === 0 && this.queue.live === 0;
  }

  private checkClosed(): void {
    if (!this.closing) return;
    if (this.queue.live === 0) for (const c of this.all.slice()) if (c.active === 0) c.drain();
    if (!this.isDrained()) return;
    this.sweepTimer.stop();
    const waiters = this.closeWaiters;
    this.closeWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private readonly sweep = (): void => {
    const now = Date.now();
    for (const c of this.all.slice()) {
      if (c.state === CONNECTING) {
        if (this.connectTimeoutMs > 0 && now - c.since >= this.connectTimeoutMs) c.connectTimedOut(this.connectTimeoutMs);
      } else if (c.state === READY && c.active === 0 && this.idleTimeoutMs > 0 && now - c.since >= this.idleTimeoutMs) {
        c.drain();
      }
    }
    if (this.queue.live > 0 && this.queueTimeoutMs > 0 && this.connecting === 0 && this.all.length >= this.maxConnections) this.expireQueued(now);
  };

  /** Every connection is open and full: requests that waited longer than the queue timeout get 503 UO. */
  private expireQueued(now: number): void {
    const expired = this.queue.expire(now, this.queueTimeoutMs, 0);
    for (const ex of expired) {
      this.failNow(ex, upstreamOverflow(`${this.origin}: no stream within ${this.queueTimeoutMs} ms (${this.maxConnections} connections per worker, all at their stream limit)`));
    }
    this.checkClosed();
  }
}
