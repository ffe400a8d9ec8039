// Certificate helpers the TLS transport uses on the workload identity (src/tls/identity produces
// it): URI SANs, SPIFFE id and trust domain of a peer certificate, PEMs checked to fit together.
import { X509Certificate, createPrivateKey } from 'node:crypto';

export type { WorkloadIdentity } from './identity/source.js';
import type { WorkloadIdentity } from './identity/source.js';

/** spiffe://<trust domain>/... → the trust domain ('' when not a SPIFFE id). */
export function trustDomainOf(spiffeId: string): string {
  if (!spiffeId.startsWith('spiffe://')) return '';
  const slash = spiffeId.indexOf('/', 9);
  return spiffeId.slice(9, slash < 0 ? spiffeId.length : slash);
}

/** Every `URI:` entry of a certificate's subjectAltName string (Node's format: "URI:a, DNS:b"). */
export function uriSans(subjectAltName: string | undefined): string[] {
  if (subjectAltName === undefined || subjectAltName === '') return [];
  const out: string[] = [];
  for (const part of subjectAltName.split(', ')) {
    // Node quotes entries with special characters as JSON strings: URI:"spiffe://…"
    if (part.startsWith('URI:"')) out.push(JSON.parse(part.slice(4)) as string);
    else if (part.startsWith('URI:')) out.push(part.slice(4));
  }
  return out;
}

/** The first spiffe:// URI SAN, or ''. */
export function spiffeIdOf(subjectAltName: string | undefined): string {
  for (const uri of uriSans(subjectAltName)) if (uri.startsWith('spiffe://')) return uri;
  return '';
}

/** Builds a WorkloadIdentity from PEM texts; throws when they do not fit together. */
export function identityFromPems(certPem: string, keyPem: string, caPem: string): WorkloadIdentity {
  const cert = new X509Certificate(certPem);
  const key = createPrivateKey(keyPem);
  if (!cert.checkPrivateKey(key)) throw new Error('identity: the key does not match the certificate');
  new X509Certificate(caPem); // parses (the first certificate of the bundle)
  const spiffeId = spiffeIdOf(cert.subjectAltName);
  if (spiffeId === '') throw new Error('identity: the certificate has no spiffe:// URI SAN');
  return { spiffeId, certPem, keyPem, caPem, notBefore: new Date(cert.validFrom), notAfter: new Date(cert.validTo) };
}
