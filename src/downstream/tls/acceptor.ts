// The accepting side of one mTLS listener in one worker, on the worker's own SO_REUSEPORT socket
// (listen-socket.ts): the kernel spreads connections over the workers, and each worker terminates
// TLS itself (no thread in between, no second parse of the bytes).
//   STRICT: the tls.Server listens on the socket; anything but a TLS handshake with a certificate
//     of the trust bundle fails the handshake (plaintext included).
//   PERMISSIVE: a net.Server listens and reads each connection's first bytes: 0x16 (a TLS
//     handshake record) goes to the tls.Server, anything else is served as plaintext (no peer).
// The same for every protocol a listener serves (HTTP: h1/listener.ts; TCP and TLS ports:
// tcp/listener.ts): the owner says what it offers over ALPN and serves what the handshake gives.
import net from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ServerTls } from '../../tls/inbound/server-tls.js';
import { readingInto } from '../adopt-handle.js';
import { HANDSHAKE_TIMEOUT_MS } from '../../tls/tls-settings.js';
import type { PeerIdentity } from '../../tls/inbound/server-tls.js';

export type InboundTlsMode = 'STRICT' | 'PERMISSIVE';

export interface TlsAcceptorOwner {
  /** A connection whose handshake finished, with its verified peer (HTTP: alpn.ts dispatchSecure). */
  serveSecure(socket: TLSSocket, peer: PeerIdentity): void;
  /** PERMISSIVE: a plaintext connection; `first` holds the bytes already read from it */
  servePlain(socket: net.Socket, first: Buffer): void;
}

const TLS_HANDSHAKE = 0x16;
/** the first read of every PERMISSIVE connection of this worker lands here (copied out at once) */
const SNIFF_BUFFER = Buffer.allocUnsafe(16 * 1024);

type Sniffing = net.Socket & { acceptor: TlsAcceptor };

export class TlsAcceptor {
  private readonly tlsServer;
  private readonly plainServer: net.Server | null;
  private readonly serverTls: ServerTls;
  private readonly owner: TlsAcceptorOwner;

  /** `alpn`: the protocols offered, in order of preference (HTTP: alpn.ts INBOUND_ALPN); null: no ALPN (TCP) */
  constructor(mode: InboundTlsMode, serverTls: ServerTls, owner: TlsAcceptorOwner, alpn: string[] | null) {
    this.serverTls = serverTls;
    this.owner = owner;
    this.tlsServer = serverTls.createServer(alpn, (socket) => this.onSecure(socket));
    this.plainServer = mode === 'PERMISSIVE' ? net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (s) => this.sniff(s)) : null;
  }

  /** Starts accepting on the listening socket `fd`; rejects with the server's error. */
  listen(fd: number): Promise<void> {
    const server = this.plainServer ?? this.tlsServer;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ fd }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  stopAccepting(): void {
    (this.plainServer ?? this.tlsServer).close();
    this.serverTls.release(this.tlsServer);
  }

  private onSecure(socket: TLSSocket): void {
    const peer = this.serverTls.peerOf(socket);
    if (peer === null) {
      socket.destroy(); // cannot happen with requestCert + rejectUnauthorized; fail closed anyway
      return;
    }
    socket.setNoDelay(true);
    this.owner.serveSecure(socket, peer);
  }

  /**
   * PERMISSIVE: the accepted socket gives its handle to one that reads into SNIFF_BUFFER (no
   * allocation); the first read decides.
   */
  private sniff(accepted: net.Socket): void {
    const socket = readingInto(accepted, SNIFF_BUFFER, onFirstRead as (n: number) => boolean) as Sniffing;
    socket.acceptor = this;
    socket.setNoDelay(true);
    socket.on('error', destroyOnError);
    socket.on('end', destroyOnError); // closed before sending anything
    socket.setTimeout(HANDSHAKE_TIMEOUT_MS, destroyOnTimeout); // nothing sent in time
    socket.resume();
  }

  /** @internal the first bytes of a PERMISSIVE connection (a copy), after its read callback returned */
  decide(socket: Sniffing, first: Buffer): void {
    socket.setTimeout(0);
    socket.off('timeout', destroyOnTimeout);
    socket.off('error', destroyOnError);
    socket.off('end', destroyOnError);
    if (socket.destroyed) return;
    if (first[0] === TLS_HANDSHAKE) {
      // the TLS socket takes the handle and reads what was unshifted before the rest of the stream
      socket.unshift(first);
      this.tlsServer.emit('connection', socket);
      return;
    }
    this.owner.servePlain(socket, first);
  }
}

/** The sniffing socket's onread callback (`this` is the socket): stop, copy, decide once the callback has returned. */
function onFirstRead(this: Sniffing, n: number): boolean {
  this.pause();
  process.nextTick(decideLater, this, Buffer.from(SNIFF_BUFFER.subarray(0, n)));
  return true;
}

function decideLater(socket: Sniffing, first: Buffer): void {
  socket.acceptor.decide(socket, first);
}

function destroyOnError(this: net.Socket): void {
  this.destroy();
}

function destroyOnTimeout(this: net.Socket): void {
  this.destroy();
}
