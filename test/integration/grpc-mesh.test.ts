// gRPC between two sidecars over ISTIO_MUTUAL with PeerAuthentication STRICT: grpc-js client →
// sidecar A (outbound, HTTP/2 over mTLS with ALPN h2) → sidecar B (inbound GRPC port, STRICT) →
// grpc-js app over h2c. The app sees the caller's SPIFFE id in x-forwarded-client-cert; an
// AuthorizationPolicy on B denies one method to A's principal with PERMISSION_DENIED. Over HTTP/2
// the hop keeps what HTTP/1.1 has: the metadata exchange and Istio's labels on both reporters,
// and new connections resume the endpoint's TLS session.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { identityArgs, identityDir, istioMutualYaml, makeCa, makeLeaf, peerAuthenticationYaml } from '../helpers/certs.js';
import { echoClient, echoHandlers, grpc, grpcServiceEntry, startGrpcServer, unary, unaryError, type EchoClient, type GrpcServer, type Msg } from '../helpers/grpc.js';
import { startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { freePort } from '../helpers/ports.js';
import { certHash } from '../helpers/tls-client.js';

const ID_A = 'spiffe://cluster.local/ns/a/sa/a';
const ID_B = 'spiffe://cluster.local/ns/b/sa/b';
const WORKLOAD_A = ['--workload', 'client-v1.a', '--workload-label', 'app=client', '--workload-label', 'version=v1'];
const WORKLOAD_B = ['--workload', 'echo-v2.b', '--workload-label', 'app=echo', '--workload-label', 'version=v2'];
let app: GrpcServer;
let sidecarA: Meshlet;
let sidecarB: Meshlet;
let client: EchoClient;
/** svc-b-short: the same endpoint, one request per connection (every call a new TLS connection) */
let shortClient: EchoClient;
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
  sidecarB = await startMeshlet(sidecarBYaml, { noSidecar: true, workers: 2, args: [...identityArgs(identityDir(leafB, ca.certPem)), ...WORKLOAD_B] });
  const shortLived = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc-b-short}
spec:
  host: svc-b-short
  trafficPolicy:
    tls: {mode: ISTIO_MUTUAL}
    connectionPool: {http: {maxRequestsPerConnection: 1}}
---
`;
  sidecarA = await startMeshlet(grpcServiceEntry('svc-b', [inboundPort]) + istioMutualYaml('svc-b', [ID_B])
    + grpcServiceEntry('svc-b-short', [inboundPort]) + shortLived, {
    args: [...identityArgs(identityDir(leafA, ca.certPem)), ...WORKLOAD_A],
  });
  client = echoClient(`127.0.0.1:${sidecarA.port}`, 'svc-b');
  shortClient = echoClient(`127.0.0.1:${sidecarA.port}`, 'svc-b-short');
});

after(async () => {
  client?.close();
  shortClient?.close();
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

async function prometheus(m: Meshlet): Promise<string> {
  return (await request(`http://127.0.0.1:${m.adminPort}/stats/prometheus`)).body.text();
}

/** The labels (and value) of `metric`'s lines that have every `want` label. */
function series(text: string, metric: string, want: Record<string, string>): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}{`)) continue;
    const m = /\{(.*)\} (\d+)$/.exec(line);
    if (m === null) continue;
    const labels: Record<string, string> = { value: m[2] as string };
    for (const p of (m[1] as string).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[p[1] as string] = p[2] as string;
    if (Object.entries(want).every(([k, v]) => labels[k] === v)) out.push(labels);
  }
  return out;
}

/** Stats are drained every 100 ms: poll (bounded) until `metric` has a line with `want`. */
async function until(m: Meshlet, metric: string, want: Record<string, string>): Promise<Record<string, string>> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const text = await prometheus(m);
    const found = series(text, metric, want)[0];
    if (found !== undefined) return found;
    if (Date.now() > deadline) assert.fail(`no ${metric} with ${JSON.stringify(want)} in:\n${text.split('\n').filter((l) => l.startsWith(`${metric}{`)).join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('over the HTTP/2 mTLS hop both reporters learn both workloads (metadata exchange) and label the calls gRPC', async () => {
  await unary(client, { text: 'labels' });
  const grpcOk = { request_protocol: 'grpc', grpc_response_status: '0' };
  const src = await until(sidecarA, 'istio_requests_total', { reporter: 'source', destination_service_name: 'svc-b', ...grpcOk });
  assert.equal(src.source_workload, 'client-v1');
  assert.equal(src.source_principal, ID_A);
  assert.equal(src.destination_workload, 'echo-v2', 'the server\'s metadata came back over HTTP/2');
  assert.equal(src.destination_version, 'v2');
  assert.equal(src.destination_principal, ID_B);
  const dst = await until(sidecarB, 'istio_requests_total', { reporter: 'destination', source_workload: 'client-v1', ...grpcOk });
  assert.equal(dst.source_principal, ID_A);
  assert.equal(dst.source_app, 'client');
  assert.equal(dst.destination_workload, 'echo-v2');
  assert.equal(dst.connection_security_policy, 'mutual_tls');
  // messages each way, on the same series
  const msgs = await until(sidecarB, 'istio_request_messages_total', { reporter: 'destination', source_workload: 'client-v1', ...grpcOk });
  assert.ok(Number(msgs.value) >= 1, JSON.stringify(msgs));
});

test('new HTTP/2 mesh connections resume the endpoint\'s TLS session and still know the server\'s identity', async () => {
  const handshakes = async (resumed: string): Promise<number> =>
    Number(series(await prometheus(sidecarA), 'meshlet_tls_handshakes_total', { direction: 'outbound', resumed })[0]?.value ?? 0);
  const resumedBefore = await handshakes('true');
  for (let i = 0; i < 5; i++) {
    const r = await unary(shortClient, { text: `short ${i}` });
    assert.equal(r.text, `By=${ID_B};Hash=${certHash(certA)};URI=${ID_A}`);
  }
  // handshakes reach /stats through the workers' periodic report: poll
  const deadline = Date.now() + 5000;
  while ((await handshakes('true')) < resumedBefore + 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  assert.ok((await handshakes('true')) >= resumedBefore + 4, (await prometheus(sidecarA)).split('\n').filter((l) => l.startsWith('meshlet_tls')).join('\n'));
  // resumed connections carry no certificate: the principal comes with the session
  const src = await until(sidecarA, 'istio_requests_total', { reporter: 'source', destination_service_name: 'svc-b-short', grpc_response_status: '0' });
  assert.equal(src.value, '5');
  assert.equal(src.destination_principal, ID_B);
  assert.equal(src.destination_workload, 'echo-v2');
});
