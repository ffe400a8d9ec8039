// Which inbound listeners the TLS front owns (from the PeerAuthentication mode compiled per listener).
import type { Snapshot } from '../config/snapshot.js';

/**
 * Indexes of the listeners the TLS front owns: inbound in STRICT (with or without an identity: it
 * fails closed until one arrives), or PERMISSIVE with an identity (without one there is nothing to
 * terminate and plaintext is served directly).
 */
export function frontedListeners(snapshot: Snapshot, hasIdentity: boolean): number[] {
  const out: number[] = [];
  snapshot.listeners.forEach((l, i) => {
    if (l.direction !== 'inbound') return;
    if (l.mtlsMode === 'STRICT' || (l.mtlsMode === 'PERMISSIVE' && hasIdentity)) out.push(i);
  });
  return out;
}
