// The metadata exchange once per connection between meshlet peers (src/telemetry/mx-once.ts):
// over an mTLS connection whose handshake chose MX_ALPN, the client's metadata comes with the
// connection's first request only and the server's with its first response, and every request
// still carries both workloads in both reporters' stats; a peer that does not choose it (an Envoy:
// http/1.1) gets and must send the headers with every message, as with Istio.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import https from 'node:https';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { identityArgs, identityDir, istioMutualYaml, makeCa, makeLeaf, peerAuthenticationYaml, type Ca, type Leaf } from '../helpers/certs.js';
import { get } from '../helpers/http.js';
import { serviceEntryYaml, startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { freePort } from '../helpers/ports.js';
import { tlsGet } from '../helpers/tls-client.js';
import { echoUpstream, type Upstream } from '../helpers/upstream.js';
import { MX_ALPN } from '../../src/telemetry/mx-once.js';
import { encodeOwnMetadata } from '../../src/telemetry/peer-metadata.js';

const ID_A = 'spiffe://cluster.local/ns/shop/sa/productpage';
const ID_B = 'spiffe://cluster.local/ns/shop/sa/reviews';
const META_A = encodeOwnMetadata({ name: 'productpage-v1', namespace: 'shop', instance: 'pp-1', labels: { app: 'productpage', version: 'v1' }, serviceAccount: 'productpage', cluster: 'east' }, '10.0.0.1');
const META_B = encodeOwnMetadata({ name: 'reviews-v2', namespace: 'shop', instance: 'rv-2', labels: { app: 'reviews', version: 'v2' }, serviceAccount: 'reviews', cluster: 'east' }, '10.0.0.2');

let ca: Ca;
let leafA: Leaf;
let leafB: Leaf;
let appB: Upstream;
let b: Meshlet;
let inboundB: number;

before(async () => {
  ca = makeCa('mesh');
  leafA = makeLeaf(ca, ID_A);
  leafB = makeLeaf(ca, ID_B);
  appB = await echoUpstream('reviews');
  inboundB = await freePort();
  b = await startMeshlet(`apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: b, namespace: shop}
spec:
  ingress:
  - port: {number: ${inboundB}, protocol: HTTP, name: http}
    defaultEndpoint: 127.0.0.1:${appB.port}
---
${peerAuthenticationYaml('STRICT')}`, {
    noSidecar: true,
    args: [...identityArgs(identityDir(leafB, ca.certPem)), '--workload', 'reviews-v2.shop', '--workload-label', 'app=reviews',
      '--workload-label', 'version=v2', '--cluster-id', 'east'],
  });
});

after(async () => {
  await b?.stop();
  await appB?.close();
});

async function prometheus(m: Meshlet): Promise<string> {
  return (await request(`http://127.0.0.1:${m.adminPort}/stats/prometheus`)).body.text();
}

/** istio_requests_total's count for the series with every `want` label (summed), waiting (bounded) for `expected`. */
async function requestsTotal(m: Meshlet, want: Record<string, string>, expected: number): Promise<number> {
  const deadline = Date.now() + 5000;
  for (;;) {
    let sum = 0;
    for (const line of (await prometheus(m)).split('\n')) {
      const found = /^istio_requests_total\{(.*)\} (\d+)$/.exec(line);
      if (found === null) continue;
      const labels = found[1] as string;
      if (Object.entries(want).every(([k, v]) => labels.includes(`${k}="${v}"`))) sum += Number(found[2]);
    }
    if (sum >= expected || Date.now() > deadline) return sum;
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('server side: a meshlet client (MX_ALPN) sends its metadata once; every request on the connection is the caller\'s, and the answer carries ours once', async () => {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const opts = { ca: ca.certPem, cert: leafA.certPem, key: leafA.keyPem, host: 'reviews', agent, alpn: [MX_ALPN, 'http/1.1'] };
    const first = await tlsGet(inboundB, { ...opts, path: '/mx-1', headers: { 'x-envoy-peer-metadata': META_A.value, 'x-envoy-peer-metadata-id': META_A.id } });
    assert.equal(first.status, 200);
    assert.equal(first.alpn, MX_ALPN);
    assert.ok(typeof first.headers['x-envoy-peer-metadata'] === 'string', 'the first response carries B\'s metadata');
    for (let i = 2; i <= 4; i++) {
      const later = await tlsGet(inboundB, { ...opts, path: `/mx-${i}` });
      assert.equal(later.status, 200);
      assert.equal(later.headers['x-envoy-peer-metadata'], undefined, `response ${i} does not repeat it`);
      assert.equal((JSON.parse(later.body) as { headers: Record<string, string> }).headers['x-envoy-peer-metadata'], undefined);
    }
  } finally {
    agent.destroy();
  }
  assert.equal(await requestsTotal(b, { reporter: 'destination', source_workload: 'productpage-v1', source_app: 'productpage' }, 4), 4);
});

test('server side: an Envoy client (http/1.1) is answered per request: a request without metadata is not the caller\'s workload, and no metadata is answered to it', async () => {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const opts = { ca: ca.certPem, cert: leafA.certPem, key: leafA.keyPem, host: 'reviews', agent, alpn: ['http/1.1'] };
    const first = await tlsGet(inboundB, { ...opts, path: '/envoy-1', headers: { 'x-envoy-peer-metadata': META_A.value, 'x-envoy-peer-metadata-id': META_A.id } });
    assert.equal(first.alpn, 'http/1.1');
    assert.ok(typeof first.headers['x-envoy-peer-metadata'] === 'string');
    const second = await tlsGet(inboundB, { ...opts, path: '/envoy-2' });
    assert.equal(second.status, 200);
    assert.equal(second.headers['x-envoy-peer-metadata'], undefined);
  } finally {
    agent.destroy();
  }
  assert.equal(await requestsTotal(b, { reporter: 'destination', source_workload: 'productpage-v1' }, 5), 5);
  assert.equal(await requestsTotal(b, { reporter: 'destination', source_workload: 'unknown', source_principal: ID_A }, 1), 1);
});

interface Seen { connection: number; metadata: boolean; method: string; body: string }

/**
 * A TLS server with B's certificate answering 200, offering `alpn`, that notes each request's
 * connection, whether it carried metadata, its method and its body (Content-Length). It answers
 * with its own metadata as a meshlet (or an Envoy) does: to a request that carried metadata;
 * `loseFirst`: not on its first response (as when a local error reply took the place of the
 * response that carried it); `status(n)`: the status of the n-th request (0-based; 200 otherwise).
 */
async function fakePeer(alpn: string[], loseFirst = false, status: (n: number) => number = () => 200): Promise<{ port: number; seen: Seen[]; close(): void }> {
  const seen: Seen[] = [];
  let connections = 0;
  const server = tls.createServer({ cert: leafB.certPem, key: leafB.keyPem, ca: ca.certPem, requestCert: true, ALPNProtocols: alpn }, (socket) => {
    const connection = ++connections;
    let answered = 0;
    let input = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      input += d;
      for (let end = input.indexOf('\r\n\r\n'); end >= 0; end = input.indexOf('\r\n\r\n')) {
        const head = input.slice(0, end);
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (input.length < end + 4 + length) return; // the body has not all arrived
        const body = input.slice(end + 4, end + 4 + length);
        input = input.slice(end + 4 + length);
        const metadata = /\r\nx-envoy-peer-metadata:/i.test(head);
        const n = seen.push({ connection, metadata, method: head.slice(0, head.indexOf(' ')), body }) - 1;
        const own = metadata && !(loseFirst && answered === 0) ? `x-envoy-peer-metadata-id: ${META_B.id}\r\nx-envoy-peer-metadata: ${META_B.value}\r\n` : '';
        answered++;
        const code = status(n);
        socket.write(code === 200 ? `HTTP/1.1 200 OK\r\ncontent-length: 2\r\n${own}\r\nok` : `HTTP/1.1 ${code} Unavailable\r\ncontent-length: 0\r\n${own}\r\n`);
      }
    });
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as { port: number }).port, seen, close: () => server.close() };
}

/**
 * Sidecar A (productpage-v1) as a client, with one connection per endpoint
 * (--max-connections-per-endpoint 1): concurrent requests wait in the pool for it.
 */
function clientArgs(): string[] {
  return [...identityArgs(identityDir(leafA, ca.certPem)), '--workload', 'productpage-v1.shop', '--workload-label', 'app=productpage',
    '--workload-label', 'version=v1', '--cluster-id', 'east', '--max-connections-per-endpoint', '1'];
}

test('client side: to a meshlet peer the metadata crosses the connection once, to an Envoy with every request; both peers are known for every request', async () => {
  const meshlet = await fakePeer([MX_ALPN, 'http/1.1']);
  const envoy = await fakePeer(['http/1.1']);
  const lossy = await fakePeer([MX_ALPN, 'http/1.1'], true);
  // one connection per endpoint (--max-connections-per-endpoint 1): concurrent requests wait in the
  // pool for it, their heads built before it was theirs
  const a = await startMeshlet(serviceEntryYaml('reviews', [{ port: meshlet.port, labels: { app: 'reviews' } }]) + istioMutualYaml('reviews')
    + serviceEntryYaml('ratings', [{ port: envoy.port, labels: { app: 'ratings' } }]) + istioMutualYaml('ratings')
    + serviceEntryYaml('details', [{ port: lossy.port, labels: { app: 'details' } }]) + istioMutualYaml('details'), {
    args: clientArgs(),
  });
  try {
    for (let i = 0; i < 5; i++) {
      assert.equal((await get(a.url, 'reviews')).status, 200);
      assert.equal((await get(a.url, 'ratings')).status, 200);
    }
    assert.equal(meshlet.seen.length, 5);
    assert.ok(meshlet.seen.every((s) => s.connection === 1), 'one connection, reused');
    assert.deepEqual(meshlet.seen.map((s) => s.metadata), [true, false, false, false, false]);
    // requests that waited for the connection: their heads leave without the metadata too
    const statuses = await Promise.all(Array.from({ length: 6 }, async () => (await get(a.url, 'reviews')).status));
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200]);
    assert.equal(meshlet.seen.length, 11);
    assert.ok(meshlet.seen.every((s) => s.connection === 1 && (s === meshlet.seen[0] || !s.metadata)), JSON.stringify(meshlet.seen));
    assert.equal(envoy.seen.length, 5);
    assert.ok(envoy.seen.every((s) => s.metadata), 'an Envoy gets it with every request');
    // the first response came without the server's metadata: the next request carries ours again
    for (let i = 0; i < 4; i++) assert.equal((await get(a.url, 'details')).status, 200);
    assert.deepEqual(lossy.seen.map((s) => s.metadata), [true, true, false, false]);
    assert.equal(await requestsTotal(a, { reporter: 'source', destination_workload: 'reviews-v2', destination_service_name: 'details' }, 3), 3);
    // every request's peer is the believed metadata's workload, not the endpoint's labels
    assert.equal(await requestsTotal(a, { reporter: 'source', destination_workload: 'reviews-v2', destination_version: 'v2', destination_service_name: 'reviews' }, 11), 11);
    assert.equal(await requestsTotal(a, { reporter: 'source', destination_workload: 'reviews-v2', destination_service_name: 'ratings' }, 5), 5);
  } finally {
    await a.stop();
    meshlet.close();
    envoy.close();
    lossy.close();
  }
});

test('client side: a retry after a head sent without the metadata carries it on its new connection; a POST keeps its body', async () => {
  // the second response is a 503, which the route retries: the try's connection is closed (its
  // response dropped), and the retry goes out on a new connection, which has not heard our metadata
  const peer = await fakePeer([MX_ALPN, 'http/1.1'], false, (n) => (n === 1 ? 503 : 200));
  const retries = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route: [{destination: {host: reviews}}]
    retries: {attempts: 2, retryOn: "503"}
---
`;
  const a = await startMeshlet(serviceEntryYaml('reviews', [{ port: peer.port, labels: { app: 'reviews' } }]) + istioMutualYaml('reviews') + retries, {
    args: clientArgs(),
  });
  try {
    assert.equal((await get(a.url, 'reviews')).status, 200);
    assert.equal((await get(a.url, 'reviews')).status, 200, 'the retry answered');
    const bodies = ['first body', 'x'.repeat(70_000), ''];
    for (const body of bodies) {
      const r = await get(a.url, 'reviews', { method: 'POST', body, headers: { 'content-type': 'text/plain' } });
      assert.equal(r.status, 200);
    }
    assert.deepEqual(peer.seen.map((s) => [s.connection, s.metadata, s.method, s.body.length]), [
      [1, true, 'GET', 0], [1, false, 'GET', 0], [2, true, 'GET', 0],
      [2, false, 'POST', bodies[0]?.length], [2, false, 'POST', 70_000], [2, false, 'POST', 0],
    ]);
    assert.equal(peer.seen[3]?.body, bodies[0]);
    assert.equal(peer.seen[4]?.body, bodies[1]);
    assert.equal(await requestsTotal(a, { reporter: 'source', destination_workload: 'reviews-v2', destination_service_name: 'reviews', response_code: '200' }, 5), 5);
  } finally {
    await a.stop();
    peer.close();
  }
});
