// TLS parameters of the mesh transport, in one place.
// Inbound accepts TLS 1.2 and 1.3: Istio's default minimum is 1.2 and Envoy clients in a mixed
// mesh may be capped at 1.2 (only ECDHE + AEAD suites are offered for 1.2). Outbound speaks 1.3
// only: every Istio-era server (Envoy, meshlet) offers it, and 1.3 avoids a round trip.
import type { SecureContextOptions } from 'node:tls';
import type { WorkloadIdentity } from './identity/source.js';

export const ALPN = ['http/1.1'];
/** upstream connections of HTTP/2 clusters offer only h2 (a peer that cannot is a connect failure) */
export const ALPN_H2 = ['h2'];
/** the inbound TLS listener offers both; HTTP/2 is served after ALPN h2 (the bytes open with the preface) */
export const INBOUND_ALPN = ['h2', 'http/1.1'];
export const INBOUND_MIN_VERSION = 'TLSv1.2';
export const OUTBOUND_MIN_VERSION = 'TLSv1.3';
const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');
/** A handshake not finished within this is dropped (slow or idle clients hold no slot meanwhile). */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

export function serverContextOptions(id: WorkloadIdentity): SecureContextOptions {
  return { key: id.keyPem, cert: id.certPem, ca: id.caPem, minVersion: INBOUND_MIN_VERSION, ciphers: TLS12_CIPHERS };
}

export function clientContextOptions(id: WorkloadIdentity): SecureContextOptions {
  return { key: id.keyPem, cert: id.certPem, ca: id.caPem, minVersion: OUTBOUND_MIN_VERSION };
}
