// The protocols an mTLS listener offers over ALPN, and which adapter serves a connection once its
// handshake has chosen one. Every HTTP listener offers h2 first (as Envoy's inbound listeners do):
// an HTTP/2 client (a peer sidecar's HTTP2/GRPC cluster, an h2 app) gets HTTP/2, anything else
// HTTP/1.1.
import type { TLSSocket } from 'node:tls';
import type { PeerIdentity } from '../../tls/inbound/server-tls.js';
import { MX_ALPN } from '../../telemetry/mx-once.js';

/** in the server's order of preference (MX_ALPN: HTTP/1.1 from a meshlet peer, metadata once per connection) */
export const INBOUND_ALPN = ['h2', MX_ALPN, 'http/1.1'];

/** The adapters a secure connection can go to (one per protocol in INBOUND_ALPN). */
export interface SecureProtocols {
  serveH1Secure(socket: TLSSocket, peer: PeerIdentity): void;
  serveH2Secure(socket: TLSSocket, peer: PeerIdentity): void;
}

export function dispatchSecure(socket: TLSSocket, peer: PeerIdentity, to: SecureProtocols): void {
  switch (socket.alpnProtocol) {
    case 'h2': return to.serveH2Secure(socket, peer);
    default: // MX_ALPN, 'http/1.1', or a client that offered no ALPN (HTTP/1.1 is what it gets)
      to.serveH1Secure(socket, peer);
  }
}
