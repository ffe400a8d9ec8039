// One listener of meshlet's HTTP/1.1 server in one worker. Each worker has its own listening
// socket on the listener's port (SO_REUSEPORT, see listen-socket.ts): the kernel spreads
// connections across workers, and a worker that stops closes only its own socket. Accepted
// connections read through `onread` into the worker's one buffer (see connection.ts).
import net from 'node:net';
import type { ProxyError } from '../../http/errors.js';
import type { ClientBody } from '../../request/client-body.js';
import { startRequest } from '../../request/exchange.js';
import type { ListenerRuntime } from '../../worker/worker-state.js';
import { DIRECTION_INBOUND, DIRECTION_OUTBOUND } from '../../stats/ring.js';
import { everySecond, tick } from '../clock.js';
import type { ExchangeHandler } from '../exchange.js';
import { listenReusePort } from '../listen-socket.js';
import { adopt, type ConnectionOwner, type H1Connection, type H1Settings } from './connection.js';
import { TcpSession, type SessionOwner } from '../../tcp/session.js';
import type { RequestHead } from './request-head.js';

export class H1Listener implements ConnectionOwner, SessionOwner {
  readonly runtime: ListenerRuntime;
  readonly settings: H1Settings;
  /** the port's protocol is not declared: connections that are not HTTP are proxied as TCP */
  readonly sniffs: boolean;
  private readonly connections = new Set<H1Connection>();
  private server: net.Server | null = null;
  private stopSweep: (() => void) | null = null;
  /** connections behind the TLS front start with its PROXY v2 header */
  private readonly proxied: boolean;

  constructor(runtime: ListenerRuntime, settings: H1Settings) {
    this.runtime = runtime;
    this.settings = settings;
    this.proxied = runtime.peers !== null;
    this.sniffs = runtime.spec.traffic === 'auto';
  }

  listen(): Promise<void> {
    const { listenBind: bind, listenPort: port } = this.runtime;
    const name = this.runtime.spec.name;
    let fd: number;
    try {
      fd = listenReusePort(bind, port);
    } catch (err) {
      return Promise.reject(new Error(`listener ${name}: cannot listen on ${bind}:${port}: ${(err as Error).message}`));
    }
    const server = net.createServer({ pauseOnConnect: true, noDelay: true, allowHalfOpen: true });
    server.on('connection', (socket) => this.accept(socket));
    this.server = server;
    this.stopSweep = everySecond(() => this.sweep());
    return new Promise((resolve, reject) => {
      server.once('error', (err) => reject(new Error(`listener ${name}: cannot listen on ${bind}:${port}: ${err.message}`)));
      server.listen({ fd }, () => resolve());
    });
  }

  private accept(accepted: net.Socket): void {
    this.connections.add(adopt(accepted, this, this.proxied));
  }

  get draining(): boolean {
    return this.runtime.state.draining;
  }

  startExchange(sink: H1Connection, head: RequestHead, body: ClientBody | null): ExchangeHandler {
    return startRequest(sink, this.runtime, head, body);
  }

  refused(err: ProxyError, bytesSent: number): void {
    const rt = this.runtime;
    rt.state.stats?.write(rt.state.gen.id, rt.inbound ? DIRECTION_INBOUND : DIRECTION_OUTBOUND, rt.index, -1, -1, -1,
      err.status, err.flag, 0, -1, 0, bytesSent);
  }

  closed(conn: H1Connection): void {
    this.connections.delete(conn);
  }

  /** A sniffed connection that is not HTTP: proxied as TCP (its peer from the TLS front's PROXY header when fronted). */
  notHttp(conn: H1Connection): void {
    let principal: string | null = null;
    let sourceIp: string | null = null;
    const peers = this.runtime.peers;
    if (peers !== null) {
      const peer = peers.resolve(conn.proxiedAddress);
      if (peer === null) return conn.close();
      principal = peer.principal === '' ? null : peer.principal;
      sourceIp = peer.clientIp;
    }
    new TcpSession(this, this.runtime, conn.socket, conn.early, '', principal, sourceIp, conn).start();
  }

  /** SessionOwner: connect timeout when the cluster sets none (--connect-timeout) */
  get connectTimeoutMs(): number {
    return this.runtime.state.connectTimeoutMs;
  }

  /** SessionOwner: the connection stays in `connections` (as an H1Connection) until its socket closes. */
  sessionEnded(): void {}

  private sweep(): void {
    const now = tick;
    for (const conn of this.connections) conn.sweep(now);
  }

  /** Stop accepting new connections; existing ones keep being served. */
  stopAccepting(): void {
    if (this.server !== null) {
      this.server.close();
      this.server = null;
    }
  }

  /** Drain: idle keep-alive connections close now; busy ones close after their response. */
  closeIdle(): void {
    for (const conn of this.connections) conn.closeIfIdle();
  }

  /** Close every connection (after drain). */
  close(): void {
    this.stopAccepting();
    this.stopSweep?.();
    this.stopSweep = null;
    for (const conn of this.connections) conn.close();
  }
}
