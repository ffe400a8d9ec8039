// gRPC calls in the access log and in traces, as HTTP/1.1 requests are: one line per call with
// protocol HTTP/2 and its grpc_status (from the trailers, a trailers-only answer, or meshlet's own
// reply), and a span per call whose W3C context reaches the app in the call's metadata.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startCollector, type Collector } from '../helpers/collector.js';
import { echoClient, echoHandlers, grpc, grpcServiceEntry, startGrpcServer, unary, unaryError, type EchoClient, type GrpcServer, type Msg } from '../helpers/grpc.js';
import { startMeshlet, type Meshlet } from '../helpers/meshlet.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN = '00f067aa0ba902b7';
let server: GrpcServer;
let collector: Collector;
let m: Meshlet;
let client: EchoClient;
let logFile: string;

before(async () => {
  collector = await startCollector();
  server = await startGrpcServer({
    ...echoHandlers('app'),
    Unary(call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) {
      if (call.request.text === 'missing') return cb({ code: grpc.status.NOT_FOUND, details: 'no such thing' });
      cb(null, { text: String(call.metadata.get('traceparent')[0] ?? ''), payload: Buffer.alloc(0), seq: 0 });
    },
  });
  logFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'meshlet-grpc-tel-')), 'access.log');
  m = await startMeshlet(grpcServiceEntry('echo', [server.port]), {
    args: ['--access-log', logFile, '--trace-otlp', collector.otlpUrl, '--trace-service-name', 'grpc-a', '--trace-sampling', '0', '--trace-batch-delay', '50ms'],
  });
  client = echoClient(`127.0.0.1:${m.port}`, 'echo');
});

after(async () => {
  client?.close();
  await m?.stop();
  await server?.close();
  await collector?.close();
});

test('a traced gRPC call: one span, its context in the app\'s metadata', async () => {
  const md = new grpc.Metadata();
  md.set('traceparent', `00-${TRACE}-${CLIENT_SPAN}-01`);
  const r = await unary(client, { text: 'traced' }, {}, md);
  const spans = await collector.waitFor((all) => all.some((s) => s.traceId === TRACE));
  const span = spans.find((s) => s.traceId === TRACE);
  assert.ok(span !== undefined);
  assert.equal(span.parentId, CLIENT_SPAN);
  assert.equal(span.attrs['http.method'], 'POST');
  assert.equal(span.attrs['url.path'], '/meshlet.test.Echo/Unary');
  assert.equal(span.attrs['http.status_code'], '200');
  assert.equal(r.text, `00-${TRACE}-${span.spanId}-01`, 'the app sees meshlet\'s span as its parent');
});

test('the access log has one HTTP/2 line per call with its grpc_status', async () => {
  await unary(client, { text: 'fine' });
  assert.equal((await unaryError(client, { text: 'missing' }))?.code, grpc.status.NOT_FOUND);
  const nobody = echoClient(`127.0.0.1:${m.port}`, 'nobody');
  assert.equal((await unaryError(nobody, { text: 'x' }))?.code, grpc.status.UNAVAILABLE);
  nobody.close();
  assert.equal(await m.stop(), 0);
  const lines = readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 4);
  assert.ok(lines.every((l) => l.protocol === 'HTTP/2' && l.method === 'POST' && l.response_code === 200), JSON.stringify(lines));
  assert.deepEqual(lines.map((l) => l.grpc_status as number).sort((a, b) => a - b), [0, 0, 5, 14]);
  const nr = lines.find((l) => l.grpc_status === 14);
  assert.equal(nr?.response_flags, 'NR');
  assert.equal(nr?.authority, 'nobody');
});
