// HTTP/2 streams across config reloads and drain: a long gRPC stream keeps the generation it
// started with while a reload sends new calls elsewhere; on SIGTERM an inbound HTTP/2 connection
// gets GOAWAY at once, its stream in flight finishes within the drain timeout, and meshlet exits 0.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import { after, before, test } from 'node:test';
import { controlRequest } from '../../src/control/control-client.js';
import { defaultControlSocket } from '../../src/control/socket-path.js';
import { GrpcFrameCounter } from '../../src/request/grpc-frames.js';
import { echoClient, echoHandlers, grpc, startGrpcServer, unary, type GrpcServer, type Msg, type StreamRequest } from '../helpers/grpc.js';
import { sidecarYaml, startMeshlet } from '../helpers/meshlet.js';
import { freePort } from '../helpers/ports.js';

let v1: GrpcServer;
let v2: GrpcServer;

/** ServerStream sends `count` messages, one every 5 ms, each saying `name`. */
function paced(name: string): grpc.UntypedServiceImplementation {
  return {
    ...echoHandlers(name),
    ServerStream(call: grpc.ServerWritableStream<StreamRequest, Msg>) {
      let i = 0;
      const timer = setInterval(() => {
        if (i === call.request.count) {
          clearInterval(timer);
          call.end();
          return;
        }
        call.write({ text: name, payload: Buffer.alloc(0), seq: i++ });
      }, 5);
      call.on('cancelled', () => clearInterval(timer));
    },
  };
}

before(async () => {
  v1 = await startGrpcServer(paced('v1'));
  v2 = await startGrpcServer(paced('v2'));
});

after(async () => {
  await v1?.close();
  await v2?.close();
});

function config(port: number, subset: 'v1' | 'v2'): string {
  return `${sidecarYaml(port)}apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: echo}
spec:
  hosts: [echo]
  resolution: STATIC
  ports: [{number: 80, name: grpc, protocol: GRPC}]
  endpoints:
  - {address: 127.0.0.1, ports: {grpc: ${v1.port}}, labels: {version: v1}}
  - {address: 127.0.0.1, ports: {grpc: ${v2.port}}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo}
spec:
  host: echo
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo}
spec:
  hosts: [echo]
  http:
  - route: [{destination: {host: echo, subset: ${subset}}}]
`;
}

test('reload during a long stream: the stream finishes on its generation (v1), new calls take the new one (v2)', { timeout: 30_000 }, async () => {
  const port = await freePort();
  const m = await startMeshlet(config(port, 'v1'), { noSidecar: true, port, workers: 2 });
  const client = echoClient(`127.0.0.1:${port}`, 'echo');
  try {
    const stream = client.ServerStream({ count: 300, size: 0 });
    const from = new Map<string, number>();
    let n = 0;
    let reloaded: Promise<void> | null = null;
    for await (const msg of stream as AsyncIterable<Msg>) {
      from.set(msg.text, (from.get(msg.text) ?? 0) + 1);
      if (++n === 50) {
        reloaded = controlRequest(defaultControlSocket(m.adminPort), { op: 'apply', yaml: config(port, 'v2') }).then((r) => {
          assert.equal(r.ok, true, JSON.stringify(r));
        });
        await reloaded;
        // a new call on the same client connection goes by the new config
        assert.equal((await unary(client, { text: 'after' })).text, 'v2:after');
      }
    }
    assert.ok(reloaded !== null);
    assert.deepEqual([...from], [['v1', 300]]);
  } finally {
    client.close();
    await m.stop();
  }
});

test('drain: an inbound HTTP/2 connection gets GOAWAY at once; its stream in flight finishes; meshlet exits 0', { timeout: 30_000 }, async () => {
  const inbound = await freePort();
  const egress = await freePort();
  const yaml = `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: in}
spec:
  ingress:
  - port: {number: ${inbound}, protocol: GRPC, name: grpc-in}
    defaultEndpoint: 127.0.0.1:${v1.port}
  egress:
  - port: {number: ${egress}, protocol: HTTP}
    hosts: ["*/*"]
`;
  const m = await startMeshlet(yaml, { noSidecar: true, args: ['--drain-timeout', '10s'] });
  const session = http2.connect(`http://127.0.0.1:${inbound}`);
  try {
    const goaway = once(session, 'goaway');
    const req = session.request({ ':method': 'POST', ':path': '/meshlet.test.Echo/ServerStream', ':authority': 'echo', 'content-type': 'application/grpc', te: 'trailers' });
    const msg = Buffer.from([0x08, 0xac, 0x02]); // StreamRequest{count: 300}
    req.end(Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length]), msg]));
    const counter = new GrpcFrameCounter();
    let trailers: http2.IncomingHttpHeaders = {};
    req.on('trailers', (t) => { trailers = t; });
    const ended = new Promise<void>((resolve, reject) => { req.on('end', resolve); req.on('error', reject); });
    await new Promise<void>((resolve) => {
      req.on('data', (d: Buffer) => {
        counter.feed(d);
        if (counter.count >= 30) resolve();
      });
    });
    const exit = m.stop('SIGTERM');
    const [code] = await goaway;
    assert.equal(code, http2.constants.NGHTTP2_NO_ERROR);
    assert.ok(counter.count < 300, 'GOAWAY came while the stream was in flight');
    await ended;
    assert.equal(counter.count, 300);
    assert.equal(trailers['grpc-status'], '0');
    assert.equal(await exit, 0);
  } finally {
    session.destroy();
  }
});
