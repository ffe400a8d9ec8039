// FileIdentitySource: loads a valid set, emits 'update' when the files change, and keeps the
// previous identity when a write leaves an invalid or half-written set.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { closeCryptoPool } from '../../../src/tls/ca/crypto-pool.js';
import { writeFileAtomic } from '../../../src/tls/ca/files.js';
import { issueWorkloadKeyAndCert } from '../../../src/tls/ca/issuer.js';
import type { LoadedCa } from '../../../src/tls/ca/store.js';
import { FileIdentitySource } from '../../../src/tls/identity/file-source.js';
import type { WorkloadIdentity } from '../../../src/tls/identity/source.js';
import { captureLog, newCa, tmpDir } from './helpers.js';

after(() => closeCryptoPool());

const WEB = 'spiffe://cluster.local/ns/default/sa/web';

async function writeSet(ca: LoadedCa, dir: string, ttlMs: number, only?: 'key'): Promise<void> {
  const s = await issueWorkloadKeyAndCert(ca, WEB, ttlMs);
  writeFileAtomic(path.join(dir, 'key.pem'), s.keyPem, 0o600);
  if (only === 'key') return;
  writeFileAtomic(path.join(dir, 'cert.pem'), s.certPem, 0o644);
  writeFileAtomic(path.join(dir, 'ca.pem'), s.caPem, 0o644);
}

test('file identity: update on change, invalid and half-written sets ignored with a warning', async () => {
  const ca = await newCa();
  const dir = tmpDir('id');
  await writeSet(ca, dir, 3_600_000);
  const cap = captureLog();
  const src = new FileIdentitySource(dir, { debounceMs: 50, log: cap.log });
  const first = await src.start();
  assert.equal(first.spiffeId, WEB);
  assert.deepEqual(src.current(), first);

  // a complete new set (longer lifetime) → one 'update'
  const updated = once(src, 'update') as Promise<[WorkloadIdentity]>;
  await writeSet(ca, dir, 7_200_000);
  const [second] = await updated;
  assert.ok(second.notAfter > first.notAfter);
  assert.notEqual(second.certPem, first.certPem);
  assert.equal(src.current(), second);

  // garbage in cert.pem: logged, ignored
  let updates = 0;
  src.on('update', () => { updates++; });
  const warned = cap.waitFor('not a valid set');
  writeFileSync(path.join(dir, 'cert.pem'), '-----BEGIN CERTIFICATE-----\nhalf');
  const w = await warned;
  assert.match(String(w.reason), /certificate/);
  assert.equal(src.current(), second);

  // a fresh key next to the old cert (a writer half way through): key mismatch, still ignored
  writeFileAtomic(path.join(dir, 'cert.pem'), second.certPem, 0o644);
  cap.lines.length = 0;
  const mismatch = cap.waitFor('not a valid set');
  await writeSet(ca, dir, 3_600_000, 'key');
  assert.match(String((await mismatch).reason), /private key does not belong/);
  assert.equal(src.current(), second);
  assert.equal(updates, 0);
  assert.ok(!cap.text().includes('PRIVATE KEY'), 'no key material in the log');
  await src.close();
});

test('file identity: start fails clearly on a missing or invalid directory', async () => {
  const cap = captureLog();
  await assert.rejects(new FileIdentitySource(tmpDir('empty'), { log: cap.log }).start(), /identity files in .*: ENOENT.*key\.pem/);
});
