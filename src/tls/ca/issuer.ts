// Issuing certificates from a loaded CA: workload X.509-SVIDs (one SPIFFE URI SAN, client+server
// auth) and the signing service's own server certificate. Validity is always the CA's decision.
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { parseSpiffeIdIn } from '../identity/spiffe.js';
import { validity } from '../identity/verify.js';
import { runCrypto } from './crypto-pool.js';
import type { KeyType } from './key-type.js';
import type { LoadedCa } from './store.js';

/** notBefore is backdated this much so a peer whose clock is a little behind still accepts the cert */
export const CLOCK_SKEW_MS = 60_000;

export interface IssuedCert {
  spiffeId: string;
  certPem: string;
  /** the trust bundle: the root certificate */
  caPem: string;
  notBefore: Date;
  notAfter: Date;
  serial: string;
}

export interface ValidityOverride {
  /** for tests and tools: exact validity instead of now − skew … now + ttl */
  notBefore?: Date;
  notAfter?: Date;
}

function window(ca: LoadedCa, ttlMs: number, override: ValidityOverride = {}): { notBefore: number; notAfter: number } {
  const now = Date.now();
  const notBefore = override.notBefore?.getTime() ?? now - CLOCK_SKEW_MS;
  // rounded up: certificates count whole seconds, and truncating would shorten a short lifetime;
  // a leaf never outlives its root
  const notAfter = override.notAfter?.getTime() ?? Math.min(Math.ceil((now + ttlMs) / 1000) * 1000, ca.notAfter.getTime());
  return { notBefore, notAfter };
}

function describe(certPem: string, caPem: string, spiffeId: string): IssuedCert {
  const x = new X509Certificate(certPem);
  return { spiffeId, certPem, caPem, ...validity(x), serial: x.serialNumber };
}

/** Signs `publicKeyPem` for `spiffeId` (validated: a SPIFFE ID in the CA's trust domain). */
export async function issueWorkloadCert(ca: LoadedCa, publicKeyPem: string, spiffeId: string, ttlMs: number, override?: ValidityOverride): Promise<IssuedCert> {
  const id = parseSpiffeIdIn(spiffeId, ca.trustDomain).uri;
  const { certPem } = await runCrypto({
    kind: 'sign-leaf', caKeyPem: ca.keyPem, caCertPem: ca.certPem, publicKeyPem,
    sans: { uris: [id] }, usage: 'workload', ...window(ca, ttlMs, override),
  });
  return describe(certPem, ca.certPem, id);
}

/** A fresh key and certificate (`ca issue`); the key leaves only in the returned object. */
export async function issueWorkloadKeyAndCert(ca: LoadedCa, spiffeId: string, ttlMs: number, override?: ValidityOverride, keyType?: KeyType): Promise<IssuedCert & { keyPem: string }> {
  parseSpiffeIdIn(spiffeId, ca.trustDomain); // fail before spending a key generation
  const { keyPem, publicKeyPem } = await runCrypto({ kind: 'generate-key', ...(keyType === undefined ? {} : { keyType }) });
  return { ...(await issueWorkloadCert(ca, publicKeyPem, spiffeId, ttlMs, override)), keyPem };
}

/** The signing service's TLS certificate: DNS/IP SANs for the names clients dial, serverAuth only. */
export async function issueServerCert(ca: LoadedCa, hosts: string[], ttlMs: number): Promise<{ keyPem: string; certPem: string; notAfter: Date }> {
  const { keyPem, publicKeyPem } = await runCrypto({ kind: 'generate-key' });
  const unique = [...new Set(hosts)];
  const { certPem } = await runCrypto({
    kind: 'sign-leaf', caKeyPem: ca.keyPem, caCertPem: ca.certPem, publicKeyPem, usage: 'server',
    sans: { dns: unique.filter((h) => isIP(h) === 0), ips: unique.filter((h) => isIP(h) !== 0) },
    ...window(ca, ttlMs),
  });
  return { keyPem, certPem, notAfter: validity(new X509Certificate(certPem)).notAfter };
}
