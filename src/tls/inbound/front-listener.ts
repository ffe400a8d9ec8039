// One public inbound port owned by the TLS front. STRICT: a tls.Server (requestCert +
// rejectUnauthorized against the trust bundle: no certificate, a foreign CA or an expired
// certificate fail the handshake; plaintext fails it too). PERMISSIVE: a net.Server that looks at
// the first byte — 0x16 (a TLS handshake record) goes to the tls.Server, anything else is plaintext
// forwarded without identity.
import { createHash } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { workerLog } from '../../log.js';
import type { PeerSlots } from '../peer-table.js';
import { HANDSHAKE_TIMEOUT_MS, INBOUND_ALPN, serverContextOptions } from '../tls-settings.js';
import type { WorkloadIdentity } from '../identity/source.js';
import { spiffeUriIn } from '../identity/spiffe.js';
import type { FrontListenerSpec } from './front-protocol.js';
import { proxyV2Header } from './proxy-v2.js';
import { splice, type SpliceOwner } from './splice.js';
import { clientAddress } from '../../downstream/client-address.js';

const TLS_HANDSHAKE = 0x16;

export class FrontListener implements SpliceOwner {
  readonly spec: FrontListenerSpec;
  private readonly slots: PeerSlots;
  private readonly tlsServer: tls.Server;
  private readonly plainServer: net.Server | null;
  private readonly open = new Set<Duplex>();
  /** connections refused because the peer table was full */
  refused = 0;

  constructor(spec: FrontListenerSpec, slots: PeerSlots, identity: WorkloadIdentity | null) {
    this.spec = spec;
    this.slots = slots;
    this.tlsServer = tls.createServer({
      ...(identity === null ? {} : serverContextOptions(identity)),
      requestCert: true,
      rejectUnauthorized: true,
      // h2 or http/1.1: the bytes are relayed as they are, and the worker sees the HTTP/2 preface
      ALPNProtocols: INBOUND_ALPN,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    });
    this.tlsServer.on('secureConnection', (s: tls.TLSSocket) => this.onSecure(s));
    this.tlsServer.on('tlsClientError', (err: Error, s: tls.TLSSocket) => {
      workerLog().debug({ listener: spec.name, remote: s.remoteAddress, err: err.message }, 'inbound TLS handshake failed');
    });
    this.plainServer = spec.mode === 'PERMISSIVE' ? net.createServer((s) => this.onPermissive(s)) : null;
    // the peer table bounds open connections: beyond it new ones are refused at accept
    (this.plainServer ?? this.tlsServer).maxConnections = slots.capacity;
  }

  listen(): Promise<void> {
    const server = this.plainServer ?? this.tlsServer;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.spec.bind, port: this.spec.port, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  setIdentity(identity: WorkloadIdentity): void {
    // existing connections keep their session; new handshakes use the new certificate and bundle
    this.tlsServer.setSecureContext(serverContextOptions(identity));
  }

  stopAccepting(): void {
    (this.plainServer ?? this.tlsServer).close();
  }

  destroyAll(): void {
    this.stopAccepting();
    for (const s of this.open) s.destroy();
  }

  get openCount(): number { return this.open.size; }

  closed(client: Duplex, slot: number): void {
    this.open.delete(client);
    this.slots.release(slot);
  }

  private onPermissive(socket: net.Socket): void {
    socket.on('error', () => socket.destroy());
    socket.setTimeout(HANDSHAKE_TIMEOUT_MS, () => socket.destroy()); // nothing sent: no slot held meanwhile
    socket.once('data', (first: Buffer) => {
      socket.pause();
      socket.setTimeout(0);
      if (first[0] === TLS_HANDSHAKE) {
        // the TLS socket reads what was unshifted before the rest of the stream
        socket.unshift(first);
        this.tlsServer.emit('connection', socket);
        return;
      }
      this.forward(socket, '', null, first);
    });
  }

  private onSecure(socket: tls.TLSSocket): void {
    const cert = socket.getPeerX509Certificate();
    if (cert === undefined) {
      socket.destroy(); // cannot happen with requestCert + rejectUnauthorized; fail closed anyway
      return;
    }
    this.forward(socket, spiffeUriIn(cert.subjectAltName), createHash('sha256').update(cert.raw).digest(), null);
  }

  private forward(socket: net.Socket, principal: string, certHash: Buffer | null, first: Buffer | null): void {
    const slot = this.slots.alloc(clientAddress(socket.remoteAddress), principal, certHash);
    if (slot < 0) {
      this.refused++;
      socket.destroy();
      return;
    }
    this.open.add(socket);
    splice(socket, this.spec.internalPort, proxyV2Header(this.slots, slot), first, slot, this);
  }
}
