// AuthorizationPolicy on an inbound listener (plaintext here; by principal over mTLS in
// mtls.test.ts): DENY beats ALLOW, ALLOW by path / method / header, AUDIT never decides, denied
// requests get 403 `RBAC: access denied` with flag RBAC, counted in metrics, and policies
// hot-reload over the control socket.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { controlRequest } from '../../src/control/control-client.js';
import { defaultControlSocket } from '../../src/control/socket-path.js';
import { get } from '../helpers/http.js';
import { startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { freePort } from '../helpers/ports.js';
import { echoUpstream, type Upstream } from '../helpers/upstream.js';

let app: Upstream;
let m: Meshlet;
let inbound: string;
let sidecar: string;
let appHits = 0;

const POLICIES = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin}
spec:
  action: DENY
  rules:
  - to: [{operation: {paths: [/admin*]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-reads}
spec:
  action: ALLOW
  rules:
  - to: [{operation: {methods: [GET, HEAD], paths: [/api/*, /admin/*]}}]
  - to: [{operation: {methods: [POST]}}]
    when: [{key: "request.headers[x-team]", values: [blue, green]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: audit-all}
spec:
  action: AUDIT
  rules: [{}]
---
`;

before(async () => {
  app = await echoUpstream('app');
  app.server.on('request', () => { appHits++; });
  const port = await freePort();
  inbound = `http://127.0.0.1:${port}`;
  sidecar = `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: app}
spec:
  ingress:
  - port: {number: ${port}, protocol: HTTP, name: http-in}
    defaultEndpoint: 127.0.0.1:${app.port}
---
`;
  m = await startMeshlet(sidecar + POLICIES, { noSidecar: true, workers: 2 });
});

after(async () => {
  await m?.stop();
  await app?.close();
});

test('ALLOW by method and path; a request no ALLOW policy matches is denied 403 RBAC without reaching the app', async () => {
  assert.equal((await get(`${inbound}/api/orders`, 'svc')).status, 200);
  appHits = 0;
  const denied = await get(`${inbound}/other`, 'svc');
  assert.equal(denied.status, 403);
  assert.equal(denied.body, 'RBAC: access denied');
  assert.equal(denied.headers['x-meshlet-flags'], 'RBAC');
  assert.equal((await get(`${inbound}/api/orders`, 'svc', { method: 'DELETE' })).status, 403);
  assert.equal(appHits, 0);
});

test('DENY wins over a matching ALLOW', async () => {
  assert.equal((await get(`${inbound}/admin/users`, 'svc')).status, 403);
});

test('when: request.headers[...] values', async () => {
  assert.equal((await get(`${inbound}/anything`, 'svc', { method: 'POST', body: 'x', headers: { 'x-team': 'blue' } })).status, 200);
  assert.equal((await get(`${inbound}/anything`, 'svc', { method: 'POST', body: 'x', headers: { 'x-team': 'red' } })).status, 403);
  assert.equal((await get(`${inbound}/anything`, 'svc', { method: 'POST', body: 'x' })).status, 403);
});

test('denials are counted in istio_requests_total with response_flags RBAC', async () => {
  const prom = await (await request(`http://127.0.0.1:${m.adminPort}/stats/prometheus`)).body.text();
  const line = prom.split('\n').find((l) => l.startsWith('istio_requests_total{') && l.includes('response_code="403"') && l.includes('response_flags="RBAC"'));
  assert.ok(line, 'a 403 RBAC series');
  assert.ok(Number(line.split(' ').at(-1)) >= 5, line);
});

test('policies hot-reload: removing the DENY lets /admin/* through; an empty policy set allows all', async () => {
  const socket = defaultControlSocket(m.adminPort);
  let reply = await controlRequest(socket, { op: 'apply', yaml: sidecar + POLICIES.slice(POLICIES.indexOf('apiVersion', 10)) });
  assert.equal(reply.ok, true, JSON.stringify(reply));
  assert.equal((await get(`${inbound}/admin/users`, 'svc')).status, 200);
  assert.equal((await get(`${inbound}/other`, 'svc')).status, 403);
  reply = await controlRequest(socket, { op: 'apply', yaml: sidecar });
  assert.equal(reply.ok, true, JSON.stringify(reply));
  assert.equal((await get(`${inbound}/other`, 'svc', { method: 'DELETE' })).status, 200);
});

test('PeerAuthentication hot-reloads where the port stays plaintext; STRICT (the workers terminate TLS on the port) needs a restart', async () => {
  const socket = defaultControlSocket(m.adminPort);
  const pa = (mode: string) => `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default}
spec: {mtls: {mode: ${mode}}}
---
`;
  const disable = await controlRequest(socket, { op: 'apply', yaml: sidecar + pa('DISABLE') });
  assert.equal(disable.ok, true, JSON.stringify(disable));
  const strict = await controlRequest(socket, { op: 'apply', yaml: sidecar + pa('STRICT') });
  assert.equal(strict.ok, false);
  assert.match(JSON.stringify(strict), /mtls=STRICT.*restart/);
  assert.equal((await get(`${inbound}/anything`, 'svc')).status, 200, 'the running config keeps serving');
});
