// verifyChainAndIdentity and spiffeIdOf on certificates from real CAs: chain, time, key, identity.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, test } from 'node:test';
import { closeCryptoPool, runCrypto } from '../../../src/tls/ca/crypto-pool.js';
import { issueWorkloadKeyAndCert } from '../../../src/tls/ca/issuer.js';
import { spiffeIdOf } from '../../../src/tls/identity/spiffe.js';
import { IdentityError, verifyChainAndIdentity } from '../../../src/tls/identity/verify.js';
import { newCa } from './helpers.js';

after(() => closeCryptoPool());

const WEB = 'spiffe://cluster.local/ns/default/sa/web';
const code = (c: string) => (err: unknown): boolean => err instanceof IdentityError && err.code === c;

test('a leaf verifies against its root, with key, identity and trust domain; others are refused with a code', async () => {
  const [ca, other] = await Promise.all([newCa(), newCa()]);
  const leaf = await issueWorkloadKeyAndCert(ca, WEB, 3_600_000);
  const v = verifyChainAndIdentity({ cert: leaf.certPem, caPem: ca.certPem, keyPem: leaf.keyPem, expectedId: WEB, trustDomain: 'cluster.local' });
  assert.equal(v.spiffeId, WEB);
  assert.equal(spiffeIdOf(leaf.certPem), WEB);
  assert.equal(spiffeIdOf(new X509Certificate(leaf.certPem)), WEB);
  assert.ok(v.notBefore.getTime() < Date.now() - 30_000, 'notBefore is backdated for clock skew');
  assert.ok(Math.abs(v.notAfter.getTime() - (Date.now() + 3_600_000)) < 5_000);

  assert.throws(() => verifyChainAndIdentity({ cert: leaf.certPem, caPem: other.certPem }), code('UNTRUSTED'));
  const otherLeaf = await issueWorkloadKeyAndCert(other, WEB, 3_600_000);
  assert.throws(() => verifyChainAndIdentity({ cert: leaf.certPem, caPem: ca.certPem, keyPem: otherLeaf.keyPem }), code('KEY_MISMATCH'));
  assert.throws(() => verifyChainAndIdentity({ cert: leaf.certPem, caPem: ca.certPem, expectedId: 'spiffe://cluster.local/ns/default/sa/db' }), code('WRONG_IDENTITY'));
  assert.throws(() => verifyChainAndIdentity({ cert: leaf.certPem, caPem: ca.certPem, trustDomain: 'prod.local' }), code('WRONG_TRUST_DOMAIN'));
  assert.throws(() => verifyChainAndIdentity({ cert: leaf.certPem, caPem: ca.certPem, now: new Date(Date.now() + 7_200_000) }), code('EXPIRED'));
  assert.throws(() => verifyChainAndIdentity({ cert: leaf.certPem, caPem: ca.certPem, now: new Date(Date.now() - 600_000) }), code('NOT_YET_VALID'));
  assert.throws(() => verifyChainAndIdentity({ cert: ca.certPem, caPem: ca.certPem }), code('NOT_A_LEAF'));
  assert.throws(() => verifyChainAndIdentity({ cert: 'not pem', caPem: ca.certPem }), code('INVALID_PEM'));
  // a bundle of several roots: the right one is found
  assert.equal(verifyChainAndIdentity({ cert: leaf.certPem, caPem: other.certPem + ca.certPem }).spiffeId, WEB);
});

test('a certificate without a SPIFFE URI SAN is no workload identity', async () => {
  const ca = await newCa();
  const { publicKeyPem } = await runCrypto({ kind: 'generate-key' });
  const { certPem } = await runCrypto({ kind: 'sign-leaf', caKeyPem: ca.keyPem, caCertPem: ca.certPem, publicKeyPem, sans: { dns: ['web.local'] }, usage: 'workload', notBefore: Date.now() - 60_000, notAfter: Date.now() + 60_000 });
  assert.throws(() => spiffeIdOf(certPem), /0 URI SANs/);
  assert.throws(() => verifyChainAndIdentity({ cert: certPem, caPem: ca.certPem }), code('NO_SPIFFE_ID'));
});
