// A worker's metadata exchange: headers always taken off inbound requests, metadata believed only
// from the mTLS identity it names, each distinct peer interned once, the endpoint's config as the
// client-side fallback, and a full string table answering -1 instead of growing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createStringTable, StringTableReader, StringTableWriter } from '../../../src/stats/strings.js';
import { PeerExchange } from '../../../src/telemetry/exchange.js';
import { decodePeer } from '../../../src/telemetry/peer-key.js';
import { encodeOwnMetadata } from '../../../src/telemetry/peer-metadata.js';
import type { WorkloadMeta } from '../../../src/telemetry/workload.js';

const CALLER: WorkloadMeta = { name: 'productpage-v1', namespace: 'shop', instance: 'pp', labels: { app: 'productpage', version: 'v1' }, serviceAccount: 'pp', cluster: 'c1' };
const SELF: WorkloadMeta = { name: 'reviews-v2', namespace: 'shop', instance: 'r', labels: { app: 'reviews', version: 'v2' }, serviceAccount: 'reviews', cluster: 'c1' };
const CALLER_ID = 'spiffe://cluster.local/ns/shop/sa/pp';
const callerHeaders = encodeOwnMetadata(CALLER, '10.0.0.1');

function setup(): { mx: PeerExchange; read: StringTableReader } {
  const table = createStringTable(8, 4096);
  return { mx: new PeerExchange(encodeOwnMetadata(SELF, '10.0.0.2'), new StringTableWriter(table)), read: new StringTableReader(table) };
}

const request = (): string[] => ['host', 'reviews', 'x-envoy-peer-metadata-id', callerHeaders.id, 'x-envoy-peer-metadata', callerHeaders.value, 'accept', '*/*'];

test('inbound over mTLS from the named identity: believed, interned once, headers taken off', () => {
  const { mx, read } = setup();
  const h = request();
  const id = mx.inbound(h, CALLER_ID);
  assert.equal(mx.trusted, true);
  assert.deepEqual(h, ['host', 'reviews', 'accept', '*/*']);
  assert.deepEqual(decodePeer(read.get(id) as string), {
    principal: CALLER_ID,
    workload: { workload: 'productpage-v1', namespace: 'shop', app: 'productpage', version: 'v1', canonicalService: 'productpage', canonicalRevision: 'v1', cluster: 'c1' },
  });
  assert.equal(mx.inbound(request(), CALLER_ID), id, 'the same peer, the same id');
});

test('inbound plaintext or from another identity: taken off, not believed; the principal alone is the peer', () => {
  const { mx, read } = setup();
  const plain = request();
  assert.equal(mx.inbound(plain, null), -1);
  assert.equal(mx.trusted, false);
  assert.deepEqual(plain, ['host', 'reviews', 'accept', '*/*'], 'a forged header never reaches the app');
  const other = mx.inbound(request(), 'spiffe://cluster.local/ns/shop/sa/intruder');
  assert.equal(mx.trusted, false);
  assert.deepEqual(decodePeer(read.get(other) as string), { workload: null, principal: 'spiffe://cluster.local/ns/shop/sa/intruder' });
  const garbage = ['x-envoy-peer-metadata', '%%%not base64', 'host', 'h'];
  mx.inbound(garbage, CALLER_ID);
  assert.equal(mx.trusted, false);
  assert.deepEqual(garbage, ['host', 'h']);
});

test('outbound: the server\'s metadata from the response when its certificate names it; else the endpoint config', () => {
  const { mx, read } = setup();
  const server = encodeOwnMetadata(SELF, '10.0.0.2');
  const res = ['content-type', 'text/plain', 'x-envoy-peer-metadata', server.value, 'x-envoy-peer-metadata-id', server.id];
  const id = mx.outboundResponse(res, 'spiffe://cluster.local/ns/shop/sa/reviews');
  assert.deepEqual(res, ['content-type', 'text/plain']);
  assert.equal(decodePeer(read.get(id) as string)?.workload?.version, 'v2');
  assert.equal(mx.outboundResponse(['x-envoy-peer-metadata', server.value], 'spiffe://cluster.local/ns/shop/sa/pp'), -2, 'another identity');
  const ep = { statsPeer: -2, statsPeerPrincipal: '', spec: { address: '127.0.0.1', port: 1, labels: { app: 'reviews', version: 'v3' }, weight: 1, source: 'WorkloadEntry/shop/reviews-v3', slot: -1, serviceAccount: null } };
  const e = mx.endpointPeer(ep, null);
  assert.deepEqual(decodePeer(read.get(e) as string)?.workload, {
    workload: 'reviews-v3', namespace: 'shop', app: 'reviews', version: 'v3', canonicalService: 'reviews', canonicalRevision: 'v3', cluster: '',
  });
  assert.equal(mx.endpointPeer(ep, null), e, 'cached on the endpoint');
});

test('a full string table answers -1 and counts; the worker never grows it', () => {
  const table = createStringTable(2, 4096);
  const w = new StringTableWriter(table);
  const r = new StringTableReader(table);
  assert.equal(w.intern('a'), 0);
  assert.equal(w.intern('b'), 1);
  assert.equal(w.intern('c'), -1);
  assert.equal(w.intern('a'), 0);
  assert.equal(r.refused, 1);
  assert.equal(r.get(1), 'b');
  assert.equal(r.get(2), null);
  assert.equal(r.get(-1), null);
  assert.equal(w.intern('x'.repeat(3000)), -1, 'too long');
  const bytes = createStringTable(100, 8);
  const wb = new StringTableWriter(bytes);
  assert.equal(wb.intern('ü'.repeat(4)), 0, '8 bytes of UTF-8 fit');
  assert.equal(wb.intern('z'), -1, 'no byte left');
  assert.equal(new StringTableReader(bytes).get(0), 'üüüü');
});

test('alternating peers and identities on one worker: each request gets the answer for its own value and principal (the last-value shortcut never answers for another)', () => {
  const { mx, read } = setup();
  const other: WorkloadMeta = { ...CALLER, name: 'details-v1', labels: { app: 'details', version: 'v1' }, serviceAccount: 'details' };
  const otherId = 'spiffe://cluster.local/ns/shop/sa/details';
  const otherHeaders = encodeOwnMetadata(other, '10.0.0.3');
  const from = (h: { id: string; value: string }): string[] => ['x-envoy-peer-metadata', h.value, 'x-envoy-peer-metadata-id', h.id];
  const a = mx.inbound(from(callerHeaders), CALLER_ID);
  const b = mx.inbound(from(otherHeaders), otherId);
  assert.notEqual(a, b);
  for (let i = 0; i < 3; i++) {
    assert.equal(mx.inbound(from(callerHeaders), CALLER_ID), a);
    assert.equal(mx.trusted, true);
    // the same metadata from an identity it does not name: not believed, right after it was
    const forged = mx.inbound(from(callerHeaders), otherId);
    assert.equal(mx.trusted, false);
    assert.deepEqual(decodePeer(read.get(forged) as string), { workload: null, principal: otherId });
    assert.equal(mx.inbound(from(otherHeaders), otherId), b);
    assert.equal(mx.trusted, true);
  }
});
