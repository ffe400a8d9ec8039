// gRPC through one sidecar (outbound listener → GRPC ServiceEntry port → grpc-js server over h2c):
// messages, response metadata and trailers pass unchanged (grpc-status, grpc-message, -bin),
// trailers-only error responses, and the replies meshlet makes itself are gRPC-shaped.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { echoClient, echoHandlers, grpc, grpcServiceEntry, startGrpcServer, unary, unaryError, type EchoClient, type GrpcServer, type Msg } from '../helpers/grpc.js';
import { startMeshlet, type Meshlet } from '../helpers/meshlet.js';

let server: GrpcServer;
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
  m = await startMeshlet(grpcServiceEntry('echo', [server.port]));
  client = echoClient(`127.0.0.1:${m.port}`, 'echo');
});

after(async () => {
  client?.close();
  await m?.stop();
  await server?.close();
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

test('100 calls in parallel on one client connection', async () => {
  const results = await Promise.all(Array.from({ length: 100 }, (_, i) => unary(client, { text: `n${i}`, seq: i })));
  results.forEach((r, i) => {
    assert.equal(r.text, `a:n${i}`);
    assert.equal(r.seq, i);
  });
});
