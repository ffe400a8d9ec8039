// Test PKI made with node-forge: a mesh root CA, workload leaf certificates with SPIFFE URI SANs,
// a second (foreign) CA and expired leaves. RSA keys come from node:crypto (fast, native).
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import forge from 'node-forge';
import type { WorkloadIdentity } from '../../src/tls/identity/source.js';
import { runCryptoTask } from '../../src/tls/ca/crypto-tasks.js';
import { verifyChainAndIdentity } from '../../src/tls/identity/verify.js';

const { pki } = forge;

export interface Ca {
  certPem: string;
  keyPem: string;
  cert: forge.pki.Certificate;
  key: forge.pki.rsa.PrivateKey;
}

export interface Leaf {
  spiffeId: string;
  certPem: string;
  keyPem: string;
}

let serial = 1;

function rsaKeys(): { publicKey: forge.pki.rsa.PublicKey; privateKey: forge.pki.rsa.PrivateKey; keyPem: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const forgeKey = pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
  return { privateKey: forgeKey, publicKey: pki.setRsaPublicKey(forgeKey.n, forgeKey.e), keyPem };
}

function serialHex(): string {
  return (0x10000 + serial++).toString(16);
}

export function makeCa(name: string): Ca {
  const keys = rsaKeys();
  const cert = pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serialHex();
  cert.validity.notBefore = new Date(Date.now() - 3600_000);
  cert.validity.notAfter = new Date(Date.now() + 365 * 86400_000);
  const attrs = [{ name: 'organizationName', value: name }, { name: 'commonName', value: `${name} root` }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { certPem: pki.certificateToPem(cert), keyPem: keys.keyPem, cert, key: keys.privateKey };
}

export interface LeafOptions {
  /** already expired (valid yesterday only) */
  expired?: boolean;
  /** extra URI SANs after the SPIFFE id */
  uris?: string[];
  /** IP address SANs (a server certificate for 127.0.0.1, e.g. etcd's) */
  ips?: string[];
  /** DNS name SANs (an app's own TLS server certificate) */
  dns?: string[];
}

/** A workload certificate (client and server auth) whose only identity is its URI SAN. */
export function makeLeaf(ca: Ca, spiffeId: string, opts: LeafOptions = {}): Leaf {
  const keys = rsaKeys();
  const cert = pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serialHex();
  const now = Date.now();
  cert.validity.notBefore = new Date(opts.expired === true ? now - 2 * 86400_000 : now - 3600_000);
  cert.validity.notAfter = new Date(opts.expired === true ? now - 86400_000 : now + 86400_000);
  cert.setSubject([]);
  cert.setIssuer(ca.cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    { name: 'subjectAltName', critical: true, altNames: [
      ...[spiffeId, ...(opts.uris ?? [])].map((value) => ({ type: 6, value })), ...(opts.ips ?? []).map((ip) => ({ type: 7, ip })),
      ...(opts.dns ?? []).map((value) => ({ type: 2, value })),
    ] },
  ]);
  cert.sign(ca.key, forge.md.sha256.create());
  return { spiffeId, certPem: pki.certificateToPem(cert), keyPem: keys.keyPem };
}

/** A workload certificate like makeLeaf's, with an ECDSA P-256 key (signed by the RSA `ca`, as meshlet's CA does). */
export async function makeEcdsaLeaf(ca: Ca, spiffeId: string): Promise<Leaf> {
  const { keyPem, publicKeyPem } = await runCryptoTask({ kind: 'generate-key', keyType: 'ecdsa-p256' }) as { keyPem: string; publicKeyPem: string };
  const now = Date.now();
  const { certPem } = await runCryptoTask({
    kind: 'sign-leaf', caKeyPem: ca.keyPem, caCertPem: ca.certPem, publicKeyPem, sans: { uris: [spiffeId] }, usage: 'workload',
    notBefore: now - 3600_000, notAfter: now + 86400_000,
  }) as { certPem: string };
  return { spiffeId, certPem, keyPem };
}

export interface IdentityDir {
  cert: string;
  key: string;
  ca: string;
  /** replaces the files (each renamed over the old one, as a Secret update does) */
  write(leaf: Leaf, caPem: string): void;
}

/** The three --identity-* files for `leaf` in a fresh directory. */
export function identityDir(leaf: Leaf, caPem: string): IdentityDir {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshlet-identity-'));
  const files = { cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem'), ca: path.join(dir, 'ca.pem') };
  const write = (l: Leaf, ca: string): void => {
    for (const [file, text] of [[files.ca, ca], [files.key, l.keyPem], [files.cert, l.certPem]] as const) {
      writeFileSync(`${file}.tmp`, text);
      renameSync(`${file}.tmp`, file);
    }
  };
  write(leaf, caPem);
  return { ...files, write };
}

/** `meshlet run` flags for this identity directory (key.pem, cert.pem, ca.pem; re-read on change). */
export function identityArgs(d: IdentityDir): string[] {
  return ['--identity-dir', path.dirname(d.cert)];
}

/** A namespace-wide PeerAuthentication with this mode. */
export function peerAuthenticationYaml(mode: 'STRICT' | 'PERMISSIVE' | 'DISABLE'): string {
  return `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default}
spec:
  mtls: {mode: ${mode}}
---
`;
}

/** A DestinationRule originating Istio mTLS to `host`, optionally pinning the server's SPIFFE ids. */
export function istioMutualYaml(host: string, subjectAltNames: string[] = []): string {
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${host}}
spec:
  host: ${host}
  trafficPolicy:
    tls: {mode: ISTIO_MUTUAL${subjectAltNames.length > 0 ? `, subjectAltNames: [${subjectAltNames.map((x) => `"${x}"`).join(', ')}]` : ''}}
---
`;
}

/** The WorkloadIdentity of `leaf` as the identity sources build it (checked: key, chain, SPIFFE id). */
export function identityOf(leaf: Leaf, caPem: string): WorkloadIdentity {
  const v = verifyChainAndIdentity({ cert: leaf.certPem, caPem, keyPem: leaf.keyPem });
  return { spiffeId: v.spiffeId, certPem: leaf.certPem, keyPem: leaf.keyPem, caPem, notBefore: v.notBefore, notAfter: v.notAfter };
}
