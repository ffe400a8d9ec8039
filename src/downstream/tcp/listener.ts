// One TCP or TLS listener in one worker (Sidecar ports whose protocol is not HTTP). Like the HTTP
// listener, each worker opens its own socket on the port (SO_REUSEPORT, listen-socket.ts). An
// accepted connection goes through what the listener needs before it can be routed — mesh mTLS
// (inbound, by PeerAuthentication: the same worker TLS as HTTP listeners, downstream/tls/acceptor.ts)
// or the ClientHello's SNI (outbound TLS: sni.ts) — and is then proxied by a TcpSession (src/tcp/session.ts).
import net from 'node:net';
import type { TLSSocket } from 'node:tls';
import { workerLog } from '../../log.js';
import { TcpSession, type SessionOwner } from '../../tcp/session.js';
import type { PeerIdentity } from '../../tls/inbound/server-tls.js';
import type { ListenerRuntime } from '../../worker/worker-state.js';
import { everySecond, tick } from '../clock.js';
import { listenReusePort } from '../listen-socket.js';
import { adoptReading } from '../../tcp/read-buffer.js';
import { TlsAcceptor, type TlsAcceptorOwner } from '../tls/acceptor.js';
import { MAX_CLIENT_HELLO, readSni, SNI_DONE, SNI_INVALID, type SniResult } from './sni.js';

/** A ClientHello must arrive within this (Envoy's listener_filters_timeout is 15 s). */
const CLIENT_HELLO_TIMEOUT_S = 15;

export class TcpListener implements SessionOwner, TlsAcceptorOwner {
  readonly runtime: ListenerRuntime;
  private readonly sessions = new Set<TcpSession>();
  private readonly hellos = new Set<HelloReader>();
  private server: net.Server | null = null;
  private acceptor: TlsAcceptor | null = null;
  private stopSweep: (() => void) | null = null;

  constructor(runtime: ListenerRuntime) {
    this.runtime = runtime;
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
    this.stopSweep = everySecond(this.sweep.bind(this));
    const serverTls = this.runtime.state.serverTls;
    if (this.runtime.tls !== null && serverTls !== null) {
      // mesh mTLS (PeerAuthentication, fixed at start as for HTTP ports: tls/mtls-plan.ts); no ALPN
      this.acceptor = new TlsAcceptor(this.runtime.tls, serverTls, this, null);
      return this.acceptor.listen(fd).catch((err: Error) => { throw failed(err); });
    }
    const server = net.createServer({ pauseOnConnect: true, noDelay: true, allowHalfOpen: true });
    server.on('connection', this.accept.bind(this));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', (err) => reject(failed(err)));
      server.listen({ fd }, () => resolve());
    });
  }

  private accept(socket: net.Socket): void {
    if (this.runtime.spec.traffic === 'tls') {
      const reader = new HelloReader(this, socket);
      this.hellos.add(reader);
      reader.start();
      return;
    }
    this.serve(adoptReading(socket), null, '', null);
  }

  /** TlsAcceptorOwner: an inbound connection after its mTLS handshake (read by the relay: 'data'). */
  serveSecure(socket: TLSSocket, peer: PeerIdentity): void {
    socket.pause();
    this.serve(socket, null, '', peer.principal === '' ? null : peer.principal);
  }

  /** TlsAcceptorOwner: plaintext on a PERMISSIVE port, `first` the bytes read to tell it from TLS. */
  servePlain(socket: net.Socket, first: Buffer): void {
    this.serve(adoptReading(socket), first, '', null);
  }

  /**
   * HelloReader: the ClientHello was read (sni '' when it named none), or the connection is not
   * TLS (null). Either way the session decides: no name, no route (NR), and nothing is forwarded.
   */
  helloRead(reader: HelloReader, sni: string | null): void {
    this.hellos.delete(reader);
    this.serve(reader.socket, sni === null ? null : reader.bytes, sni ?? '', null);
  }

  private serve(socket: net.Socket, first: Buffer | null, sni: string, principal: string | null): void {
    const session = new TcpSession(this, this.runtime, socket, first, sni, principal);
    this.sessions.add(session);
    session.start();
  }

  /** connect timeout when the cluster sets none (--connect-timeout) */
  get connectTimeoutMs(): number {
    return this.runtime.state.connectTimeoutMs;
  }

  sessionEnded(s: TcpSession): void {
    this.sessions.delete(s);
  }

  private sweep(): void {
    const now = tick;
    for (const s of this.sessions) s.sweep(now);
    for (const h of this.hellos) if (now - h.since >= CLIENT_HELLO_TIMEOUT_S) h.socket.destroy();
  }

  stopAccepting(): void {
    if (this.server !== null) {
      this.server.close();
      this.server = null;
    }
    if (this.acceptor !== null) {
      this.acceptor.stopAccepting();
      this.acceptor = null;
    }
  }

  /** Connections are proxied until they end (or the drain timeout closes them): nothing to do early. */
  closeIdle(): void {}

  /** Closes every connection (drain timeout, shutdown). */
  close(): void {
    this.stopAccepting();
    this.stopSweep?.();
    this.stopSweep = null;
    for (const h of this.hellos) h.socket.destroy();
    for (const s of this.sessions) s.abort();
  }

  get connectionCount(): number {
    return this.sessions.size;
  }
}

const SNI_SCRATCH: SniResult = { state: 0, name: '', error: '' };

/** Reads a TLS listener's connection until its ClientHello is whole. */
class HelloReader {
  readonly socket: net.Socket;
  readonly since = tick;
  bytes: Buffer | null = null;
  private handed = false;
  private readonly owner: TcpListener;
  private readonly onData: (chunk: Buffer) => void;

  constructor(owner: TcpListener, socket: net.Socket) {
    this.owner = owner;
    this.socket = socket;
    this.onData = this.read.bind(this);
  }

  start(): void {
    this.socket.on('data', this.onData);
    this.socket.on('error', ignore);
    this.socket.once('close', this.closed.bind(this));
    this.socket.resume();
  }

  private read(chunk: Buffer): void {
    const bytes = this.bytes === null ? chunk : Buffer.concat([this.bytes, chunk]);
    this.bytes = bytes;
    const r = readSni(bytes, SNI_SCRATCH);
    if (r.state === SNI_DONE || r.state === SNI_INVALID || bytes.length > MAX_CLIENT_HELLO * 2) {
      this.handed = true;
      this.socket.off('data', this.onData);
      this.socket.pause();
      if (r.state !== SNI_DONE) workerLog().debug({ remote: this.socket.remoteAddress, err: r.error }, 'TLS listener: no ClientHello');
      this.owner.helloRead(this, r.state === SNI_DONE ? r.name : null);
    }
  }

  private closed(): void {
    if (this.handed) return;
    this.handed = true;
    this.owner.helloRead(this, null);
  }
}

function ignore(): void {}
