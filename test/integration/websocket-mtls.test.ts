// WebSockets between two sidecars over mesh mTLS: client → sidecar A (ISTIO_MUTUAL to B) → sidecar
// B (STRICT) → app B. B's AuthorizationPolicy applies to the upgrade request: A's principal is
// allowed (the app sees A's identity in x-forwarded-client-cert), C's gets 403; plaintext to B's
// port gets no HTTP at all.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type WebSocket from 'ws';
import { identityArgs, identityDir, istioMutualYaml, makeCa, makeLeaf, peerAuthenticationYaml, type Ca } from '../helpers/certs.js';
import { serviceEntryYaml, sidecarYaml, startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { freePort } from '../helpers/ports.js';
import { rawRequest } from '../helpers/raw.js';
import { metricValue, waitForMetrics } from '../helpers/tcp.js';
import { closed, openWs, roundTrip, wsEchoServer, type WsServer } from '../helpers/ws.js';

const ID_A = 'spiffe://cluster.local/ns/a/sa/a';
const ID_B = 'spiffe://cluster.local/ns/b/sa/b';
const ID_C = 'spiffe://cluster.local/ns/c/sa/c';

let ca: Ca;
let app: WsServer;
let b: Meshlet;
let a: Meshlet;
let c: Meshlet;
let inbound: number;

before(async () => {
  ca = makeCa('mesh');
  const leaf = (id: string) => identityArgs(identityDir(makeLeaf(ca, id), ca.certPem));
  app = await wsEchoServer('app-b');
  inbound = await freePort();
  const egressB = await freePort();
  b = await startMeshlet(`apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: b}
spec:
  ingress:
  - port: {number: ${inbound}, protocol: HTTP, name: http-in}
    defaultEndpoint: 127.0.0.1:${app.port}
  egress:
  - port: {number: ${egressB}, protocol: HTTP}
    hosts: ["*/*"]
---
${peerAuthenticationYaml('STRICT')}apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-a, namespace: b}
spec:
  action: ALLOW
  rules:
  - from: [{source: {principals: [cluster.local/ns/a/sa/a]}}]
`, { noSidecar: true, workers: 2, args: leaf(ID_B) });
  const caller = async (id: string): Promise<Meshlet> => {
    const port = await freePort();
    return startMeshlet(sidecarYaml(port) + serviceEntryYaml('svc-b', [{ port: inbound }]) + istioMutualYaml('svc-b', [ID_B]),
      { noSidecar: true, port, args: leaf(id) });
  };
  [a, c] = await Promise.all([caller(ID_A), caller(ID_C)]);
});

after(async () => {
  await Promise.all([a, b, c].map((x) => x?.stop()));
  await app?.close();
});

test('A → mTLS → B (STRICT): the WebSocket opens, messages flow both ways, app B sees A\'s identity; counted 101 on both sidecars', async () => {
  const ws = (await openWs(a.port, 'svc-b', '/live')).ws as WebSocket;
  assert.equal(await roundTrip(ws, 'who'), 'app-b');
  assert.equal(await roundTrip(ws, 'x'.repeat(100_000)), 'x'.repeat(100_000));
  assert.match(String(app.requests.at(-1)?.headers['x-forwarded-client-cert']), new RegExp(`URI=${ID_A}$`));
  const done = closed(ws);
  ws.close(4000, 'done');
  assert.deepEqual(await done, [4000, 'done']);
  await waitForMetrics(b.adminPort, (t) => metricValue(t, 'istio_requests_total', 'reporter="destination"', 'response_code="101"') === 1
    && metricValue(t, 'istio_tcp_connections_closed_total', 'reporter="destination"', 'request_protocol="websocket"') === 1);
  await waitForMetrics(a.adminPort, (t) => metricValue(t, 'istio_requests_total', 'reporter="source"', 'response_code="101"') === 1);
});

test('C → mTLS → B: the policy refuses C\'s upgrade request with 403 RBAC', async () => {
  const r = await openWs(c.port, 'svc-b', '/live');
  assert.equal(r.status, 403);
  assert.equal(r.body, 'RBAC: access denied');
  await waitForMetrics(b.adminPort, (t) => metricValue(t, 'istio_requests_total', 'reporter="destination"', 'response_code="403"', 'response_flags="RBAC"') === 1);
});

test('plaintext to B\'s STRICT port: no HTTP answer at all', async () => {
  const out = await rawRequest(inbound, 'GET /live HTTP/1.1\r\nHost: svc-b\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  assert.equal(out.startsWith('HTTP/'), false, out);
});
