// One listener of meshlet's HTTP server in one worker: HTTP/1.1, and HTTP/2 (h2/server.ts) for
// connections that open with the h2c preface or chose ALPN h2. Each worker has its own listening
// socket on the listener's port (SO_REUSEPORT, see listen-socket.ts): the kernel spreads
// connections across workers, and a worker that stops closes only its own socket. Accepted
// plaintext connections read through `onread` into the worker's one buffer (see adopt.ts);
// on an mTLS listener the worker terminates TLS itself (downstream/tls/acceptor.ts) and the
// decrypted bytes are read into the same buffer (adoptSecure).
import net from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ProxyError } from '../../http/errors.js';
import type { ClientBody } from '../../request/client-body.js';
import { startRequest } from '../../request/exchange.js';
import type { ListenerRuntime } from '../../worker/worker-state.js';
import { DIRECTION_INBOUND, DIRECTION_OUTBOUND } from '../../stats/ring.js';
import { everySecond, tick } from '../clock.js';
import type { ExchangeHandler } from '../exchange.js';
import { clientAddress } from '../client-address.js';
import { listenReusePort } from '../listen-socket.js';
import { TlsAcceptor, type TlsAcceptorOwner } from '../tls/acceptor.js';
import { dispatchSecure, INBOUND_ALPN, type SecureProtocols } from '../tls/alpn.js';
import type { PeerIdentity } from '../../tls/inbound/server-tls.js';
import { adopt, adoptSecure } from './adopt.js';
import type { ConnectionOwner, H1Connection, H1Settings } from './connection.js';
import type { RequestHead } from './request-head.js';
import { TcpSession, type SessionOwner } from '../../tcp/session.js';
import { H2Server, type H2Owner } from '../h2/server.js';
import type { H2Stream } from '../h2/stream.js';

const NO_BYTES = Buffer.alloc(0);

export class H1Listener implements ConnectionOwner, TlsAcceptorOwner, SecureProtocols, SessionOwner, H2Owner {
  readonly runtime: ListenerRuntime;
  readonly settings: H1Settings;
  /** the port's protocol is not declared: connections that are not HTTP are proxied as TCP */
  readonly sniffs: boolean;
  private readonly connections = new Set<H1Connection>();
  private server: net.Server | null = null;
  private acceptor: TlsAcceptor | null = null;
  private stopSweep: (() => void) | null = null;
  /** HTTP/2 connections (created on the first one; see downstream/h2/server.ts) */
  private h2: H2Server | null = null;

  constructor(runtime: ListenerRuntime, settings: H1Settings) {
    this.runtime = runtime;
    this.settings = settings;
    this.sniffs = runtime.spec.traffic === 'auto';
  }

  listen(): Promise<void> {
    const { bind, port, name } = this.runtime.spec;
    const failed = (err: Error): Error => new Error(`listener ${name}: cannot listen on ${bind}:${port}: ${err.message}`);
    let fd: number;
    try {
      fd = listenReusePort(bind, port);
    } catch (err) {
      return Promise.reject(failed(err as Error));
    }
    this.stopSweep = everySecond(() => this.sweep());
    const serverTls = this.runtime.state.serverTls;
    if (this.runtime.tls !== null && serverTls !== null) {
      this.acceptor = new TlsAcceptor(this.runtime.tls, serverTls, this, INBOUND_ALPN);
      return this.acceptor.listen(fd).catch((err: Error) => { throw failed(err); });
    }
    const server = net.createServer({ pauseOnConnect: true, noDelay: true, allowHalfOpen: true });
    server.on('connection', (socket) => this.accept(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', (err) => reject(failed(err)));
      server.listen({ fd }, () => resolve());
    });
  }

  private accept(accepted: net.Socket): void {
    this.connections.add(adopt(accepted, this));
  }

  /** PERMISSIVE plaintext: served as any plaintext connection, after the bytes read to tell it from TLS. */
  servePlain(socket: net.Socket, first: Buffer): void {
    const conn = adopt(socket, this);
    this.connections.add(conn);
    conn.onData(first);
  }

  /** An mTLS connection: served by the protocol its handshake chose. */
  serveSecure(socket: TLSSocket, peer: PeerIdentity): void {
    dispatchSecure(socket, peer, this);
  }

  /** An mTLS connection whose handshake chose HTTP/1.1. */
  serveH1Secure(socket: TLSSocket, peer: PeerIdentity): void {
    this.connections.add(adoptSecure(socket, this, peer));
  }

  /** An mTLS connection whose handshake chose h2: HTTP/2 from its first byte, with the peer's identity. */
  serveH2Secure(socket: TLSSocket, peer: PeerIdentity): void {
    (this.h2 ??= new H2Server(this)).adopt(socket, NO_BYTES, clientAddress(socket.remoteAddress), peer);
  }

  /** A connection that opened with the HTTP/2 preface (h2c prior knowledge, PERMISSIVE plaintext, or a sniffed port). */
  serveH2(conn: H1Connection, first: Buffer): void {
    this.connections.delete(conn);
    (this.h2 ??= new H2Server(this)).adopt(conn.socket, first, conn.remoteAddress, conn.peer);
  }

  get idleTimeoutS(): number {
    return this.settings.idleTimeoutS;
  }

  get draining(): boolean {
    return this.runtime.state.draining;
  }

  startExchange(sink: H1Connection | H2Stream, head: RequestHead, body: ClientBody | null): ExchangeHandler {
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

  /** A sniffed connection that is not HTTP: proxied as TCP (with its mTLS peer, if any). */
  notHttp(conn: H1Connection): void {
    const principal = conn.peer === null || conn.peer.principal === '' ? null : conn.peer.principal;
    new TcpSession(this, this.runtime, conn.socket, conn.early, '', principal, conn).start();
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

  /**
   * Stop accepting new connections; existing ones keep being served. HTTP/2 connections get
   * GOAWAY: their streams in flight finish, new ones go elsewhere (HTTP/1.1 responses say
   * Connection: close meanwhile, see H1Connection).
   */
  stopAccepting(): void {
    if (this.server !== null) {
      this.server.close();
      this.server = null;
    }
    if (this.acceptor !== null) {
      this.acceptor.stopAccepting();
      this.acceptor = null;
    }
    this.h2?.drain();
  }

  /** Drain: idle keep-alive connections close now; busy ones close after their response. */
  closeIdle(): void {
    for (const conn of this.connections) conn.closeIfIdle();
    this.h2?.drain();
  }

  /** Close every connection (after drain). */
  close(): void {
    this.stopAccepting();
    this.stopSweep?.();
    this.stopSweep = null;
    for (const conn of this.connections) conn.close();
    this.h2?.close();
  }
}
