// One TCP or TLS listener in one worker (Sidecar ports whose protocol is not HTTP). Like the HTTP
// listener, each worker opens its own socket on the port (SO_REUSEPORT, listen-socket.ts). An
// accepted connection goes through what the listener needs before it can be routed — mesh mTLS
// (inbound, by PeerAuthentication: inbound-tls.ts) or the ClientHello's SNI (outbound TLS:
// sni.ts) — and is then proxied by a TcpSession (src/tcp/session.ts).
import net from 'node:net';
import { workerLog } from '../../log.js';
import { TcpSession, type SessionOwner } from '../../tcp/session.js';
import type { WorkloadIdentity } from '../../tls/identity/source.js';
import type { ListenerRuntime } from '../../worker/worker-state.js';
import { everySecond, tick } from '../clock.js';
import { listenReusePort } from '../listen-socket.js';
import { adoptReading } from '../../tcp/read-buffer.js';
import { InboundTls, type TlsAcceptor } from './inbound-tls.js';
import { MAX_CLIENT_HELLO, readSni, SNI_DONE, SNI_INVALID, type SniResult } from './sni.js';

/** A ClientHello must arrive within this (Envoy's listener_filters_timeout is 15 s). */
const CLIENT_HELLO_TIMEOUT_S = 15;

export class TcpListener implements SessionOwner, TlsAcceptor {
  readonly runtime: ListenerRuntime;
  private readonly sessions = new Set<TcpSession>();
  private readonly hellos = new Set<HelloReader>();
  private readonly tls: InboundTls | null;
  private server: net.Server | null = null;
  private stopSweep: (() => void) | null = null;

  constructor(runtime: ListenerRuntime, identity: WorkloadIdentity | null) {
    this.runtime = runtime;
    this.tls = runtime.inbound ? new InboundTls(identity, this, runtime.spec.name) : null;
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
    server.on('connection', this.accept.bind(this));
    this.server = server;
    this.stopSweep = everySecond(this.sweep.bind(this));
    return new Promise((resolve, reject) => {
      server.once('error', (err) => reject(new Error(`listener ${name}: cannot listen on ${bind}:${port}: ${err.message}`)));
      server.listen({ fd }, () => resolve());
    });
  }

  private accept(socket: net.Socket): void {
    const rt = this.runtime;
    if (this.tls !== null) {
      // the mode of the current generation: PeerAuthentication changes apply to new connections
      const mode = rt.state.gen.snapshot.listeners[rt.index]?.mtlsMode ?? 'PERMISSIVE';
      if (mode === 'STRICT' || (mode === 'PERMISSIVE' && rt.state.clientTls !== null)) return this.tls.accept(socket, mode);
    }
    if (rt.spec.traffic === 'tls') {
      const reader = new HelloReader(this, socket);
      this.hellos.add(reader);
      reader.start();
      return;
    }
    this.serve(adoptReading(socket), null, '', null);
  }

  /** TlsAcceptor: an inbound connection after its mTLS handshake (or plaintext on a PERMISSIVE port). */
  acceptSecured(socket: net.Socket, principal: string, first: Buffer | null): void {
    this.serve(socket, first, '', principal === '' ? null : principal);
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

  setIdentity(identity: WorkloadIdentity): void {
    this.tls?.setIdentity(identity);
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
