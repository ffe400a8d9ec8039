// The protocols an mTLS listener offers over ALPN, and which adapter serves a connection once its
// handshake has chosen one: the one place to add HTTP/2 (put 'h2' first in the list and its
// adapter in dispatchSecure).
import type { TLSSocket } from 'node:tls';
import type { PeerIdentity } from '../../tls/inbound/server-tls.js';

/** in the server's order of preference */
export const INBOUND_ALPN = ['http/1.1'];

/** The adapters a secure connection can go to (one per protocol in INBOUND_ALPN). */
export interface SecureProtocols {
  serveH1Secure(socket: TLSSocket, peer: PeerIdentity): void;
}

export function dispatchSecure(socket: TLSSocket, peer: PeerIdentity, to: SecureProtocols): void {
  switch (socket.alpnProtocol) {
    // case 'h2': return to.serveH2Secure(socket, peer);
    default: // 'http/1.1', or a client that offered no ALPN (HTTP/1.1 is what it gets)
      to.serveH1Secure(socket, peer);
  }
}
