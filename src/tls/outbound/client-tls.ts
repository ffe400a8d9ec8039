// Outbound mTLS for the upstream codecs (h1, h2). ClientTls is the worker's client side: one secure context per
// identity rotation (not per connection); pooled connections keep the one they were opened with.
// UpstreamTls is what one pool (one endpoint) needs: SNI, accepted server ids, and the endpoint's
// last session ticket, so a new connection resumes instead of doing a full handshake (no
// certificate signatures to make or check); connectTls opens a connection.
import type net from 'node:net';
import type { ConnectionOptions, PeerCertificate, SecureContext, TLSSocket } from 'node:tls';
import { nodeTls } from '../node-tls.js';
import type { ClusterSpec, EndpointSpec } from '../../config/snapshot.js';
import { OUTBOUND_ALPN, OUTBOUND_ALPN_H2, clientContextOptions } from '../tls-settings.js';
import { HandshakeStats } from '../handshake-stats.js';
import type { WorkloadIdentity } from '../identity/source.js';
import { spiffeUriIn, trustDomainOf } from '../identity/spiffe.js';
import { spiffeMismatch } from './verify.js';

export class ClientTls {
  context: SecureContext | null = null;
  spiffeId = '';
  trustDomain = '';
  /** this worker's handshake counters (shared with the server side) */
  readonly stats: HandshakeStats;

  constructor(stats: HandshakeStats = new HandshakeStats()) {
    this.stats = stats;
  }

  /** Throws (and keeps the previous context) when the PEMs are unusable. */
  update(identity: WorkloadIdentity): void {
    const context = nodeTls().createSecureContext(clientContextOptions(identity));
    this.context = context;
    this.spiffeId = identity.spiffeId;
    this.trustDomain = trustDomainOf(identity.spiffeId);
  }
}

export class UpstreamTls {
  readonly client: ClientTls;
  /** undefined for an IP address (SNI carries names only) */
  readonly servername: string | undefined;
  readonly expected: readonly string[];
  /** distinguishes pools to the same address:port with different TLS settings */
  readonly key: string;
  readonly checkServerIdentity: (host: string, cert: PeerCertificate) => Error | undefined;
  /**
   * The endpoint's last session ticket, the client context (identity) it belongs to, and the
   * server's SPIFFE id verified at the session's full handshake (a resumed handshake carries no
   * certificate, and node then shows none: the id travels with the session).
   */
  private session: Buffer | undefined = undefined;
  private sessionContext: SecureContext | null = null;
  private sessionPrincipal = '';

  constructor(client: ClientTls, servername: string, expected: string[]) {
    this.client = client;
    this.servername = servername === '' || isIp(servername) ? undefined : servername;
    this.expected = expected;
    this.key = `mtls|${servername}|${expected.join(',')}`;
    this.checkServerIdentity = (_host, cert) => {
      const why = spiffeMismatch(cert.subjectaltname, this.expected, this.client.trustDomain);
      if (why === null) return undefined;
      const err = new Error(why) as Error & { code: string };
      err.code = 'ERR_TLS_SPIFFE_ID_MISMATCH';
      return err;
    };
  }

  /** A session to resume with `context`: only one made with that same context (a rotation starts afresh). */
  sessionFor(context: SecureContext): Buffer | undefined {
    return this.sessionContext === context ? this.session : undefined;
  }

  /** the server id that goes with sessionFor(context) */
  get principalOfSession(): string {
    return this.sessionPrincipal;
  }

  saveSession(context: SecureContext, session: Buffer, principal: string): void {
    this.session = session;
    this.sessionContext = context;
    this.sessionPrincipal = principal;
  }
}

type MeshSocket = TLSSocket & {
  upstreamTls: UpstreamTls;
  clientContext: SecureContext;
  /** the server id of the session offered for resumption ('' when none was offered) */
  offeredPrincipal: string;
  /** the server's SPIFFE id, known once the handshake (full or resumed) is done; null before */
  meshPrincipal: string | null;
};

/**
 * The TLS settings of a cluster's endpoint, or null for plaintext (no tls, or no identity yet).
 * Auto mTLS (Istio's): without a DestinationRule tls, an endpoint registered with a mesh identity
 * gets ISTIO_MUTUAL verifying exactly that identity; any other endpoint stays plaintext.
 */
export function upstreamTlsFor(cluster: ClusterSpec, ep: EndpointSpec, client: ClientTls | null): UpstreamTls | null {
  const t = cluster.tls;
  if (client === null || client.context === null) return null;
  if ((t === undefined || t === null) && cluster.autoMtls === true && typeof ep.meshIdentity === 'string') {
    return new UpstreamTls(client, cluster.host, [ep.meshIdentity]);
  }
  if (t === undefined || t === null || t.mode !== 'ISTIO_MUTUAL') return null;
  const expected = ep.serviceAccount === undefined || ep.serviceAccount === null ? t.subjectAltNames : [...t.subjectAltNames, ep.serviceAccount];
  return new UpstreamTls(client, t.sni ?? cluster.host, expected);
}

/**
 * A mesh mTLS connection to address:port, resuming the endpoint's last session when there is one.
 * It reads into `buffer` (net's `onread`, as plaintext connections do): no allocation per read.
 * Its handshake is counted (full or resumed) once the server's identity check passed.
 */
export function connectTls(address: string, port: number, t: UpstreamTls, buffer: Buffer, onread: (n: number, buf: Uint8Array) => boolean): TLSSocket {
  // (tls.connect takes net's onread option; @types/node 20 does not list it)
  return connectMesh(address, port, t, { ALPNProtocols: OUTBOUND_ALPN, onread: { buffer, callback: onread } } as ConnectionOptions);
}

/**
 * The same for an HTTP/2 pool: ALPN h2 only (the caller checks the server chose it), read by
 * node:http2 itself (nghttp2 consumes the TLS stream natively: no onread).
 */
export function connectTlsH2(address: string, port: number, t: UpstreamTls): TLSSocket {
  return connectMesh(address, port, t, { ALPNProtocols: OUTBOUND_ALPN_H2 });
}

function connectMesh(address: string, port: number, t: UpstreamTls, more: ConnectionOptions): TLSSocket {
  const context = t.client.context as SecureContext;
  const session = t.sessionFor(context);
  const socket = nodeTls().connect({
    ...more,
    host: address,
    port,
    secureContext: context,
    servername: t.servername,
    checkServerIdentity: t.checkServerIdentity,
    session,
  }) as MeshSocket;
  socket.upstreamTls = t;
  socket.clientContext = context;
  socket.offeredPrincipal = session === undefined ? '' : t.principalOfSession;
  socket.meshPrincipal = null;
  socket.on('session', onSession);
  socket.once('secureConnect', onSecureConnect);
  return socket;
}

/** A session ticket arrived (TLS 1.3: after the handshake, possibly more than one): the endpoint's next connection resumes with it. */
function onSession(this: MeshSocket, session: Buffer): void {
  if (this.meshPrincipal !== null) this.upstreamTls.saveSession(this.clientContext, session, this.meshPrincipal);
}

/** (after the identity check passed) */
function onSecureConnect(this: MeshSocket): void {
  const stats = this.upstreamTls.client.stats;
  if (this.isSessionReused()) {
    stats.outboundResumed++;
    this.meshPrincipal = this.offeredPrincipal;
  } else {
    stats.outboundFull++;
    this.meshPrincipal = spiffeUriIn(this.getPeerCertificate().subjectaltname);
  }
}

/**
 * The server's SPIFFE id on a mesh connection made by connectTls, once connected: from its
 * certificate, or (resumed) from the session's full handshake; null when it has none (and for a
 * plaintext socket).
 */
export function meshPeerPrincipal(socket: net.Socket): string | null {
  const p = (socket as MeshSocket).meshPrincipal;
  return p === null || p === undefined || p === '' ? null : p;
}

function isIp(host: string): boolean {
  return host.includes(':') || /^\d{1,3}(\.\d{1,3}){3}$/.test(host);
}
