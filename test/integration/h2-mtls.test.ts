// HTTP/2 on an mTLS inbound HTTP port (PERMISSIVE, 2 workers, TLS terminated in each worker):
// ALPN h2 is offered before http/1.1, an h2 client is served HTTP/2 with its SPIFFE identity (the
// app sees x-forwarded-client-cert, authz sees the principal), an http/1.1 client still gets
// HTTP/1.1, and a plaintext h2c client (PERMISSIVE) is served HTTP/2 without any identity. The
// access log names the protocol each request came in.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import http2 from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { identityArgs, identityDir, makeCa, makeLeaf, peerAuthenticationYaml, type Ca, type Leaf } from '../helpers/certs.js';
import { h2Request, type H2Response } from '../helpers/h2.js';
import { startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { freePort } from '../helpers/ports.js';
import { certHash, tlsGet } from '../helpers/tls-client.js';
import { echoUpstream, type Upstream } from '../helpers/upstream.js';

const ID_B = 'spiffe://cluster.local/ns/b/sa/b';
const ID_C = 'spiffe://cluster.local/ns/c/sa/client';
const ID_DENIED = 'spiffe://cluster.local/ns/c/sa/denied';
let ca: Ca;
let client: Leaf;
let app: Upstream;
let m: Meshlet;
let inbound: number;
let logFile: string;

interface Echo { headers: Record<string, string | undefined> }

before(async () => {
  ca = makeCa('mesh');
  client = makeLeaf(ca, ID_C);
  app = await echoUpstream('app');
  inbound = await freePort();
  const egress = await freePort();
  logFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'meshlet-h2mtls-')), 'access.log');
  m = await startMeshlet(`apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: b}
spec:
  ingress:
  - port: {number: ${inbound}, protocol: HTTP, name: http}
    defaultEndpoint: 127.0.0.1:${app.port}
  egress:
  - port: {number: ${egress}, protocol: HTTP}
    hosts: ["*/*"]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-one}
spec:
  action: DENY
  rules:
  - from: [{source: {principals: [cluster.local/ns/c/sa/denied]}}]
---
${peerAuthenticationYaml('PERMISSIVE')}`, { noSidecar: true, workers: 2, args: [...identityArgs(identityDir(makeLeaf(ca, ID_B), ca.certPem)), '--access-log', logFile] });
});

after(async () => {
  await m?.stop();
  await app?.close();
});

/** One GET over HTTP/2 with TLS (ALPN h2 only, as node:http2 offers) and `leaf`'s certificate. */
async function h2Tls(leaf: Leaf, p: string): Promise<H2Response & { alpn: string | false | null }> {
  const session = http2.connect(`https://127.0.0.1:${inbound}`, {
    ca: ca.certPem, cert: leaf.certPem, key: leaf.keyPem, checkServerIdentity: () => undefined,
  });
  session.on('error', () => undefined);
  try {
    await new Promise<void>((resolve, reject) => { session.once('connect', () => resolve()); session.once('error', reject); });
    const alpn = (session.socket as TLSSocket).alpnProtocol;
    const r = await h2Request(inbound, { ':path': p, ':authority': 'svc-b' }, null, session);
    return { ...r, alpn };
  } finally {
    session.close();
  }
}

test('an h2 client over mTLS gets HTTP/2 (ALPN h2) and the app sees its SPIFFE id', async () => {
  const r = await h2Tls(client, '/over-h2');
  assert.equal(r.alpn, 'h2');
  assert.equal(r.status, 200, r.body.toString());
  const echo = JSON.parse(r.body.toString()) as Echo;
  assert.equal(echo.headers['x-forwarded-client-cert'], `By=${ID_B};Hash=${certHash(client.certPem)};URI=${ID_C}`);
});

test('authorization over HTTP/2 + mTLS sees the peer\'s principal: a denied identity gets 403 on its stream', async () => {
  const r = await h2Tls(makeLeaf(ca, ID_DENIED), '/denied');
  assert.equal(r.alpn, 'h2');
  assert.equal(r.status, 403);
});

test('an http/1.1 client over mTLS still gets HTTP/1.1; a plaintext h2c client (PERMISSIVE) gets HTTP/2 without identity', async () => {
  const h1 = await tlsGet(inbound, { ca: ca.certPem, cert: client.certPem, key: client.keyPem, path: '/over-h1', host: 'svc-b' });
  assert.equal(h1.status, 200);
  assert.equal((JSON.parse(h1.body) as Echo).headers['x-forwarded-client-cert'], `By=${ID_B};Hash=${certHash(client.certPem)};URI=${ID_C}`);
  const plain = await h2Request(inbound, { ':path': '/over-h2c', ':authority': 'svc-b' }, null);
  assert.equal(plain.status, 200);
  assert.equal((JSON.parse(plain.body.toString()) as Echo).headers['x-forwarded-client-cert'], undefined);
});

test('the access log names each request\'s protocol and mTLS peer', async () => {
  assert.equal(await m.stop(), 0);
  const lines = readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const by = (p: string): Record<string, unknown> | undefined => lines.find((l) => l.path === p);
  assert.equal(by('/over-h2')?.protocol, 'HTTP/2');
  assert.equal(by('/over-h2')?.downstream_peer_uri_san, ID_C);
  assert.equal(by('/over-h2')?.grpc_status, null, 'not a gRPC request');
  assert.equal(by('/over-h1')?.protocol, 'HTTP/1.1');
  assert.equal(by('/over-h2c')?.protocol, 'HTTP/2');
  assert.equal(by('/over-h2c')?.downstream_peer_uri_san, null);
  assert.equal(by('/denied')?.response_flags, 'RBAC');
});
