// Which inbound listeners the TLS front owns, and the stopgap command-line overlay that sets mTLS
// modes until PeerAuthentication / DestinationRule tls are compiled into the snapshot.
import type { ClusterTlsSpec, MtlsMode, Snapshot } from '../config/snapshot.js';

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

export interface MtlsOverlay {
  /** every inbound listener without a mode of its own gets this one; null = leave as compiled */
  inboundMode: MtlsMode | null;
  /** host (as compiled, or its short name: `reviews` for reviews.default.svc.cluster.local) → ISTIO_MUTUAL with these subjectAltNames (may be empty) */
  upstream: Map<string, string[]>;
}

export function isMtlsMode(value: string): value is MtlsMode {
  return value === 'DISABLE' || value === 'PERMISSIVE' || value === 'STRICT';
}

/** `HOST` or `HOST=SAN1,SAN2` (the --upstream-mtls flag). */
export function parseUpstreamMtls(values: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const v of values) {
    const eq = v.indexOf('=');
    const host = (eq < 0 ? v : v.slice(0, eq)).trim().toLowerCase();
    if (host === '') throw new Error(`--upstream-mtls: expected HOST or HOST=SPIFFE_ID[,…], got "${v}"`);
    out.set(host, eq < 0 ? [] : v.slice(eq + 1).split(',').map((s) => s.trim()).filter((s) => s !== ''));
  }
  return out;
}

/** The snapshot with the overlay applied (a copy; the input is not changed). */
export function applyMtlsOverlay(snapshot: Snapshot, overlay: MtlsOverlay | null): Snapshot {
  if (overlay === null || (overlay.inboundMode === null && overlay.upstream.size === 0)) return snapshot;
  const mode = overlay.inboundMode;
  const listeners = snapshot.listeners.map((l) => (l.direction === 'inbound' && mode !== null && l.mtlsMode === undefined ? { ...l, mtlsMode: mode } : l));
  const clusters = snapshot.clusters.map((c) => {
    const sans = overlay.upstream.get(c.host) ?? overlay.upstream.get(c.host.slice(0, Math.max(0, c.host.indexOf('.'))));
    if (sans === undefined || (c.tls !== undefined && c.tls !== null)) return c;
    const tls: ClusterTlsSpec = { mode: 'ISTIO_MUTUAL', subjectAltNames: sans, sni: null };
    return { ...c, tls };
  });
  return { ...snapshot, listeners, clusters };
}
