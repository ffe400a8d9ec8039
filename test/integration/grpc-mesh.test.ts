// gRPC between two sidecars over ISTIO_MUTUAL with PeerAuthentication STRICT: grpc-js client →
// sidecar A (outbound, HTTP/2 over mTLS with ALPN h2) → sidecar B (inbound GRPC port, STRICT) →
// grpc-js app over h2c. The app sees the caller's SPIFFE id in x-forwarded-client-cert; an
// AuthorizationPolicy on B denies one method to A's principal with PERMISSION_DENIED.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { identityArgs, identityDir, istioMutualYaml, makeCa, makeLeaf, peerAuthenticationYaml } from '../helpers/certs.js';
import { echoClient, echoHandlers, grpc, grpcServiceEntry, startGrpcServer, unary, unaryError, type EchoClient, type GrpcServer, type Msg } from '../helpers/grpc.js';
import { startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { freePort } from '../helpers/ports.js';
import { certHash } from '../helpers/tls-client.js';

const ID_A = 'spiffe://cluster.local/ns/a/sa/a';
const ID_B = 'spiffe://cluster.local/ns/b/sa/b';
let app: GrpcServer;
let sidecarA: Meshlet;
let sidecarB: Meshlet;
let client: EchoClient;
let certA = '';

before(async () => {
  const ca = makeCa('mesh');
  const leafA = makeLeaf(ca, ID_A);
  const leafB = makeLeaf(ca, ID_B);
  certA = leafA.certPem;
  app = await startGrpcServer({
    ...echoHandlers('app-b'),
    Unary(call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) {
      cb(null, { text: String(call.metadata.get('x-forwarded-client-cert')[0] ?? ''), payload: Buffer.alloc(0), seq: 0 });
    },
  });
  const inboundPort = await freePort();
  const unusedEgress = await freePort();
  const sidecarBYaml = `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: b}
spec:
  ingress:
  - port: {number: ${inboundPort}, protocol: GRPC, name: grpc-in}
    defaultEndpoint: 127.0.0.1:${app.port}
  egress:
  - port: {number: ${unusedEgress}, protocol: HTTP}
    hosts: ["*/*"]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-client-streams-for-a}
spec:
  action: DENY
  rules:
  - from: [{source: {principals: [cluster.local/ns/a/sa/a]}}]
    to: [{operation: {paths: [/meshlet.test.Echo/ClientStream]}}]
---
` + peerAuthenticationYaml('STRICT');
  sidecarB = await startMeshlet(sidecarBYaml, { noSidecar: true, workers: 2, args: identityArgs(identityDir(leafB, ca.certPem)) });
  sidecarA = await startMeshlet(grpcServiceEntry('svc-b', [inboundPort]) + istioMutualYaml('svc-b', [ID_B]), {
    args: identityArgs(identityDir(leafA, ca.certPem)),
  });
  client = echoClient(`127.0.0.1:${sidecarA.port}`, 'svc-b');
});

after(async () => {
  client?.close();
  await Promise.all([sidecarA?.stop(), sidecarB?.stop()]);
  await app?.close();
});

test('unary through two sidecars over ISTIO_MUTUAL + STRICT: the app sees the caller\'s SPIFFE id', async () => {
  const r = await unary(client, { text: 'hi' });
  assert.equal(r.text, `By=${ID_B};Hash=${certHash(certA)};URI=${ID_A}`);
  // many calls share the one mTLS connection
  const all = await Promise.all(Array.from({ length: 200 }, () => unary(client, { text: 'x' })));
  assert.ok(all.every((x) => x.text.endsWith(`URI=${ID_A}`)));
});

test('streams through the hop: server streaming and bidi', async () => {
  const stream = client.ServerStream({ count: 500, size: 100 });
  let n = 0;
  for await (const m of stream as AsyncIterable<Msg>) {
    assert.equal(m.seq, n);
    n++;
  }
  assert.equal(n, 500);
  const bidi = client.Bidi();
  const echoed: number[] = [];
  bidi.on('data', (m: Msg) => echoed.push(m.seq));
  const done = new Promise((resolve, reject) => { bidi.on('end', resolve); bidi.on('error', reject); });
  for (let i = 0; i < 50; i++) bidi.write({ seq: i, text: 'b' });
  bidi.end();
  await done;
  assert.deepEqual(echoed, Array.from({ length: 50 }, (_, i) => i));
});

test('an AuthorizationPolicy denial on the inbound side is PERMISSION_DENIED (RBAC) for the gRPC caller', async () => {
  const err = await new Promise<grpc.ServiceError | null>((resolve) => {
    const call = client.ClientStream(new grpc.Metadata(), {}, (e) => resolve(e));
    call.write({ text: 'x' });
    call.end();
  });
  assert.equal(err?.code, grpc.status.PERMISSION_DENIED);
  assert.equal(err?.metadata.get('x-meshlet-flags')[0], 'RBAC');
  assert.equal(await unaryError(client, { text: 'still allowed' }), null);
});
