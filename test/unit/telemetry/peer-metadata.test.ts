// Istio's metadata exchange encoding: the wire bytes of a google.protobuf.Struct (checked against a
// hand-assembled Struct, as Envoy sends it), the trust rule (mTLS identity must name the metadata's
// namespace and service account), and hostile values (garbage, truncated, deeply nested, huge).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decodePeerMetadata, encodeOwnMetadata, MAX_METADATA_CHARS, metadataMatchesPrincipal,
} from '../../../src/telemetry/peer-metadata.js';
import { workloadLabels, type WorkloadMeta } from '../../../src/telemetry/workload.js';

// protobuf wire format, written by hand: field 1 (Struct.fields) map entries {1: key, 2: Value}
function len(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) { out.push((n & 0x7f) | 0x80); n >>>= 7; }
  out.push(n);
  return out;
}
const str = (s: string): number[] => [...Buffer.from(s)];
const field = (tag: number, bytes: number[]): number[] => [tag, ...len(bytes.length), ...bytes];
const stringValue = (s: string): number[] => field(0x1a, str(s)); // Value.string_value = 3
const structValue = (entries: number[]): number[] => field(0x2a, entries); // Value.struct_value = 5
const entry = (key: string, value: number[]): number[] => field(0x0a, [...field(0x0a, str(key)), ...field(0x12, value)]);

const REVIEWS: WorkloadMeta = {
  name: 'reviews-v2', namespace: 'shop', instance: 'reviews-v2-abc', labels: { app: 'reviews', version: 'v2', team: 'x' },
  serviceAccount: 'bookinfo-reviews', cluster: 'Kubernetes',
};

test('an Envoy-shaped Struct (hand-assembled wire bytes) decodes to the workload; unknown fields are ignored', () => {
  const bytes = [
    ...entry('CLUSTER_ID', stringValue('Kubernetes')),
    ...entry('INSTANCE_IPS', stringValue('10.0.0.7')),
    ...entry('LABELS', structValue([
      ...entry('app', stringValue('ratings')), ...entry('version', stringValue('v1')),
      ...entry('service.istio.io/canonical-name', stringValue('ratings')), ...entry('pod-template-hash', stringValue('58b6479b')),
    ])),
    ...entry('NAME', stringValue('ratings-v1-7d9f')),
    ...entry('NAMESPACE', stringValue('default')),
    ...entry('WORKLOAD_NAME', stringValue('ratings-v1')),
  ];
  const meta = decodePeerMetadata(Buffer.from(bytes).toString('base64'));
  assert.deepEqual(meta, {
    name: 'ratings-v1', namespace: 'default', instance: 'ratings-v1-7d9f', serviceAccount: '', cluster: 'Kubernetes',
    labels: { app: 'ratings', version: 'v1', 'service.istio.io/canonical-name': 'ratings' },
  });
  // Envoy sends no SERVICE_ACCOUNT: such metadata is never believed
  assert.equal(metadataMatchesPrincipal(meta as WorkloadMeta, 'spiffe://cluster.local/ns/default/sa/ratings'), false);
});

test('our own metadata is the same wire format, fields in Istio\'s deterministic (sorted) order, and round-trips', () => {
  const own = encodeOwnMetadata(REVIEWS, '10.0.0.9');
  assert.equal(own.id, 'sidecar~10.0.0.9~reviews-v2-abc.shop~shop.svc.cluster.local');
  const expected = [
    ...entry('CLUSTER_ID', stringValue('Kubernetes')),
    ...entry('LABELS', structValue([...entry('app', stringValue('reviews')), ...entry('team', stringValue('x')), ...entry('version', stringValue('v2'))])),
    ...entry('NAME', stringValue('reviews-v2-abc')),
    ...entry('NAMESPACE', stringValue('shop')),
    ...entry('OWNER', stringValue('kubernetes://apis/apps/v1/namespaces/shop/deployments/reviews-v2')),
    ...entry('SERVICE_ACCOUNT', stringValue('bookinfo-reviews')),
    ...entry('WORKLOAD_NAME', stringValue('reviews-v2')),
  ];
  assert.equal(own.value, Buffer.from(expected).toString('base64'));
  const back = decodePeerMetadata(own.value);
  // only the labels the metrics read are taken from a peer
  assert.deepEqual(back, { ...REVIEWS, labels: { app: 'reviews', version: 'v2' } });
  assert.deepEqual(workloadLabels(back as WorkloadMeta), {
    workload: 'reviews-v2', namespace: 'shop', app: 'reviews', version: 'v2', canonicalService: 'reviews', canonicalRevision: 'v2', cluster: 'Kubernetes',
  });
});

test('believed only from the identity it names: namespace and service account both, over mTLS', () => {
  const meta = decodePeerMetadata(encodeOwnMetadata(REVIEWS, '10.0.0.9').value) as WorkloadMeta;
  assert.equal(metadataMatchesPrincipal(meta, 'spiffe://cluster.local/ns/shop/sa/bookinfo-reviews'), true);
  assert.equal(metadataMatchesPrincipal(meta, 'spiffe://cluster.local/ns/shop/sa/other'), false);
  assert.equal(metadataMatchesPrincipal(meta, 'spiffe://cluster.local/ns/other/sa/bookinfo-reviews'), false);
  assert.equal(metadataMatchesPrincipal(meta, 'spiffe://cluster.local/ns/shop/sa/bookinfo-reviews-x'), false);
  assert.equal(metadataMatchesPrincipal(meta, null), false, 'plaintext');
  assert.equal(metadataMatchesPrincipal(meta, ''), false);
});

test('hostile values decode to null (never throw): garbage, truncated, wrong types, deep nesting, too long', () => {
  assert.equal(decodePeerMetadata(''), null);
  assert.equal(decodePeerMetadata(Buffer.from([0x0a, 0xff, 0xff, 0x03]).toString('base64')), null, 'length past the end');
  assert.equal(decodePeerMetadata(Buffer.from([0x0b, 0x01]).toString('base64')), null, 'bad wire type');
  const good = encodeOwnMetadata(REVIEWS, '1.2.3.4').value;
  assert.equal(decodePeerMetadata(Buffer.from(good, 'base64').subarray(0, 20).toString('base64')), null, 'truncated');
  let v = stringValue('x');
  for (let i = 0; i < 200; i++) v = structValue(entry('a', v));
  const deep = Buffer.from(entry('LABELS', v)).toString('base64');
  assert.ok(deep.length < MAX_METADATA_CHARS);
  const d = decodePeerMetadata(deep);
  assert.ok(d === null || d.name === '', 'deep nesting is refused or yields nothing');
  assert.equal(decodePeerMetadata('A'.repeat(MAX_METADATA_CHARS + 1)), null);
  // a number where a string is expected: the field is simply absent
  const numberValue = [0x11, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f]; // Value.number_value = 1.0
  const odd = decodePeerMetadata(Buffer.from(entry('WORKLOAD_NAME', numberValue)).toString('base64'));
  assert.equal(odd?.name, '');
  // overlong strings are cut to 253 characters
  const long = decodePeerMetadata(Buffer.from(entry('WORKLOAD_NAME', stringValue('w'.repeat(1000)))).toString('base64'));
  assert.equal(long?.name.length, 253);
});
