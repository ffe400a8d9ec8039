// A Sidecar ingress listener forwards every request to the local app (defaultEndpoint), whatever
// the Host, with the same header rules as outbound; an outbound listener beside it still routes.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { serviceEntryYaml, startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { getJson } from '../helpers/http.js';
import { freePort } from '../helpers/ports.js';
import { echoUpstream, type Upstream } from '../helpers/upstream.js';

interface Echo { name: string; url: string; headers: Record<string, string> }

let app: Upstream;
let other: Upstream;
let m: Meshlet;
let inboundPort: number;
let outboundPort: number;

before(async () => {
  app = await echoUpstream('local-app');
  other = await echoUpstream('other-service');
  inboundPort = await freePort();
  outboundPort = await freePort();
  m = await startMeshlet(`apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: app
  annotations: {meshlet.io/forwarded-for: append}
spec:
  ingress:
  - port: {number: ${inboundPort}, protocol: HTTP, name: http-in}
    defaultEndpoint: 127.0.0.1:${app.port}
  egress:
  - port: {number: ${outboundPort}, protocol: HTTP}
    hosts: ["*/*"]
---
${serviceEntryYaml('other', [{ port: other.port }])}`, { noSidecar: true, workers: 2 });
});

after(async () => {
  await m?.stop();
  await app?.close();
  await other?.close();
});

test('inbound listener forwards any Host to the local app, path and query intact', async () => {
  const r = await getJson<Echo>(`http://127.0.0.1:${inboundPort}/orders/7?x=1`, 'my-service.prod.svc.cluster.local');
  assert.equal(r.status, 200);
  assert.equal(r.json.name, 'local-app');
  assert.equal(r.json.url, '/orders/7?x=1');
  assert.equal(r.json.headers.host, 'my-service.prod.svc.cluster.local');
  assert.equal(r.json.headers['x-forwarded-for'], '127.0.0.1', 'appended: the Sidecar asks for it (meshlet.io/forwarded-for: append)');
});

test('the outbound listener beside it routes by Host', async () => {
  const r = await getJson<Echo>(`http://127.0.0.1:${outboundPort}/`, 'other');
  assert.equal(r.json.name, 'other-service');
});
