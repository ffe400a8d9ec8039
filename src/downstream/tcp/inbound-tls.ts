// Mesh mTLS on an inbound TCP listener, terminated in the worker that accepted the connection
// (PeerAuthentication): STRICT takes TLS only, with a client certificate of the trust bundle
// (requestCert + rejectUnauthorized: no certificate, a foreign CA or an expired one fail the
// handshake); PERMISSIVE looks at the first byte, 0x16 (a TLS handshake record) is mTLS, anything
// else plaintext without identity. The handshakes run on a tls.Server that never listens: accepted
// sockets are handed to it, as the TLS front does (src/tls/inbound/front-listener.ts).
import type net from 'node:net';
import tls from 'node:tls';
import type { MtlsMode } from '../../config/security-spec.js';
import { workerLog } from '../../log.js';
import type { WorkloadIdentity } from '../../tls/identity/source.js';
import { spiffeUriIn } from '../../tls/identity/spiffe.js';
import { HANDSHAKE_TIMEOUT_MS, serverContextOptions } from '../../tls/tls-settings.js';

const TLS_HANDSHAKE = 0x16;

export interface TlsAcceptor {
  /** A connection to serve: `principal` is the peer's SPIFFE id ('' for plaintext); `first`: bytes already read. */
  acceptSecured(socket: net.Socket, principal: string, first: Buffer | null): void;
}

export class InboundTls {
  private readonly server: tls.Server;
  private readonly acceptor: TlsAcceptor;
  private hasIdentity: boolean;
  /** handshakes refused (no certificate, untrusted, plaintext on STRICT, no identity yet) */
  refused = 0;

  constructor(identity: WorkloadIdentity | null, acceptor: TlsAcceptor, name: string) {
    this.acceptor = acceptor;
    this.hasIdentity = identity !== null;
    this.server = tls.createServer({
      ...(identity === null ? {} : serverContextOptions(identity)),
      requestCert: true,
      rejectUnauthorized: true,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      allowHalfOpen: true,
    });
    this.server.on('secureConnection', this.onSecure.bind(this));
    this.server.on('tlsClientError', (err: Error, s: tls.TLSSocket) => {
      this.refused++;
      workerLog().debug({ listener: name, remote: s.remoteAddress, err: err.message }, 'inbound TLS handshake failed');
    });
  }

  /** Identity rotation: new handshakes use it; open connections keep their session. */
  setIdentity(identity: WorkloadIdentity): void {
    this.server.setSecureContext(serverContextOptions(identity));
    this.hasIdentity = true;
  }

  accept(socket: net.Socket, mode: MtlsMode): void {
    if (mode === 'STRICT') return this.handshake(socket);
    socket.on('error', destroy);
    socket.setTimeout(HANDSHAKE_TIMEOUT_MS, destroyOnTimeout);
    socket.once('data', (first: Buffer) => {
      socket.pause();
      socket.setTimeout(0);
      socket.off('error', destroy);
      if (first[0] === TLS_HANDSHAKE) {
        socket.unshift(first); // the TLS socket reads it before the rest of the stream
        this.handshake(socket);
      } else {
        this.acceptor.acceptSecured(socket, '', first);
      }
    });
    socket.resume();
  }

  private handshake(socket: net.Socket): void {
    if (!this.hasIdentity) {
      this.refused++; // no certificate to serve yet: fail closed
      socket.destroy();
      return;
    }
    this.server.emit('connection', socket);
  }

  private onSecure(socket: tls.TLSSocket): void {
    const cert = socket.getPeerX509Certificate();
    if (cert === undefined) {
      socket.destroy(); // cannot happen with requestCert + rejectUnauthorized; fail closed anyway
      return;
    }
    socket.pause();
    this.acceptor.acceptSecured(socket, spiffeUriIn(cert.subjectAltName), null);
  }
}

function destroy(this: net.Socket): void {
  this.destroy();
}

function destroyOnTimeout(this: net.Socket): void {
  this.destroy();
}
