// The CA's CPU-heavy work (key generation, CSR checks, certificate signing), run inside the
// piscina pool (workers/ca-crypto.ts); plain data in, PEM strings out. Keys come from node:crypto
// (native); certificates and CSRs are built and parsed with @peculiar/x509 over node's WebCrypto,
// which handles RSA and ECDSA alike (node-forge, which signed before, cannot make ECDSA certificates and stays for test fixtures only).
import 'reflect-metadata'; // @peculiar/x509's dependency injection needs the Reflect API (its documented requirement)
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { DEFAULT_KEY_TYPE, type KeyType } from './key-type.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

// WebCrypto types, from node (this project compiles without the DOM lib)
type CryptoKey = webcrypto.CryptoKey;
type ImportParams = webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams;
type SignParams = webcrypto.RsaHashedImportParams | webcrypto.EcdsaParams;

export type CryptoTask =
  | { kind: 'generate-key'; keyType?: KeyType }
  | { kind: 'create-root'; trustDomain: string; notBefore: number; notAfter: number; keyType?: KeyType }
  | { kind: 'inspect-csr'; csrPem: string }
  | { kind: 'sign-leaf'; caKeyPem: string; caCertPem: string; publicKeyPem: string; sans: Sans; usage: 'workload' | 'server'; notBefore: number; notAfter: number }
  | { kind: 'create-csr'; spiffeId: string; keyType?: KeyType };

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
/** the curves a workload key may use (node's names) */
const EC_CURVES: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384' };
const KEY_REQUIREMENT = `the CSR key must be RSA (${MIN_RSA_BITS} bits or more) or ECDSA (P-256 or P-384)`;

export function runCryptoTask(task: CryptoTask): Promise<CryptoResults[CryptoTask['kind']]> | CryptoResults[CryptoTask['kind']] {
  switch (task.kind) {
    case 'generate-key': return generateKey(task.keyType ?? DEFAULT_KEY_TYPE);
    case 'create-root': return createRoot(task.trustDomain, task.notBefore, task.notAfter, task.keyType ?? 'rsa2048');
    case 'inspect-csr': return inspectCsr(task.csrPem);
    case 'sign-leaf': return signLeaf(task);
    case 'create-csr': return createCsr(task.spiffeId, task.keyType ?? DEFAULT_KEY_TYPE);
  }
}

function generateKey(keyType: KeyType): { keyPem: string; publicKeyPem: string } {
  const privateKeyEncoding = { type: 'pkcs8', format: 'pem' } as const;
  const publicKeyEncoding = { type: 'spki', format: 'pem' } as const;
  const { privateKey, publicKey } = keyType === 'ecdsa-p256'
    ? generateKeyPairSync('ec', { namedCurve: 'prime256v1', privateKeyEncoding, publicKeyEncoding })
    : generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding, publicKeyEncoding });
  return { keyPem: privateKey, publicKeyPem: publicKey };
}

/** The WebCrypto algorithm of a key: signatures are SHA-256 with RSA PKCS#1 v1.5, or ECDSA on the key's curve. */
function algorithmOf(key: KeyObject): ImportParams {
  if (key.asymmetricKeyType === 'rsa') return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const curve = EC_CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''];
  if (key.asymmetricKeyType === 'ec' && curve !== undefined) return { name: 'ECDSA', namedCurve: curve };
  throw new Error(`unsupported key type ${key.asymmetricKeyType ?? '?'} ${key.asymmetricKeyDetails?.namedCurve ?? ''}`);
}

function signingAlgorithm(alg: ImportParams): SignParams {
  return alg.name === 'ECDSA' ? { name: 'ECDSA', hash: 'SHA-256' } : alg as webcrypto.RsaHashedImportParams;
}

async function importPrivate(pem: string): Promise<{ key: CryptoKey; sign: SignParams }> {
  const obj = createPrivateKey(pem);
  const alg = algorithmOf(obj);
  const key = await webcrypto.subtle.importKey('pkcs8', obj.export({ type: 'pkcs8', format: 'der' }), alg, false, ['sign']);
  return { key, sign: signingAlgorithm(alg) };
}

async function importPublic(pem: string): Promise<CryptoKey> {
  const obj = createPublicKey(pem);
  return webcrypto.subtle.importKey('spki', obj.export({ type: 'spki', format: 'der' }), algorithmOf(obj), true, ['verify']);
}

/** A positive, non-zero 128-bit serial (RFC 5280: at most 20 octets, unpredictable). */
function serialHex(): string {
  const b = randomBytes(16);
  b[0] = ((b[0] as number) & 0x7f) | 0x10;
  return b.toString('hex');
}

function altNames(sans: Sans): x509.JsonGeneralName[] {
  return [
    ...(sans.uris ?? []).map((value) => ({ type: 'url' as const, value })),
    ...(sans.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(sans.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
}

async function createRoot(trustDomain: string, notBefore: number, notAfter: number, keyType: KeyType): Promise<{ keyPem: string; certPem: string }> {
  const { keyPem, publicKeyPem } = generateKey(keyType);
  const [signing, publicKey] = [await importPrivate(keyPem), await importPublic(publicKeyPem)];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialHex(),
    subject: 'O=meshlet, CN=meshlet mesh root CA',
    issuer: 'O=meshlet, CN=meshlet mesh root CA',
    notBefore: new Date(notBefore),
    notAfter: new Date(notAfter),
    publicKey,
    signingKey: signing.key,
    signingAlgorithm: signing.sign,
    extensions: [
      // pathLen 0: this root signs workloads directly, never an intermediate
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
      // the trust domain's own SPIFFE ID (no path): `ca serve` reads the trust domain from here
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `spiffe://${trustDomain}` }]),
    ],
  });
  return { keyPem, certPem: cert.toString('pem') };
}

async function inspectCsr(csrPem: string): Promise<CryptoResults['inspect-csr']> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch {
    return { ok: false, reason: 'not a PEM certificate signing request' };
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
    algorithmOf(key);
  } catch {
    return { ok: false, reason: KEY_REQUIREMENT };
  }
  if (key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS) return { ok: false, reason: KEY_REQUIREMENT };
  let verified = false;
  try { verified = await csr.verify(); } catch { /* an unsupported signature algorithm does not verify */ }
  if (!verified) return { ok: false, reason: 'the CSR signature does not verify' };
  const raw = csr.getExtension('2.5.29.17'); // subjectAltName
  const san = raw === null ? null : new x509.SubjectAlternativeNameExtension(raw.rawData);
  const spiffeIds = (san?.names.items ?? []).filter((n) => n.type === 'url' && n.value.startsWith('spiffe://')).map((n) => n.value);
  return { ok: true, spiffeIds, publicKeyPem: key.export({ type: 'spki', format: 'pem' }).toString() };
}

async function signLeaf(t: Extract<CryptoTask, { kind: 'sign-leaf' }>): Promise<{ certPem: string }> {
  const caCert = new x509.X509Certificate(t.caCertPem);
  const signing = await importPrivate(t.caKeyPem);
  const publicKey = await importPublic(t.publicKeyPem);
  const caKeyId = caCert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  // an RSA key may encipher (TLS 1.2 RSA key exchange); an ECDSA key only signs
  const rsa = createPublicKey(t.publicKeyPem).asymmetricKeyType === 'rsa';
  const usages = x509.KeyUsageFlags.digitalSignature | (rsa ? x509.KeyUsageFlags.keyEncipherment : 0);
  const extended = t.usage === 'server' ? [x509.ExtendedKeyUsage.serverAuth] : [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialHex(),
    subject: 'O=meshlet',
    // the issuer name exactly as the root encodes its subject (chain building compares them)
    issuer: new x509.Name(caCert.subjectName.toArrayBuffer()),
    notBefore: new Date(t.notBefore),
    notAfter: new Date(t.notAfter),
    publicKey,
    signingKey: signing.key,
    signingAlgorithm: signing.sign,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(usages, true),
      new x509.ExtendedKeyUsageExtension(extended),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
      ...(caKeyId === undefined ? [] : [new x509.AuthorityKeyIdentifierExtension(caKeyId)]),
      new x509.SubjectAlternativeNameExtension(altNames(t.sans)),
    ],
  });
  return { certPem: cert.toString('pem') };
}

async function createCsr(spiffeId: string, keyType: KeyType): Promise<{ keyPem: string; csrPem: string }> {
  const { keyPem, publicKeyPem } = generateKey(keyType);
  const signing = await importPrivate(keyPem);
  const publicKey = await importPublic(publicKeyPem);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'O=meshlet',
    keys: { privateKey: signing.key, publicKey },
    signingAlgorithm: signing.sign,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: spiffeId }])],
  });
  return { keyPem, csrPem: csr.toString('pem') };
}
