// A worker's server side of mesh mTLS: one tls.Server per mTLS listener (none of them listens by
// itself: the listener's acceptor hands it connections), all sharing this worker's identity and the
// sidecar's session-ticket keys, so a client resumes on whichever worker the kernel hands its next
// connection to. The peer of each connection (SPIFFE id, x-forwarded-client-cert) is read once
// per connection here.
import type { Server, TLSSocket } from 'node:tls';
import { nodeTls } from '../node-tls.js';
import { workerLog } from '../../log.js';
import type { HandshakeStats } from '../handshake-stats.js';
import type { WorkloadIdentity } from '../identity/source.js';
import { spiffeUriIn } from '../identity/spiffe.js';
import { HANDSHAKE_TIMEOUT_MS, SESSION_ID_CONTEXT, SESSION_TIMEOUT_S, serverContextOptions } from '../tls-settings.js';

/** The mTLS peer of one inbound connection. */
export interface PeerIdentity {
  /** the peer's SPIFFE id ('' when its certificate has none) */
  readonly principal: string;
  /** x-forwarded-client-cert for the local app (Envoy's format) */
  readonly xfcc: string;
}

/** peers remembered by certificate fingerprint (a sidecar talks to few peers; reset when it grows past this) */
const PEER_CACHE_MAX = 1024;

export class ServerTls {
  private identity: WorkloadIdentity | null;
  private ticketKeys: Buffer;
  private ownId: string;
  private readonly servers = new Set<Server>();
  private peers = new Map<string, PeerIdentity>();
  readonly stats: HandshakeStats;

  /** `identity` null: STRICT listeners refuse every handshake (no certificate to present) until one arrives */
  constructor(identity: WorkloadIdentity | null, ticketKeys: Uint8Array, stats: HandshakeStats) {
    this.identity = identity;
    this.ticketKeys = Buffer.from(ticketKeys);
    this.ownId = identity?.spiffeId ?? '';
    this.stats = stats;
  }

  /**
   * A server for one listener: requestCert + rejectUnauthorized against the trust bundle, Istio's
   * versions and suites. `alpn` null: none offered (a TCP port: a client's offer is not answered,
   * where a list would fail a handshake whose offer it does not contain).
   */
  createServer(alpn: string[] | null, onSecure: (socket: TLSSocket) => void): Server {
    const server = nodeTls().createServer({
      ...(this.identity === null ? {} : serverContextOptions(this.identity)),
      requestCert: true,
      rejectUnauthorized: true,
      ...(alpn === null ? {} : { ALPNProtocols: alpn }),
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      sessionTimeout: SESSION_TIMEOUT_S,
      sessionIdContext: SESSION_ID_CONTEXT,
      ticketKeys: this.ticketKeys,
      allowHalfOpen: true,
    });
    server.on('secureConnection', onSecure);
    server.on('tlsClientError', (err: Error, s: TLSSocket) => {
      this.stats.inboundFailed++;
      workerLog().debug({ remote: s.remoteAddress, err: err.message }, 'inbound TLS handshake failed');
    });
    this.servers.add(server);
    return server;
  }

  release(server: Server): void {
    this.servers.delete(server);
  }

  /**
   * Rotation: new handshakes use `identity` and the new ticket keys (sessions of the old identity
   * are not resumed); open connections keep theirs. Throws, changing nothing, when the PEMs are unusable.
   */
  update(identity: WorkloadIdentity, ticketKeys: Uint8Array): void {
    const options = serverContextOptions(identity);
    nodeTls().createSecureContext(options); // throws before any server changes
    const keys = Buffer.from(ticketKeys);
    for (const server of this.servers) {
      server.setSecureContext({ ...options, sessionIdContext: SESSION_ID_CONTEXT });
      server.setTicketKeys(keys);
    }
    this.identity = identity;
    this.ticketKeys = keys;
    if (identity.spiffeId !== this.ownId) {
      this.ownId = identity.spiffeId;
      this.peers = new Map();
    }
  }

  /** The verified peer of a connection that finished its handshake (null: no certificate, which rejectUnauthorized rules out). */
  peerOf(socket: TLSSocket): PeerIdentity | null {
    if (socket.isSessionReused()) this.stats.inboundResumed++;
    else this.stats.inboundFull++;
    const cert = socket.getPeerX509Certificate();
    if (cert === undefined) return null;
    const fingerprint = cert.fingerprint256;
    let peer = this.peers.get(fingerprint);
    if (peer === undefined) {
      const principal = spiffeUriIn(cert.subjectAltName);
      // Envoy's Hash= is the SHA-256 of the DER certificate in lower-case hex: the fingerprint without colons
      peer = { principal, xfcc: `By=${this.ownId};Hash=${fingerprint.replaceAll(':', '').toLowerCase()};URI=${principal}` };
      if (this.peers.size >= PEER_CACHE_MAX) this.peers = new Map();
      this.peers.set(fingerprint, peer);
    }
    return peer;
  }
}
