// gRPC and the mesh's policies, through one sidecar with real grpc-js ends: replies meshlet makes
// itself are gRPC-shaped (HTTP 200 + grpc-status + x-meshlet-flags), retryOn gRPC conditions,
// outlier detection on gRPC statuses, fault abort.grpcStatus, the route timeout and grpc-timeout
// (the lower wins), connection pool overflow, and the gRPC labels and message counts in the stats.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { echoClient, echoHandlers, grpc, grpcServiceEntry, startGrpcServer, unary, unaryError, type EchoClient, type GrpcServer, type Msg } from '../helpers/grpc.js';
import { startMeshlet, type Meshlet } from '../helpers/meshlet.js';

let good: GrpcServer;
let other: GrpcServer;
let bad: GrpcServer;
let bad2: GrpcServer;
let slow: GrpcServer;
// an HTTP/2 upstream that holds every stream and ignores grpc-timeout (a grpc-js server enforces the
// forwarded deadline itself, and its own DEADLINE_EXCEEDED, passed through without UT, would race meshlet's)
let holding: http2.Http2Server;
const held: http2.ServerHttp2Stream[] = [];
let badCalls = 0;
let bad2Calls = 0;
let m: Meshlet;
const clients: EchoClient[] = [];

function client(authority: string): EchoClient {
  const c = echoClient(`127.0.0.1:${m.port}`, authority);
  clients.push(c);
  return c;
}

function failing(count: () => void): grpc.UntypedServiceImplementation {
  return {
    ...echoHandlers('bad'),
    Unary(_call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) {
      count();
      cb({ code: grpc.status.UNAVAILABLE, details: 'endpoint is failing' });
    },
  };
}

const vs = (host: string, rule: string): string => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${host}}
spec:
  hosts: [${host}]
  http:
  - ${rule.trim().replace(/\n/g, '\n    ')}
    route: [{destination: {host: ${host}}}]
---
`;
const dr = (host: string, policy: string): string => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${host}}
spec:
  host: ${host}
  trafficPolicy:
    ${policy.trim().replace(/\n/g, '\n    ')}
---
`;

before(async () => {
  good = await startGrpcServer(echoHandlers('good'));
  other = await startGrpcServer(echoHandlers('other'));
  bad = await startGrpcServer(failing(() => badCalls++));
  bad2 = await startGrpcServer(failing(() => bad2Calls++));
  slow = await startGrpcServer({
    ...echoHandlers('slow'),
    Unary(call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) {
      const t = setTimeout(() => cb(null, { text: 'late', payload: Buffer.alloc(0), seq: 0 }), Number(call.request.seq));
      call.on('cancelled', () => clearTimeout(t));
    },
  });
  holding = http2.createServer();
  holding.on('stream', (s) => { held.push(s); s.on('error', () => {}); });
  await new Promise<void>((resolve) => holding.listen(0, '127.0.0.1', resolve));
  const holdingPort = (holding.address() as { port: number }).port;
  const yaml = grpcServiceEntry('echo', [good.port])
    + grpcServiceEntry('flaky', [bad.port, good.port])
    + dr('flaky', 'loadBalancer: {simple: ROUND_ROBIN}')
    + grpcServiceEntry('flaky-noretry', [bad.port, good.port])
    + dr('flaky-noretry', 'loadBalancer: {simple: ROUND_ROBIN}')
    + vs('flaky-noretry', 'retries: {attempts: 0}')
    + grpcServiceEntry('ejecting', [bad2.port, other.port])
    + dr('ejecting', 'loadBalancer: {simple: ROUND_ROBIN}\noutlierDetection: {consecutive5xxErrors: 3, interval: 1s, baseEjectionTime: 60s, maxEjectionPercent: 100}')
    + vs('ejecting', 'retries: {attempts: 0}')
    + grpcServiceEntry('faulty', [good.port])
    + vs('faulty', 'fault: {abort: {grpcStatus: RESOURCE_EXHAUSTED, percentage: {value: 100}}}')
    + grpcServiceEntry('faulty-http', [good.port])
    + vs('faulty-http', 'fault: {abort: {httpStatus: 503, percentage: {value: 100}}}')
    + grpcServiceEntry('slow', [slow.port])
    + vs('slow', 'timeout: 300ms')
    + grpcServiceEntry('deadline', [holdingPort])
    + grpcServiceEntry('empty', [])
    + grpcServiceEntry('limited', [slow.port])
    + dr('limited', 'connectionPool: {http: {http2MaxRequests: 1, http1MaxPendingRequests: 1}}');
  m = await startMeshlet(yaml);
});

after(async () => {
  for (const c of clients) c.close();
  await m?.stop();
  await Promise.all([good, other, bad, bad2, slow].map((s) => s?.close()));
  for (const s of held) s.destroy();
  await new Promise<void>((resolve) => (holding === undefined ? resolve() : holding.close(() => resolve())));
});

function flags(err: grpc.ServiceError): string | undefined {
  return err.metadata.get('x-meshlet-flags')[0] as string | undefined;
}

test('meshlet\'s own replies are gRPC statuses: no route and no healthy upstream → UNAVAILABLE with the flag', async () => {
  const nr = await unaryError(client('nowhere'), { text: 'x' });
  assert.equal(nr?.code, grpc.status.UNAVAILABLE);
  assert.equal(nr && flags(nr), 'NR');
  assert.match(nr?.details ?? '', /no route/);
  const uh = await unaryError(client('empty'), { text: 'x' });
  assert.equal(uh?.code, grpc.status.UNAVAILABLE);
  assert.equal(uh && flags(uh), 'UH');
});

test('retryOn unavailable (Istio\'s default policy): a failing endpoint\'s UNAVAILABLE is retried on the other; without retries it reaches the client', async () => {
  const c = client('flaky');
  const before = badCalls;
  // one after another, and fewer than 10: retries stay within the worker's retry budget (at least 10 per second)
  for (let i = 0; i < 8; i++) assert.match((await unary(c, { text: `r${i}` }).catch((e: Error) => { throw new Error(`call ${i}: ${e.message}`); })).text, /^good:/);
  assert.ok(badCalls - before >= 3, `the failing endpoint was tried (${badCalls - before} times)`);
  const n = client('flaky-noretry');
  const errs = await Promise.all(Array.from({ length: 20 }, (_, i) => unaryError(n, { text: `n${i}` })));
  const failed = errs.filter((e) => e !== null);
  assert.ok(failed.length >= 5 && failed.length <= 15, `${failed.length} of 20 failed (round robin over one bad endpoint of two)`);
  for (const e of failed) {
    assert.equal(e?.code, grpc.status.UNAVAILABLE);
    assert.equal(e?.details, 'endpoint is failing'); // the server's own status, passed through
  }
});

test('outlier detection counts gRPC UNAVAILABLE as a 5xx: the failing endpoint is ejected', async () => {
  const c = client('ejecting');
  for (let i = 0; i < 12; i++) await unaryError(c, { text: `e${i}` });
  const calls = bad2Calls;
  assert.ok(calls >= 3, `the bad endpoint got ${calls} calls`);
  const after = await Promise.all(Array.from({ length: 20 }, (_, i) => unary(c, { text: `ok${i}` })));
  assert.ok(after.every((r) => r.text.startsWith('other:')));
  assert.equal(bad2Calls, calls, 'no call reached the ejected endpoint');
  const prom = await (await request(`http://127.0.0.1:${m.adminPort}/stats/prometheus`)).body.text();
  assert.match(prom, /^meshlet_outlier_ejections_total\{cluster="outbound\|80\|\|ejecting[^"]*"\} 1$/m);
});

test('fault abort.grpcStatus answers with that status (FI); an httpStatus abort becomes its gRPC equivalent', async () => {
  const f = await unaryError(client('faulty'), { text: 'x' });
  assert.equal(f?.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.equal(f && flags(f), 'FI');
  const h = await unaryError(client('faulty-http'), { text: 'x' });
  assert.equal(h?.code, grpc.status.UNAVAILABLE);
  assert.equal(h && flags(h), 'FI');
});

test('the route timeout answers DEADLINE_EXCEEDED (UT); grpc-timeout shorter than the route\'s wins', async () => {
  const t0 = performance.now();
  const e = await unaryError(client('slow'), { text: 'x', seq: 3000 });
  assert.equal(e?.code, grpc.status.DEADLINE_EXCEEDED);
  assert.equal(e && flags(e), 'UT');
  assert.ok(performance.now() - t0 < 2500);
  // a raw HTTP/2 gRPC request with grpc-timeout: 200m and no route timeout: meshlet ends it, not the client
  const session = http2.connect(`http://127.0.0.1:${m.port}`);
  try {
    const started = performance.now();
    const got = await new Promise<{ status: number; headers: http2.IncomingHttpHeaders }>((resolve, reject) => {
      const req = session.request({
        ':method': 'POST', ':path': '/meshlet.test.Echo/Unary', ':authority': 'deadline', 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '200m',
      });
      req.on('response', (h) => resolve({ status: Number(h[':status']), headers: h }));
      req.on('error', reject);
      // Msg{seq: 5000}: field 3 varint
      const msg = Buffer.from([0x18, 0x88, 0x27]);
      req.end(Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length]), msg]));
    });
    const took = performance.now() - started;
    assert.equal(got.status, 200);
    assert.equal(got.headers['grpc-status'], '4');
    assert.equal(got.headers['x-meshlet-flags'], 'UT');
    assert.ok(took >= 190 && took < 2000, `${took} ms`);
    // and the upstream's stream is cancelled, not left open
    const upstream = held.at(-1) as http2.ServerHttp2Stream;
    assert.equal(upstream.headersSent, false);
    if (!upstream.closed) await new Promise((resolve) => upstream.once('close', resolve));
    assert.equal(upstream.rstCode, http2.constants.NGHTTP2_CANCEL);
  } finally {
    session.close();
  }
});

test('connection pool limits: beyond http2MaxRequests + pending, calls get UNAVAILABLE with UO', async () => {
  const c = client('limited');
  const errs = await Promise.all(Array.from({ length: 6 }, () => unaryError(c, { text: 'x', seq: 300 })));
  const overflow = errs.filter((e) => e !== null);
  assert.ok(overflow.length >= 3, `${overflow.length} of 6 overflowed`);
  for (const e of overflow) {
    assert.equal(e?.code, grpc.status.UNAVAILABLE);
    assert.equal(e && flags(e), 'UO');
  }
});

test('stats: request_protocol="grpc", grpc_response_status by status, message counts of a server stream', async () => {
  const c = client('echo');
  await unary(c, { text: 'counted' });
  await unaryError(client('nowhere'), { text: 'x' });
  await unaryError(client('faulty'), { text: 'x' });
  const stream = c.ServerStream({ count: 25, size: 10 });
  let got = 0;
  for await (const _ of stream) got++;
  assert.equal(got, 25);
  const prom = await (await request(`http://127.0.0.1:${m.adminPort}/stats/prometheus`)).body.text();
  const value = (metric: string, service: string, grpcStatus: string): number => {
    const line = prom.split('\n').find((l) => l.startsWith(`${metric}{`) && l.includes(`destination_service="${service}`) && l.includes(`grpc_response_status="${grpcStatus}"`));
    return line === undefined ? -1 : Number(line.split(' ').at(-1));
  };
  assert.ok(value('istio_requests_total', 'echo', '0') >= 2);
  assert.ok(prom.includes('request_protocol="grpc"'));
  assert.ok(value('istio_requests_total', 'faulty', '8') >= 1);
  // no route: no destination service, the local reply's status
  assert.ok(value('istio_requests_total', 'unknown', '14') >= 1);
  // one unary (1 + 1) and one stream (1 request, 25 responses) at least
  assert.ok(value('istio_request_messages_total', 'echo', '0') >= 2);
  assert.ok(value('istio_response_messages_total', 'echo', '0') >= 26);
});
