// The CA's CPU-heavy work (RSA key generation, CSR parsing, certificate signing with node-forge),
// run inside the piscina pool (workers/ca-crypto.ts); plain data in, PEM strings out.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';

const { pki } = forge;

export type CryptoTask =
  | { kind: 'generate-key' }
  | { kind: 'create-root'; trustDomain: string; notBefore: number; notAfter: number }
  | { kind: 'inspect-csr'; csrPem: string }
  | { kind: 'sign-leaf'; caKeyPem: string; caCertPem: string; publicKeyPem: string; sans: Sans; usage: 'workload' | 'server'; notBefore: number; notAfter: number }
  | { kind: 'create-csr'; spiffeId: string };

export interface Sans { uris?: string[]; dns?: string[]; ips?: string[] }

export interface CryptoResults {
  'generate-key': { keyPem: string; publicKeyPem: string };
  'create-root': { keyPem: string; certPem: string };
  /** a CSR the requester got wrong is a result (with its reason), not an exception */
  'inspect-csr': { ok: true; spiffeIds: string[]; publicKeyPem: string } | { ok: false; reason: string };
  'sign-leaf': { certPem: string };
  'create-csr': { keyPem: string; csrPem: string };
}

const MIN_RSA_BITS = 2048;

export function runCryptoTask(task: CryptoTask): CryptoResults[CryptoTask['kind']] {
  switch (task.kind) {
    case 'generate-key': return generateKey();
    case 'create-root': return createRoot(task.trustDomain, task.notBefore, task.notAfter);
    case 'inspect-csr': return inspectCsr(task.csrPem);
    case 'sign-leaf': return signLeaf(task);
    case 'create-csr': return createCsr(task.spiffeId);
  }
}

function generateKey(): { keyPem: string; publicKeyPem: string } {
  // forge cannot make EC keys and its RSA keygen is slow pure JS: node's native RSA instead
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return { keyPem: privateKey, publicKeyPem: publicKey };
}

/** A positive, non-zero 128-bit serial (RFC 5280: at most 20 octets, unpredictable). */
function serialHex(): string {
  const b = randomBytes(16);
  b[0] = ((b[0] as number) & 0x7f) | 0x10;
  return b.toString('hex');
}

function altNames(sans: Sans): object[] {
  return [
    ...(sans.uris ?? []).map((value) => ({ type: 6, value })),
    ...(sans.dns ?? []).map((value) => ({ type: 2, value })),
    ...(sans.ips ?? []).map((ip) => ({ type: 7, ip })),
  ];
}

function createRoot(trustDomain: string, notBefore: number, notAfter: number): { keyPem: string; certPem: string } {
  const { keyPem, publicKeyPem } = generateKey();
  const cert = pki.createCertificate();
  cert.publicKey = pki.publicKeyFromPem(publicKeyPem);
  cert.serialNumber = serialHex();
  cert.validity.notBefore = new Date(notBefore);
  cert.validity.notAfter = new Date(notAfter);
  const subject = [{ name: 'organizationName', value: 'meshlet' }, { name: 'commonName', value: 'meshlet mesh root CA' }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    // pathLen 0: this root signs workloads directly, never an intermediate
    { name: 'basicConstraints', critical: true, cA: true, pathLenConstraint: 0 },
    { name: 'keyUsage', critical: true, keyCertSign: true, cRLSign: true },
    { name: 'subjectKeyIdentifier' },
    // the trust domain's own SPIFFE ID (no path): `ca serve` reads the trust domain from here
    { name: 'subjectAltName', altNames: [{ type: 6, value: `spiffe://${trustDomain}` }] },
  ]);
  cert.sign(pki.privateKeyFromPem(keyPem), forge.md.sha256.create());
  return { keyPem, certPem: pki.certificateToPem(cert) };
}

function inspectCsr(csrPem: string): CryptoResults['inspect-csr'] {
  let csr: forge.pki.CertificateSigningRequest;
  try {
    csr = pki.certificationRequestFromPem(csrPem);
  } catch (err) {
    const why = /OID is not RSA/.test((err as Error).message) ? 'the CSR key must be RSA (2048 bits or more)' : 'not a PEM certificate signing request';
    return { ok: false, reason: why };
  }
  if (!csr.verify()) return { ok: false, reason: 'the CSR signature does not verify' };
  const key = csr.publicKey as forge.pki.rsa.PublicKey | null;
  if (key === null || key.n.bitLength() < MIN_RSA_BITS) return { ok: false, reason: `the CSR key must be RSA of ${MIN_RSA_BITS} bits or more` };
  const req = csr.getAttribute({ name: 'extensionRequest' }) as { extensions?: { name?: string; altNames?: { type: number; value: string }[] }[] } | null;
  const san = req?.extensions?.find((e) => e.name === 'subjectAltName');
  const spiffeIds = (san?.altNames ?? []).filter((a) => a.type === 6 && a.value.startsWith('spiffe://')).map((a) => a.value);
  return { ok: true, spiffeIds, publicKeyPem: pki.publicKeyToPem(key) };
}

function signLeaf(t: Extract<CryptoTask, { kind: 'sign-leaf' }>): { certPem: string } {
  const caCert = pki.certificateFromPem(t.caCertPem);
  const cert = pki.createCertificate();
  cert.publicKey = pki.publicKeyFromPem(t.publicKeyPem);
  cert.serialNumber = serialHex();
  cert.validity.notBefore = new Date(t.notBefore);
  cert.validity.notAfter = new Date(t.notAfter);
  cert.setSubject([{ name: 'organizationName', value: 'meshlet' }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', critical: true, cA: false },
    { name: 'keyUsage', critical: true, digitalSignature: true, keyEncipherment: true },
    t.usage === 'server' ? { name: 'extKeyUsage', serverAuth: true } : { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
    { name: 'subjectAltName', altNames: altNames(t.sans) },
  ]);
  cert.sign(pki.privateKeyFromPem(t.caKeyPem), forge.md.sha256.create());
  return { certPem: pki.certificateToPem(cert) };
}

function createCsr(spiffeId: string): { keyPem: string; csrPem: string } {
  const { keyPem, publicKeyPem } = generateKey();
  const csr = pki.createCertificationRequest();
  csr.publicKey = pki.publicKeyFromPem(publicKeyPem);
  csr.setSubject([{ name: 'organizationName', value: 'meshlet' }]);
  csr.setAttributes([{ name: 'extensionRequest', extensions: [{ name: 'subjectAltName', altNames: [{ type: 6, value: spiffeId }] }] }]);
  csr.sign(pki.privateKeyFromPem(keyPem), forge.md.sha256.create());
  return { keyPem, csrPem: pki.certificationRequestToPem(csr) };
}
