// The CA directory: `ca.key` (root private key, 0600), `ca.pem` (root certificate = trust bundle)
// and `tokens/` (join tokens, see tokens.ts); the directory is 0700. The trust domain is read
// from the root's URI SAN (`spiffe://<trust domain>`), so the directory has no other state.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { sanEntries } from '../identity/spiffe.js';
import { validity } from '../identity/verify.js';
import { runCrypto } from './crypto-pool.js';
import { ensurePrivateDir, modeOf, writeFileAtomic } from './files.js';
import type { KeyType } from './key-type.js';

export const CA_KEY_FILE = 'ca.key';
export const CA_CERT_FILE = 'ca.pem';
const ROOT_TTL_MS = 10 * 365 * 86_400_000;

export interface LoadedCa {
  dir: string;
  /** secret: never log, never serve */
  keyPem: string;
  certPem: string;
  cert: X509Certificate;
  trustDomain: string;
  notAfter: Date;
}

/** `ca init`: refuses a directory that already holds a CA (a new root would orphan every workload). */
export async function initCa(dir: string, trustDomain: string, keyType: KeyType = 'rsa2048'): Promise<LoadedCa> {
  if (existsSync(path.join(dir, CA_KEY_FILE))) throw new Error(`${dir} already holds a CA (${CA_KEY_FILE}); refusing to replace it`);
  ensurePrivateDir(dir);
  const now = Date.now();
  const { keyPem, certPem } = await runCrypto({ kind: 'create-root', trustDomain, notBefore: now - 60_000, notAfter: now + ROOT_TTL_MS, keyType });
  // key first: a ca.pem without its key would look like a usable CA
  writeFileAtomic(path.join(dir, CA_KEY_FILE), keyPem, 0o600);
  writeFileAtomic(path.join(dir, CA_CERT_FILE), certPem, 0o644);
  return loadCa(dir);
}

export function loadCa(dir: string): LoadedCa {
  const keyFile = path.join(dir, CA_KEY_FILE);
  const certFile = path.join(dir, CA_CERT_FILE);
  if (!existsSync(keyFile) || !existsSync(certFile)) throw new Error(`${dir} holds no CA (${CA_KEY_FILE} and ${CA_CERT_FILE}); run \`meshlet ca init --dir ${dir}\``);
  const mode = modeOf(keyFile);
  if ((mode & 0o077) !== 0) throw new Error(`${keyFile} is accessible to group or others (mode ${mode.toString(8)}); chmod 600 it`);
  const keyPem = readFileSync(keyFile, 'utf8');
  const certPem = readFileSync(certFile, 'utf8');
  const cert = new X509Certificate(certPem);
  if (!cert.ca || !cert.checkPrivateKey(createPrivateKey(keyPem))) throw new Error(`${dir}: ${CA_CERT_FILE} is not the CA certificate of ${CA_KEY_FILE}`);
  const td = sanEntries(cert.subjectAltName).find((e) => e.startsWith('URI:spiffe://'));
  if (td === undefined) throw new Error(`${certFile} names no trust domain (URI SAN spiffe://TRUST-DOMAIN)`);
  return { dir, keyPem, certPem, cert, trustDomain: td.slice('URI:spiffe://'.length), notAfter: validity(cert).notAfter };
}
