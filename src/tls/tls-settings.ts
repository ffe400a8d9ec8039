// TLS parameters of the mesh transport, in one place.
// Inbound accepts TLS 1.2 and 1.3: Istio's default minimum is 1.2 and Envoy clients in a mixed
// mesh may be capped at 1.2 (only ECDHE + AEAD suites are offered for 1.2). Outbound speaks 1.3
// only: every Istio-era server (Envoy, meshlet) offers it, and 1.3 avoids a round trip.
import type { SecureContextOptions } from 'node:tls';
import { MX_ALPN } from '../telemetry/mx-once.js';
import type { WorkloadIdentity } from './identity/source.js';

/**
 * what outbound mesh connections of HTTP/1.1 pools offer (inbound listeners:
 * src/downstream/tls/alpn.ts): HTTP/1.1 with the metadata exchanged once (a meshlet server), else HTTP/1.1
 */
export const OUTBOUND_ALPN = [MX_ALPN, 'http/1.1'];
/** what outbound mesh connections of HTTP/2 pools offer: only h2 (a peer that cannot is a connect failure) */
export const OUTBOUND_ALPN_H2 = ['h2'];
export const INBOUND_MIN_VERSION = 'TLSv1.2';
export const OUTBOUND_MIN_VERSION = 'TLSv1.3';
/**
 * TLS 1.3 suites in Envoy's (BoringSSL's) order on a CPU with AES instructions: AES-128-GCM first.
 * OpenSSL's default puts AES-256-GCM first; both are AEADs Istio accepts, and 128 is what two
 * Envoys negotiate. (Per request on this hop the cipher is under 1% of a sidecar's CPU: records
 * are small; it is chosen to match the mesh, not for speed.)
 */
const TLS13_CIPHERS = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'].join(':');
const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');
/** A handshake not finished within this is dropped (and a PERMISSIVE connection that sends nothing). */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/**
 * Session resumption (TLS 1.3 tickets, TLS 1.2 tickets): a ticket is accepted this long after
 * its full handshake. The ticket keys are the sidecar's (every worker has the same ones, from the
 * control thread) and change with each identity rotation, so no session outlives the identity or
 * trust bundle it was verified with.
 */
export const SESSION_TIMEOUT_S = 300;
/** the session id context (OpenSSL refuses to resume client-authenticated sessions without one) */
export const SESSION_ID_CONTEXT = 'meshlet-mesh-mtls';
/** TLS ticket keys: 48 bytes (name, HMAC and AES keys) */
export const TICKET_KEYS_BYTES = 48;

export function serverContextOptions(id: WorkloadIdentity): SecureContextOptions {
  return { key: id.keyPem, cert: id.certPem, ca: id.caPem, minVersion: INBOUND_MIN_VERSION, ciphers: `${TLS13_CIPHERS}:${TLS12_CIPHERS}` };
}

export function clientContextOptions(id: WorkloadIdentity): SecureContextOptions {
  return { key: id.keyPem, cert: id.certPem, ca: id.caPem, minVersion: OUTBOUND_MIN_VERSION, ciphers: TLS13_CIPHERS };
}
