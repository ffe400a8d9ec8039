// Outbound mTLS for the upstream codecs (h1, h2). ClientTls is the worker's client side: one secure context per
// identity rotation (not per connection); pooled connections keep the one they were opened with.
// UpstreamTls is what one pool needs (SNI, accepted server ids); connectTls opens a connection.
import tls, { type PeerCertificate, type SecureContext } from 'node:tls';
import type { ClusterSpec, EndpointSpec } from '../../config/snapshot.js';
import { ALPN, clientContextOptions } from '../tls-settings.js';
import type { WorkloadIdentity } from '../identity/source.js';
import { trustDomainOf } from '../identity/spiffe.js';
import { spiffeMismatch } from './verify.js';

export class ClientTls {
  context: SecureContext | null = null;
  spiffeId = '';
  trustDomain = '';

  /** Throws (and keeps the previous context) when the PEMs are unusable. */
  update(identity: WorkloadIdentity): void {
    const context = tls.createSecureContext(clientContextOptions(identity));
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
}

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

/** `alpn`: ALPN_H2 for HTTP/2 pools (tls-settings.ts). */
export function connectTls(address: string, port: number, t: UpstreamTls, alpn: string[] = ALPN): tls.TLSSocket {
  return tls.connect({
    host: address,
    port,
    secureContext: t.client.context as SecureContext,
    servername: t.servername,
    ALPNProtocols: alpn,
    checkServerIdentity: t.checkServerIdentity,
  });
}

function isIp(host: string): boolean {
  return host.includes(':') || /^\d{1,3}(\.\d{1,3}){3}$/.test(host);
}
