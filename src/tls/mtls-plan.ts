// Which inbound listeners terminate mTLS (from the PeerAuthentication mode compiled per listener),
// decided once when the sidecar starts and given to every worker.
import type { ListenerSpec, Snapshot } from '../config/snapshot.js';
import type { InboundTlsMode } from '../downstream/tls/acceptor.js';

/**
 * STRICT inbound listeners terminate TLS with or without an identity (without one every handshake
 * fails: closed until one arrives); PERMISSIVE ones only with an identity (without one there is
 * nothing to terminate and plaintext is served). Outbound and DISABLE listeners are plaintext.
 */
export function inboundTlsMode(l: ListenerSpec, hasIdentity: boolean): InboundTlsMode | null {
  if (l.direction !== 'inbound') return null;
  if (l.mtlsMode === 'STRICT') return 'STRICT';
  return l.mtlsMode === 'PERMISSIVE' && hasIdentity ? 'PERMISSIVE' : null;
}

/** Per Snapshot.listeners index. */
export function inboundTlsModes(snapshot: Snapshot, hasIdentity: boolean): (InboundTlsMode | null)[] {
  return snapshot.listeners.map((l) => inboundTlsMode(l, hasIdentity));
}
