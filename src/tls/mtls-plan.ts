// Which inbound listeners the TLS front owns (from the PeerAuthentication mode compiled per listener).
import type { ListenerSpec, Snapshot } from '../config/snapshot.js';

/**
 * Whether the TLS front owns this listener's port: inbound in STRICT (with or without an identity:
 * it fails closed until one arrives), or PERMISSIVE with an identity (without one there is nothing
 * to terminate and plaintext is served directly).
 */
export function isFronted(l: ListenerSpec, hasIdentity: boolean): boolean {
  // TCP listeners terminate their mTLS in the workers (src/downstream/tcp/inbound-tls.ts)
  if (l.traffic === 'tcp' || l.traffic === 'tls') return false;
  return l.direction === 'inbound' && (l.mtlsMode === 'STRICT' || (l.mtlsMode === 'PERMISSIVE' && hasIdentity));
}

/** Indexes of the listeners the TLS front owns. */
export function frontedListeners(snapshot: Snapshot, hasIdentity: boolean): number[] {
  const out: number[] = [];
  snapshot.listeners.forEach((l, i) => {
    if (isFronted(l, hasIdentity)) out.push(i);
  });
  return out;
}
