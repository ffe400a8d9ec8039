// gRPC through one sidecar (outbound listener → GRPC ServiceEntry port → grpc-js server over h2c),
// two workers: messages, response metadata and trailers pass unchanged (grpc-status,
// grpc-message, -bin), trailers-only error responses, a 90/10 canary by subsets, and many calls
// on one client connection.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { echoClient, echoHandlers, grpc, grpcServiceEntry, startGrpcServer, unary, unaryError, type EchoClient, type GrpcServer, type Msg } from '../helpers/grpc.js';
import { startMeshlet, type Meshlet } from '../helpers/meshlet.js';

let server: GrpcServer;
let canaryV1: GrpcServer;
let canaryV2: GrpcServer;
let m: Meshlet;
let client: EchoClient;

before(async () => {
  const base = echoHandlers('a');
  server = await startGrpcServer({
    ...base,
    Unary(call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) {
      if (call.request.text === 'fail') {
        const md = new grpc.Metadata();
        md.set('x-detail-bin', Buffer.from([0, 1, 2, 255]));
        md.set('x-detail', 'plain');
        cb({ code: grpc.status.NOT_FOUND, details: 'no such thing: ünïcødé', metadata: md });
        return;
      }
      if (call.request.text === 'trailers') {
        const md = new grpc.Metadata();
        md.set('x-after-bin', Buffer.from('binary-trailer'));
        md.set('x-after', 'text-trailer');
        cb(null, { text: 'with trailers', payload: Buffer.alloc(0), seq: 1 }, md);
        return;
      }
      (base.Unary as (c: typeof call, cb2: typeof cb) => void)(call, cb);
    },
  });
  canaryV1 = await startGrpcServer(echoHandlers('v1'));
  canaryV2 = await startGrpcServer(echoHandlers('v2'));
  m = await startMeshlet(grpcServiceEntry('echo', [server.port]) + `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: canary}
spec:
  hosts: [canary]
  resolution: STATIC
  ports: [{number: 80, name: grpc, protocol: GRPC}]
  endpoints:
  - {address: 127.0.0.1, ports: {grpc: ${canaryV1.port}}, labels: {version: v1}}
  - {address: 127.0.0.1, ports: {grpc: ${canaryV2.port}}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: canary}
spec:
  host: canary
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: canary}
spec:
  hosts: [canary]
  http:
  - route:
    - {destination: {host: canary, subset: v1}, weight: 90}
    - {destination: {host: canary, subset: v2}, weight: 10}
`, { workers: 2 });
  client = echoClient(`127.0.0.1:${m.port}`, 'echo');
});

after(async () => {
  client?.close();
  await m?.stop();
  await server?.close();
  await canaryV1?.close();
  await canaryV2?.close();
});

test('unary through the sidecar: the message, response metadata and payload bytes arrive unchanged', async () => {
  const md = new grpc.Metadata();
  md.set('x-client', 'c1');
  const got = await new Promise<{ res: Msg; headers: grpc.Metadata }>((resolve, reject) => {
    let headers = new grpc.Metadata();
    const call = client.Unary({ text: 'hello', payload: Buffer.from([0, 255, 7]), seq: 42 }, md, {}, (err, res) => {
      if (err !== null) reject(err);
      else resolve({ res: res as Msg, headers });
    });
    call.on('metadata', (h: grpc.Metadata) => { headers = h; });
  });
  assert.equal(got.res.text, 'a:hello');
  assert.deepEqual([...got.res.payload], [0, 255, 7]);
  assert.equal(got.res.seq, 42);
  assert.deepEqual(got.headers.get('x-server'), ['a']);
});

test('trailing metadata (text and -bin) passes through with grpc-status 0', async () => {
  const trailers = await new Promise<grpc.Metadata>((resolve, reject) => {
    const call = client.Unary({ text: 'trailers' }, new grpc.Metadata(), {}, (err) => { if (err !== null) reject(err); });
    call.on('status', (s: grpc.StatusObject) => resolve(s.metadata));
  });
  assert.deepEqual(trailers.get('x-after'), ['text-trailer']);
  assert.deepEqual(trailers.get('x-after-bin'), [Buffer.from('binary-trailer')]);
});

test('an error status (trailers-only response) keeps its code, message and metadata', async () => {
  const err = await unaryError(client, { text: 'fail' });
  assert.ok(err !== null);
  assert.equal(err.code, grpc.status.NOT_FOUND);
  assert.equal(err.details, 'no such thing: ünïcødé');
  assert.deepEqual(err.metadata.get('x-detail'), ['plain']);
  assert.deepEqual(err.metadata.get('x-detail-bin'), [Buffer.from([0, 1, 2, 255])]);
});

test('a 90/10 canary of a gRPC service by subsets: 2,000 calls split within ±3%', { timeout: 60_000 }, async () => {
  const c = echoClient(`127.0.0.1:${m.port}`, 'canary');
  try {
    const counts = new Map<string, number>();
    for (let batch = 0; batch < 20; batch++) {
      const rs = await Promise.all(Array.from({ length: 100 }, () => unary(c, { text: 'x' })));
      for (const r of rs) counts.set(r.text, (counts.get(r.text) ?? 0) + 1);
    }
    const v1 = counts.get('v1:x') ?? 0;
    const v2 = counts.get('v2:x') ?? 0;
    assert.equal(v1 + v2, 2000);
    assert.ok(Math.abs(v2 / 2000 - 0.1) <= 0.03, `v2 got ${v2} of 2000`);
  } finally {
    c.close();
  }
});

test('100 calls in parallel on one client connection', async () => {
  const results = await Promise.all(Array.from({ length: 100 }, (_, i) => unary(client, { text: `n${i}`, seq: i })));
  results.forEach((r, i) => {
    assert.equal(r.text, `a:n${i}`);
    assert.equal(r.seq, i);
  });
});
