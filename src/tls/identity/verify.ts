// Checks an X.509-SVID the way a peer would: chain to the trust bundle, validity window, key match,
// exactly one SPIFFE ID (optionally the expected one, in the expected trust domain).
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { parseSpiffeId, spiffeIdOf } from './spiffe.js';

export type IdentityErrorCode =
  | 'INVALID_PEM' | 'UNTRUSTED' | 'EXPIRED' | 'NOT_YET_VALID' | 'NOT_A_LEAF'
  | 'KEY_MISMATCH' | 'NO_SPIFFE_ID' | 'WRONG_IDENTITY' | 'WRONG_TRUST_DOMAIN';

export class IdentityError extends Error {
  override name = 'IdentityError';
  constructor(readonly code: IdentityErrorCode, message: string) { super(message); }
}

export interface VerifiedIdentity {
  spiffeId: string;
  notBefore: Date;
  notAfter: Date;
  leaf: X509Certificate;
}

export interface VerifyOptions {
  /** leaf first, then any intermediates (PEM text) — or the parsed leaf alone */
  cert: string | X509Certificate;
  /** trust bundle: one or more root certificates (PEM) */
  caPem: string;
  /** when given, must be the private key of the leaf */
  keyPem?: string;
  expectedId?: string;
  trustDomain?: string;
  now?: Date;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const MAX_DEPTH = 5;

/** Every CERTIFICATE block of a PEM text, parsed; throws IdentityError INVALID_PEM. */
export function parsePemCerts(pem: string, what: string): X509Certificate[] {
  const blocks = pem.match(PEM_CERT) ?? [];
  if (blocks.length === 0) throw new IdentityError('INVALID_PEM', `${what}: no PEM certificate`);
  try {
    return blocks.map((b) => new X509Certificate(b));
  } catch (err) {
    throw new IdentityError('INVALID_PEM', `${what}: ${(err as Error).message}`);
  }
}

export function validity(x: X509Certificate): { notBefore: Date; notAfter: Date } {
  return { notBefore: new Date(x.validFrom), notAfter: new Date(x.validTo) };
}

function checkTime(x: X509Certificate, now: Date, what: string): void {
  const { notBefore, notAfter } = validity(x);
  if (now < notBefore) throw new IdentityError('NOT_YET_VALID', `${what} is not valid before ${notBefore.toISOString()}`);
  if (now > notAfter) throw new IdentityError('EXPIRED', `${what} expired at ${notAfter.toISOString()}`);
}

/** Throws IdentityError (with a code a caller can map to a status) or returns the verified identity. */
export function verifyChainAndIdentity(opts: VerifyOptions): VerifiedIdentity {
  const now = opts.now ?? new Date();
  const chain = typeof opts.cert === 'string' ? parsePemCerts(opts.cert, 'certificate') : [opts.cert];
  const roots = parsePemCerts(opts.caPem, 'trust bundle');
  const leaf = chain[0] as X509Certificate;
  if (leaf.ca) throw new IdentityError('NOT_A_LEAF', 'the certificate is a CA certificate, not a workload certificate');
  let spiffeId: string;
  try {
    spiffeId = spiffeIdOf(leaf);
  } catch (err) {
    throw new IdentityError('NO_SPIFFE_ID', (err as Error).message);
  }
  checkTime(leaf, now, 'the certificate');
  verifyChain(leaf, chain.slice(1), roots, now);
  if (opts.keyPem !== undefined) {
    let matches = false;
    try { matches = leaf.checkPrivateKey(createPrivateKey(opts.keyPem)); } catch { /* not a key */ }
    if (!matches) throw new IdentityError('KEY_MISMATCH', 'the private key does not belong to the certificate');
  }
  if (opts.trustDomain !== undefined && parseSpiffeId(spiffeId).trustDomain !== opts.trustDomain) {
    throw new IdentityError('WRONG_TRUST_DOMAIN', `${spiffeId} is outside trust domain "${opts.trustDomain}"`);
  }
  if (opts.expectedId !== undefined && spiffeId !== opts.expectedId) {
    throw new IdentityError('WRONG_IDENTITY', `the certificate is for ${spiffeId}, not ${opts.expectedId}`);
  }
  return { spiffeId, ...validity(leaf), leaf };
}

/** Walks issuer links up to a root of the bundle; every hop checked for signature, CA flag and time. */
function verifyChain(leaf: X509Certificate, intermediates: X509Certificate[], roots: X509Certificate[], now: Date): void {
  let current = leaf;
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    const root = roots.find((r) => issued(r, current));
    if (root !== undefined) {
      checkTime(root, now, 'the CA certificate');
      return;
    }
    const next = intermediates.find((i) => issued(i, current));
    if (next === undefined) break;
    checkTime(next, now, 'an intermediate certificate');
    current = next;
  }
  throw new IdentityError('UNTRUSTED', 'the certificate does not chain to the trust bundle');
}

function issued(issuer: X509Certificate, cert: X509Certificate): boolean {
  return issuer.ca && cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
}
