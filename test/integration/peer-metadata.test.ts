// Istio's metadata exchange between two sidecars over mTLS: app A → sidecar A (productpage-v1) →
// mTLS → sidecar B (reviews-v2) → app B. Both reporters' istio_requests_total carry both
// workloads; the apps never see the exchange headers; metadata from a plaintext client or from an
// identity other than the one it names is not believed (the labels stay "unknown").
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { identityArgs, identityDir, istioMutualYaml, makeCa, makeLeaf, peerAuthenticationYaml, type Ca } from '../helpers/certs.js';
import { get } from '../helpers/http.js';
import { serviceEntryYaml, startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { freePort } from '../helpers/ports.js';
import { tlsGet } from '../helpers/tls-client.js';
import { echoUpstream, type Upstream } from '../helpers/upstream.js';
import { encodeOwnMetadata } from '../../src/telemetry/peer-metadata.js';

const ID_A = 'spiffe://cluster.local/ns/shop/sa/productpage';
const ID_B = 'spiffe://cluster.local/ns/shop/sa/reviews';
let ca: Ca;
let appB: Upstream;
let appC: Upstream;
let a: Meshlet;
let b: Meshlet;
let inboundB: number;

interface Echo { headers: Record<string, string | undefined> }

before(async () => {
  ca = makeCa('mesh');
  appB = await echoUpstream('reviews');
  appC = await echoUpstream('ratings');
  inboundB = await freePort();
  const egressB = await freePort();
  b = await startMeshlet(`apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: b, namespace: shop}
spec:
  ingress:
  - port: {number: ${inboundB}, protocol: HTTP, name: http}
    defaultEndpoint: 127.0.0.1:${appB.port}
  egress:
  - port: {number: ${egressB}, protocol: HTTP}
    hosts: ["*/*"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews.shop.svc.cluster.local]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  resolution: STATIC
  workloadSelector: {labels: {app: reviews}}
---
${peerAuthenticationYaml('PERMISSIVE')}`, {
    noSidecar: true,
    args: [...identityArgs(identityDir(makeLeaf(ca, ID_B), ca.certPem)), '--workload', 'reviews-v2.shop', '--workload-label', 'app=reviews',
      '--workload-label', 'version=v2', '--cluster-id', 'east'],
  });
  a = await startMeshlet(serviceEntryYaml('reviews', [{ port: inboundB, labels: { app: 'reviews', version: 'v2' } }]) + istioMutualYaml('reviews')
    + serviceEntryYaml('ratings', [{ port: appC.port }]), {
    args: [...identityArgs(identityDir(makeLeaf(ca, ID_A), ca.certPem)), '--workload', 'productpage-v1.shop', '--workload-label', 'app=productpage',
      '--workload-label', 'version=v1', '--cluster-id', 'east'],
  });
});

after(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await appB?.close();
  await appC?.close();
});

async function prometheus(m: Meshlet): Promise<string> {
  const res = await request(`http://127.0.0.1:${m.adminPort}/stats/prometheus`);
  return res.body.text();
}

/** The label sets of istio_requests_total lines matching every `want` label. */
function series(text: string, want: Record<string, string>): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  for (const line of text.split('\n')) {
    const m = /^istio_requests_total\{(.*)\} (\d+)$/.exec(line);
    if (m === null) continue;
    const labels: Record<string, string> = { value: m[2] as string };
    for (const p of (m[1] as string).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[p[1] as string] = p[2] as string;
    if (Object.entries(want).every(([k, v]) => labels[k] === v)) out.push(labels);
  }
  return out;
}

/** The stats are drained every 100 ms: wait (bounded) until `want` shows up. */
async function until(m: Meshlet, want: Record<string, string>): Promise<Record<string, string>[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const found = series(await prometheus(m), want);
    if (found.length > 0 || Date.now() > deadline) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('both reporters know both workloads; the apps never see the exchange headers', async () => {
  const r = await get(a.url, 'reviews', { headers: { 'x-request-id': 'mx-1' } });
  assert.equal(r.status, 200, r.body);
  const echo = JSON.parse(r.body) as Echo;
  assert.equal(echo.headers['x-envoy-peer-metadata'], undefined, 'app B never sees the caller\'s metadata');
  assert.equal(echo.headers['x-envoy-peer-metadata-id'], undefined);
  assert.equal(r.headers['x-envoy-peer-metadata'], undefined, 'app A never sees the server\'s metadata');

  const [client] = await until(a, { reporter: 'source', response_code: '200' });
  assert.ok(client, await prometheus(a));
  assert.deepEqual({ ...client, value: undefined }, {
    value: undefined, reporter: 'source',
    source_workload: 'productpage-v1', source_workload_namespace: 'shop', source_principal: ID_A, source_app: 'productpage', source_version: 'v1',
    source_canonical_service: 'productpage', source_canonical_revision: 'v1', source_cluster: 'east',
    destination_workload: 'reviews-v2', destination_workload_namespace: 'shop', destination_principal: ID_B, destination_app: 'reviews',
    destination_version: 'v2', destination_service: 'reviews.default.svc.cluster.local', destination_service_name: 'reviews', destination_service_namespace: 'shop',
    destination_canonical_service: 'reviews', destination_canonical_revision: 'v2', destination_cluster: 'east',
    request_protocol: 'http', response_code: '200', grpc_response_status: '', response_flags: '-', connection_security_policy: 'unknown',
  });
  const [server] = await until(b, { reporter: 'destination', source_workload: 'productpage-v1' });
  assert.ok(server, await prometheus(b));
  assert.deepEqual({ ...server, value: undefined }, {
    value: undefined, reporter: 'destination',
    source_workload: 'productpage-v1', source_workload_namespace: 'shop', source_principal: ID_A, source_app: 'productpage', source_version: 'v1',
    source_canonical_service: 'productpage', source_canonical_revision: 'v1', source_cluster: 'east',
    destination_workload: 'reviews-v2', destination_workload_namespace: 'shop', destination_principal: ID_B, destination_app: 'reviews',
    destination_version: 'v2', destination_service: 'reviews.shop.svc.cluster.local', destination_service_name: 'reviews', destination_service_namespace: 'shop',
    destination_canonical_service: 'reviews', destination_canonical_revision: 'v2', destination_cluster: 'east',
    request_protocol: 'http', response_code: '200', grpc_response_status: '', response_flags: '-', connection_security_policy: 'mutual_tls',
  });
});

test('forged metadata is not believed: plaintext, or over mTLS from another identity; the app still never sees it', async () => {
  const forged = encodeOwnMetadata({ name: 'admin-console', namespace: 'shop', instance: 'x', labels: { app: 'admin' }, serviceAccount: 'reviews', cluster: 'east' }, '1.2.3.4');
  const headers = { 'x-envoy-peer-metadata': forged.value, 'x-envoy-peer-metadata-id': forged.id };
  const plain = await get(`http://127.0.0.1:${inboundB}`, 'reviews', { headers });
  assert.equal(plain.status, 200);
  assert.equal((JSON.parse(plain.body) as Echo).headers['x-envoy-peer-metadata'], undefined);
  assert.equal(plain.headers['x-envoy-peer-metadata'], undefined, 'no metadata answered to an untrusted caller');
  // a mesh certificate for ns/shop/sa/intruder, claiming to be sa/reviews's admin-console
  const intruder = makeLeaf(ca, 'spiffe://cluster.local/ns/shop/sa/intruder');
  const mtls = await tlsGet(inboundB, { ca: ca.certPem, cert: intruder.certPem, key: intruder.keyPem, host: 'reviews', headers });
  assert.equal(mtls.status, 200);
  assert.equal((JSON.parse(mtls.body) as Echo).headers['x-envoy-peer-metadata'], undefined);
  const plainSeries = await until(b, { reporter: 'destination', connection_security_policy: 'none' });
  assert.equal(plainSeries.length, 1);
  assert.equal(plainSeries[0]?.source_workload, 'unknown');
  assert.equal(plainSeries[0]?.source_principal, 'unknown');
  const intruderSeries = await until(b, { reporter: 'destination', source_principal: 'spiffe://cluster.local/ns/shop/sa/intruder' });
  assert.equal(intruderSeries.length, 1);
  assert.equal(intruderSeries[0]?.source_workload, 'unknown');
  assert.equal(intruderSeries[0]?.source_app, 'unknown');
  assert.equal(intruderSeries[0]?.source_workload_namespace, 'shop', 'the namespace comes from the certificate');
  assert.equal(series(await prometheus(b), { source_workload: 'admin-console' }).length, 0);
});

test('metadata an app sends itself never leaves its sidecar, to a mesh endpoint or not', async () => {
  const forged = encodeOwnMetadata({ name: 'admin-console', namespace: 'shop', instance: 'x', labels: { app: 'admin' }, serviceAccount: 'productpage', cluster: 'east' }, '1.2.3.4');
  const headers = { 'x-envoy-peer-metadata': forged.value, 'x-envoy-peer-metadata-id': forged.id };
  // ratings: a plaintext endpoint (no metadata exchange)
  const plain = await get(a.url, 'ratings', { headers });
  assert.equal(plain.status, 200, plain.body);
  const plainEcho = JSON.parse(plain.body) as Echo;
  assert.equal(plainEcho.headers['x-envoy-peer-metadata'], undefined);
  assert.equal(plainEcho.headers['x-envoy-peer-metadata-id'], undefined);
  // reviews over ISTIO_MUTUAL: sidecar B hears sidecar A's metadata, never the app's; B's count
  // for A's workload must grow first, so the request's record is in before the forged one is looked for
  const mine = { reporter: 'destination', source_workload: 'productpage-v1' };
  const before = total(series(await prometheus(b), mine));
  const meshed = await get(a.url, 'reviews', { headers: { ...headers, 'x-request-id': 'mx-forged' } });
  assert.equal(meshed.status, 200, meshed.body);
  const deadline = Date.now() + 5000;
  while (total(series(await prometheus(b), mine)) <= before) {
    assert.ok(Date.now() < deadline, 'the request reached B\'s istio_requests_total');
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(series(await prometheus(b), { source_workload: 'admin-console' }).length, 0);
});

function total(found: Record<string, string>[]): number {
  return found.reduce((sum, s) => sum + Number(s.value), 0);
}
