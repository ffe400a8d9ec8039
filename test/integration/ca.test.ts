// The mesh CA end to end: `meshlet ca init | issue | token | serve` as real processes, signing
// requests over HTTPS on 127.0.0.1 (join token, renewal by client certificate, every refusal and
// its reason), and CaClientIdentitySource renewing a short-lived certificate before it expires.
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { after, before, test } from 'node:test';
import forge from 'node-forge';
import { closeCryptoPool, runCrypto } from '../../src/tls/ca/crypto-pool.js';
import { issueWorkloadKeyAndCert } from '../../src/tls/ca/issuer.js';
import { loadCa } from '../../src/tls/ca/store.js';
import { createToken } from '../../src/tls/ca/tokens.js';
import { CaClientIdentitySource } from '../../src/tls/identity/ca-client-source.js';
import { CaRequestError, requestCertificate, type SignAuth } from '../../src/tls/identity/ca-client.js';
import type { WorkloadIdentity } from '../../src/tls/identity/source.js';
import { sanEntries, spiffeIdOf } from '../../src/tls/identity/spiffe.js';
import { verifyChainAndIdentity } from '../../src/tls/identity/verify.js';
import { runCli, startCaServe, type CliRun } from '../helpers/meshlet.js';
import { captureLog, newCa, tmpDir } from '../unit/tls/helpers.js';

const WEB = 'spiffe://cluster.local/ns/default/sa/web';
const DB = 'spiffe://cluster.local/ns/default/sa/db';
const T = { timeout: 30_000 };

type Run = CliRun;
const cli = runCli;

const root = tmpDir('ca-it');
const caDir = path.join(root, 'ca');
let initRun: Run;
let serve: ChildProcess;
let getServeLog = (): string => '';
let caUrl = '';
let caPem = '';

/** the CA key's base64 body lines: none may ever appear in output or logs */
const keyLines = (): string[] => readFileSync(path.join(caDir, 'ca.key'), 'utf8').split('\n').filter((l) => l.length > 40);

before(async () => {
  initRun = await cli(['ca', 'init', '--dir', caDir, '--trust-domain', 'cluster.local']);
  assert.equal(initRun.code, 0, initRun.stderr);
  caPem = readFileSync(path.join(caDir, 'ca.pem'), 'utf8');
  const ca = await startCaServe(caDir, ['--max-ttl', '1h']);
  serve = ca.proc;
  caUrl = ca.url;
  getServeLog = ca.log;
});

after(async () => {
  serve.kill('SIGTERM');
  const [code] = await once(serve, 'exit');
  assert.equal(code, 0, getServeLog());
  for (const line of keyLines()) assert.ok(!getServeLog().includes(line), 'the CA key never appears in the serve logs');
  assert.ok(!getServeLog().includes('PRIVATE KEY'));
  await closeCryptoPool();
});

/** a raw POST without a client certificate: for requests requestCertificate() would not send */
function post(body: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(`${caUrl}/v1/sign`, { method: 'POST', ca: caPem, agent: false, headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function csrFor(id: string): Promise<{ keyPem: string; csrPem: string }> {
  return runCrypto({ kind: 'create-csr', spiffeId: id });
}

function refusedWith(status: number, reason: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof CaRequestError, String(err));
    assert.equal(err.status, status, err.message);
    assert.match(err.message, reason);
    return true;
  };
}

async function sign(auth: SignAuth, id: string, ttl?: string): Promise<WorkloadIdentity> {
  const { keyPem, csrPem } = await csrFor(id);
  const res = await requestCertificate(caUrl, caPem, auth, ttl === undefined ? { csr: csrPem } : { csr: csrPem, ttl });
  const v = verifyChainAndIdentity({ cert: res.certPem, caPem, keyPem, expectedId: id });
  return { spiffeId: v.spiffeId, certPem: res.certPem, keyPem, caPem: res.caPem, notBefore: v.notBefore, notAfter: v.notAfter };
}

async function token(id: string, ttl = '10m'): Promise<string> {
  const r = await cli(['ca', 'token', '--dir', caDir, '--identity', id, '--ttl', ttl]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

test('ca init: a self-signed CA root, key 0600 in a 0700 dir, the key in no output; a second init is refused', T, async () => {
  assert.equal(statSync(caDir).mode & 0o777, 0o700);
  assert.equal(statSync(path.join(caDir, 'ca.key')).mode & 0o777, 0o600);
  const out = initRun.stdout + initRun.stderr;
  assert.match(initRun.stdout, /created a root CA for trust domain cluster\.local/);
  assert.ok(!out.includes('PRIVATE KEY'));
  for (const line of keyLines()) assert.ok(!out.includes(line));
  const x = new X509Certificate(caPem);
  assert.ok(x.ca && x.checkIssued(x) && x.verify(x.publicKey), 'self-signed CA');
  const fc = forge.pki.certificateFromPem(caPem);
  assert.equal((fc.getExtension('keyUsage') as { keyCertSign?: boolean }).keyCertSign, true);
  assert.equal((fc.getExtension('basicConstraints') as { cA?: boolean }).cA, true);
  const again = await cli(['ca', 'init', '--dir', caDir]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already holds a CA/);
});

test('ca issue: key 0600, a leaf whose one URI SAN is the identity and which verifies against ca.pem', T, async () => {
  const out = path.join(root, 'web');
  const r = await cli(['ca', 'issue', '--dir', caDir, '--identity', WEB, '--ttl', '10m', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!(r.stdout + r.stderr).includes('PRIVATE KEY'));
  assert.equal(statSync(path.join(out, 'key.pem')).mode & 0o777, 0o600);
  const certPem = readFileSync(path.join(out, 'cert.pem'), 'utf8');
  assert.equal(readFileSync(path.join(out, 'ca.pem'), 'utf8'), caPem);
  const v = verifyChainAndIdentity({ cert: certPem, caPem, keyPem: readFileSync(path.join(out, 'key.pem'), 'utf8'), expectedId: WEB });
  assert.deepEqual(sanEntries(v.leaf.subjectAltName), [`URI:${WEB}`]);
  assert.deepEqual(v.leaf.keyUsage, ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'], 'extKeyUsage serverAuth + clientAuth');
  const ku = forge.pki.certificateFromPem(certPem).getExtension('keyUsage') as Record<string, boolean>;
  assert.ok(ku.digitalSignature && ku.keyEncipherment && !ku.keyCertSign);
  assert.ok(!v.leaf.ca);
  assert.ok(v.notBefore.getTime() < Date.now() - 30_000, 'backdated for clock skew');
  assert.ok(Math.abs(v.notAfter.getTime() - Date.now() - 600_000) < 10_000, 'ten minutes');

  const foreign = await cli(['ca', 'issue', '--dir', caDir, '--identity', 'spiffe://prod.example/ns/a/sa/b', '--out', path.join(root, 'x')]);
  assert.equal(foreign.code, 1);
  assert.match(foreign.stderr, /outside trust domain "cluster\.local"/);
  const notSpiffe = await cli(['ca', 'issue', '--dir', caDir, '--identity', 'web', '--out', path.join(root, 'x')]);
  assert.match(notSpiffe.stderr, /not a SPIFFE ID: expected spiffe:\/\/TRUST-DOMAIN\/PATH/);
  const badTtl = await cli(['ca', 'issue', '--dir', caDir, '--identity', WEB, '--ttl', '1w', '--out', path.join(root, 'x')]);
  assert.match(badTtl.stderr, /--ttl: expected a lifetime like 30s, 10m, 24h/);
});

test('join token: first CSR succeeds (extra SANs ignored, ttl capped); reuse is refused with the reason', T, async () => {
  const t = await token(WEB);
  assert.match(t, /^[A-Za-z0-9_-]{43}$/);
  const tokenFiles = path.join(caDir, 'tokens');
  assert.equal(statSync(tokenFiles).mode & 0o777, 0o700);
  assert.ok(!readFileSync(path.join(caDir, 'tokens', readdirSync(tokenFiles)[0] as string), 'utf8').includes(t), 'stored hashed');

  // a CSR asking for more than its identity: DNS and IP SANs besides the SPIFFE ID
  const { keyPem, publicKeyPem } = await runCrypto({ kind: 'generate-key' });
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.publicKeyFromPem(publicKeyPem);
  csr.setSubject([{ name: 'commonName', value: 'admin' }]);
  csr.setAttributes([{ name: 'extensionRequest', extensions: [{ name: 'subjectAltName', altNames: [{ type: 6, value: WEB }, { type: 2, value: 'bank.example' }, { type: 7, ip: '10.0.0.1' }] }] }]);
  csr.sign(forge.pki.privateKeyFromPem(keyPem), forge.md.sha256.create());
  const res = await requestCertificate(caUrl, caPem, { token: t }, { csr: forge.pki.certificationRequestToPem(csr), ttl: '48h' });
  const leaf = new X509Certificate(res.certPem);
  assert.deepEqual(sanEntries(leaf.subjectAltName), [`URI:${WEB}`]);
  assert.ok(new Date(leaf.validTo).getTime() <= Date.now() + 3_600_000 + 5_000, 'capped by --max-ttl 1h');
  assert.ok(!leaf.subject.includes('admin'));

  await assert.rejects(sign({ token: t }, WEB), refusedWith(401, /join token already used/));
});

test('a token for identity X cannot get identity Y (and is not spent by trying)', T, async () => {
  const t = await token(WEB);
  await assert.rejects(sign({ token: t }, DB), refusedWith(403, /join token is for spiffe:\/\/cluster\.local\/ns\/default\/sa\/web; the CSR asks for .*sa\/db/));
  assert.equal((await sign({ token: t }, WEB)).spiffeId, WEB);
});

test('unknown and expired tokens, no credentials, a malformed CSR and an oversized body are refused', T, async () => {
  await assert.rejects(sign({ token: 'x'.repeat(43) }, WEB), refusedWith(401, /unknown join token/));
  const expired = createToken(caDir, WEB, 60_000, Date.now() - 120_000).token;
  await assert.rejects(sign({ token: expired }, WEB), refusedWith(401, /join token expired/));
  const t = await token(WEB);
  await assert.rejects(requestCertificate(caUrl, caPem, { token: t }, { csr: 'hello' }), refusedWith(400, /not a PEM certificate signing request/));
  const { csrPem } = await csrFor(WEB);
  await assert.rejects(requestCertificate(caUrl, caPem, { token: t }, { csr: csrPem, ttl: 'forever' }), refusedWith(400, /ttl: expected a lifetime/));
  const basic = await post(JSON.stringify({ csr: csrPem }), { authorization: 'Basic dXNlcjpwYXNz', 'content-type': 'application/json' });
  assert.deepEqual([basic.status, JSON.parse(basic.body)], [401, { error: 'Authorization must be "Bearer <join token>"' }]);
  const none = await post(csrPem);
  assert.deepEqual([none.status, JSON.parse(none.body)], [401, { error: 'no join token and no client certificate' }]);

  const big = await post(Buffer.alloc(200_000, 'a'));
  assert.equal(big.status, 413);
  assert.deepEqual(JSON.parse(big.body), { error: 'request body larger than 65536 bytes' });
});

test('renewal: the current certificate renews its own identity, never another; foreign and expired certs are refused', T, async () => {
  const first = await sign({ token: await token(WEB) }, WEB);
  const renewed = await sign({ keyPem: first.keyPem, certPem: first.certPem }, WEB, '30m');
  assert.equal(spiffeIdOf(renewed.certPem), WEB);
  assert.notEqual(renewed.certPem, first.certPem);
  assert.ok(Math.abs(renewed.notAfter.getTime() - Date.now() - 1_800_000) < 10_000);

  await assert.rejects(sign({ keyPem: first.keyPem, certPem: first.certPem }, DB), refusedWith(403, /renewal keeps the identity: the client certificate is .*sa\/web; the CSR asks for .*sa\/db/));

  const other = await newCa();
  const foreign = await issueWorkloadKeyAndCert(other, WEB, 3_600_000);
  await assert.rejects(sign({ keyPem: foreign.keyPem, certPem: foreign.certPem }, WEB), refusedWith(401, /client certificate is not issued by this CA/));

  const ours = loadCa(caDir);
  const old = await issueWorkloadKeyAndCert(ours, WEB, 0, { notBefore: new Date(Date.now() - 7_200_000), notAfter: new Date(Date.now() - 3_600_000) });
  await assert.rejects(sign({ keyPem: old.keyPem, certPem: old.certPem }, WEB), refusedWith(401, /client certificate expired/));

});

test('CaClientIdentitySource: a 4 s certificate is renewed before it expires (update with a later notAfter)', T, async () => {
  const cap = captureLog();
  const src = new CaClientIdentitySource({ caUrl, token: await token(WEB), identity: WEB, caFile: path.join(caDir, 'ca.pem'), ttl: '4s', log: cap.log });
  const first = await src.start();
  assert.equal(first.spiffeId, WEB);
  assert.ok(first.notAfter.getTime() - Date.now() <= 5_000, 'asked 4 s (rounded up to whole seconds)');
  const [next] = await once(src, 'update') as [WorkloadIdentity];
  assert.ok(Date.now() < first.notAfter.getTime(), 'renewed before the old certificate expired');
  assert.ok(next.notAfter > first.notAfter);
  assert.notEqual(next.keyPem, first.keyPem, 'a fresh key per certificate');
  assert.equal(src.current(), next);
  verifyChainAndIdentity({ cert: next.certPem, caPem, keyPem: next.keyPem, expectedId: WEB });
  await src.close();
  assert.ok(!cap.text().includes('PRIVATE KEY'));
});

test('CaClientIdentitySource: a spent token and an untrusted CA server fail start() with the reason', T, async () => {
  const cap = captureLog();
  const t = await token(WEB);
  await sign({ token: t }, WEB);
  await assert.rejects(new CaClientIdentitySource({ caUrl, token: t, identity: WEB, caPem, log: cap.log }).start(), /the CA refused \(401\): join token already used/);
  const other = await newCa();
  await assert.rejects(new CaClientIdentitySource({ caUrl, token: await token(WEB), identity: WEB, caPem: other.certPem, log: cap.log }).start(), /cannot reach the CA at .*: (unable to verify|self.signed|certificate)/i);
});

test('ECDSA P-256: `ca issue --key-type ecdsa-p256` makes an EC leaf (digitalSignature only) of the RSA root; an ECDSA root (`ca init --key-type ecdsa-p256`) signs leaves that verify', T, async () => {
  const out = path.join(root, 'web-ec');
  const r = await cli(['ca', 'issue', '--dir', caDir, '--identity', WEB, '--key-type', 'ecdsa-p256', '--ttl', '10m', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const certPem = readFileSync(path.join(out, 'cert.pem'), 'utf8');
  const v = verifyChainAndIdentity({ cert: certPem, caPem, keyPem: readFileSync(path.join(out, 'key.pem'), 'utf8'), expectedId: WEB });
  assert.equal(v.leaf.publicKey.asymmetricKeyType, 'ec');
  assert.equal(v.leaf.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.deepEqual(sanEntries(v.leaf.subjectAltName), [`URI:${WEB}`]);
  assert.deepEqual(v.leaf.keyUsage, ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
  const ku = /X509v3 Key Usage: critical\n\s*(.+)\n/.exec(execFileSync('openssl', ['x509', '-noout', '-text'], { input: certPem, encoding: 'utf8' }))?.[1];
  assert.equal(ku, 'Digital Signature', 'an ECDSA key signs, it does not encipher');

  const ecDir = path.join(root, 'ca-ec');
  assert.equal((await cli(['ca', 'init', '--dir', ecDir, '--key-type', 'ecdsa-p256'])).code, 0);
  const ecRoot = readFileSync(path.join(ecDir, 'ca.pem'), 'utf8');
  assert.equal(new X509Certificate(ecRoot).publicKey.asymmetricKeyType, 'ec');
  const rsaOut = path.join(root, 'db-rsa');
  assert.equal((await cli(['ca', 'issue', '--dir', ecDir, '--identity', DB, '--out', rsaOut])).code, 0);
  const leaf = verifyChainAndIdentity({ cert: readFileSync(path.join(rsaOut, 'cert.pem'), 'utf8'), caPem: ecRoot, expectedId: DB }).leaf;
  assert.equal(leaf.publicKey.asymmetricKeyType, 'rsa');
  const bad = await cli(['ca', 'issue', '--dir', caDir, '--identity', WEB, '--key-type', 'ed25519', '--out', path.join(root, 'x')]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--key-type: expected rsa2048 or ecdsa-p256, got "ed25519"/);
});

test('the signing service takes an ECDSA CSR (join token) and refuses a key it does not allow', T, async () => {
  const ec = await runCrypto({ kind: 'create-csr', spiffeId: DB, keyType: 'ecdsa-p256' });
  const res = await requestCertificate(caUrl, caPem, { token: await token(DB) }, { csr: ec.csrPem });
  assert.equal(new X509Certificate(res.certPem).publicKey.asymmetricKeyType, 'ec');
  // a P-521 key: not one the mesh uses
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'secp521r1' });
  const keyFile = path.join(root, 'p521.key');
  writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  const csrPem = execFileSync('openssl', ['req', '-new', '-key', keyFile, '-subj', '/O=x', '-addext', `subjectAltName=URI:${DB}`], { encoding: 'utf8' });
  await assert.rejects(requestCertificate(caUrl, caPem, { token: await token(DB) }, { csr: csrPem }), refusedWith(400, /the CSR key must be RSA \(2048 bits or more\) or ECDSA \(P-256 or P-384\)/));
});
