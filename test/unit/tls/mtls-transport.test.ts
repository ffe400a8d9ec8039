// SPIFFE identity helpers: URI SANs as Node prints them, the server identity check, the CLI overlay.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PeerCertificate } from 'node:tls';
import type { Snapshot } from '../../../src/config/snapshot.js';
import { ClientTls, upstreamTlsFor } from '../../../src/tls/outbound/client-tls.js';
import { DEFAULT_POOL } from '../../../src/config/traffic-policy.js';
import { inboundTlsModes } from '../../../src/tls/mtls-plan.js';
import { spiffeMismatch } from '../../../src/tls/outbound/verify.js';
import { spiffeUriIn, trustDomainOf, uriSans } from '../../../src/tls/identity/spiffe.js';
import { identityOf, makeCa, makeLeaf } from '../../helpers/certs.js';

test('URI SANs and trust domains', () => {
  assert.deepEqual(uriSans('DNS:a.example, URI:spiffe://td/ns/a/sa/b, URI:"spiffe://td/x,y"'), ['spiffe://td/ns/a/sa/b', 'spiffe://td/x,y']);
  assert.equal(spiffeUriIn('URI:https://x, URI:spiffe://td/a'), 'spiffe://td/a');
  assert.equal(spiffeUriIn(undefined), '');
  assert.equal(trustDomainOf('spiffe://cluster.local/ns/a/sa/b'), 'cluster.local');
  assert.equal(trustDomainOf('https://cluster.local/'), '');
});

test('server identity: expected ids when given, else any id of the trust domain', () => {
  const san = 'URI:spiffe://cluster.local/ns/b/sa/b';
  assert.equal(spiffeMismatch(san, ['spiffe://cluster.local/ns/b/sa/b'], 'cluster.local'), null);
  assert.match(spiffeMismatch(san, ['spiffe://cluster.local/ns/x/sa/x'], 'cluster.local') ?? '', /is not one of/);
  assert.equal(spiffeMismatch(san, [], 'cluster.local'), null);
  assert.match(spiffeMismatch(san, [], 'other.domain') ?? '', /outside trust domain/);
  assert.match(spiffeMismatch('DNS:b.example', [], 'cluster.local') ?? '', /no spiffe/);
  assert.match(spiffeMismatch(undefined, [], 'cluster.local') ?? '', /no spiffe/);
});

test('a workload identity reads the SPIFFE id and validity, and refuses a key of another certificate', () => {
  const ca = makeCa('mesh');
  const a = makeLeaf(ca, 'spiffe://cluster.local/ns/a/sa/a');
  const b = makeLeaf(ca, 'spiffe://cluster.local/ns/b/sa/b');
  const id = identityOf(a, ca.certPem);
  assert.equal(id.spiffeId, 'spiffe://cluster.local/ns/a/sa/a');
  assert.ok(id.notBefore < new Date() && id.notAfter > new Date());
  assert.throws(() => identityOf({ ...a, keyPem: b.keyPem }, ca.certPem), /does not belong to the certificate/);
});

test('which listeners terminate mTLS: STRICT always (fails closed), PERMISSIVE only with an identity', () => {
  const listener = (mtlsMode: 'DISABLE' | 'PERMISSIVE' | 'STRICT', direction: 'inbound' | 'outbound' = 'inbound') =>
    ({ name: 'l', direction, bind: '127.0.0.1', port: 1, protocol: 'HTTP', inboundClusterId: 0, mtlsMode });
  const snapshot = { generation: 1, virtualHosts: [], clusters: [], authz: null,
    listeners: [listener('PERMISSIVE'), listener('STRICT'), listener('DISABLE'), listener('DISABLE', 'outbound')] } as unknown as Snapshot;
  assert.deepEqual(inboundTlsModes(snapshot, true), ['PERMISSIVE', 'STRICT', null, null]);
  assert.deepEqual(inboundTlsModes(snapshot, false), [null, 'STRICT', null, null], 'PERMISSIVE without an identity serves plaintext directly');
});

test('upstream TLS settings: expected ids from subjectAltNames and the endpoint service account; SNI; plaintext without identity', () => {
  const ca = makeCa('mesh');
  const a = makeLeaf(ca, 'spiffe://cluster.local/ns/a/sa/a');
  const client = new ClientTls();
  const cluster = {
    id: 0, name: 'c', host: 'reviews.default.svc.cluster.local', subset: null, port: 80, lb: 'ROUND_ROBIN' as const, endpoints: [],
    hash: null, warmupMs: 0, pool: DEFAULT_POOL, outlier: null, slot: -1,
    tls: { mode: 'ISTIO_MUTUAL' as const, subjectAltNames: ['spiffe://cluster.local/ns/r/sa/r1'], sni: null },
  };
  const ep = { address: '10.0.0.1', port: 9080, labels: {}, weight: 1, source: 's', slot: -1, serviceAccount: 'spiffe://cluster.local/ns/r/sa/r2' };
  assert.equal(upstreamTlsFor(cluster, ep, client), null, 'no identity yet: plaintext');
  client.update(identityOf(a, ca.certPem));
  const t = upstreamTlsFor(cluster, ep, client);
  assert.deepEqual(t?.expected, ['spiffe://cluster.local/ns/r/sa/r1', 'spiffe://cluster.local/ns/r/sa/r2']);
  assert.equal(t?.servername, 'reviews.default.svc.cluster.local');
  assert.equal(t?.checkServerIdentity('x', { subjectaltname: 'URI:spiffe://cluster.local/ns/r/sa/r2' } as PeerCertificate), undefined);
  assert.match(String(t?.checkServerIdentity('x', { subjectaltname: 'URI:spiffe://cluster.local/ns/q/sa/q' } as PeerCertificate)), /is not one of/);
  assert.equal(upstreamTlsFor({ ...cluster, host: '10.0.0.1', tls: { ...cluster.tls, sni: null } }, ep, client)?.servername, undefined, 'no SNI for an IP');
  assert.equal(upstreamTlsFor({ ...cluster, tls: null }, ep, client), null);
});
