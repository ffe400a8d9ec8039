// WebSockets through meshlet's HTTP listener, with the `ws` package on both ends: the upgrade is
// routed like any request (path and header matches, weighted split per connection, fault abort,
// header operations), then messages of every kind pass both ways (text, binary, fragments,
// ping/pong, close codes, a negotiated subprotocol and permessage-deflate); backpressure both ways
// keeps meshlet's memory bounded; the route timeout does not cut an upgraded connection, the idle timeout
// does; bad handshakes, an upstream answering 200 and a refusing upstream get clear, counted
// answers; the 101 is in istio_requests_total and the connection in istio_tcp_*.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, test } from 'node:test';
import type WebSocket from 'ws';
import { startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { freePort } from '../helpers/ports.js';
import { rssBytes } from '../helpers/proc.js';
import { rawRequest } from '../helpers/raw.js';
import { metricValue, waitForMetrics } from '../helpers/tcp.js';
import { closed, nextMessage, openWs, roundTrip, wsEchoServer, type WsServer } from '../helpers/ws.js';

let m: Meshlet;
let a: WsServer;
let b: WsServer;
let c: WsServer;
let idle: WsServer;
let plain: http.Server;
let port: number;

function entry(host: string, endpoints: { port: number; labels?: Record<string, string> }[]): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${host.replace(/\./g, '-')}}
spec:
  hosts: [${host}]
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints:
${endpoints.map((e) => `  - {address: 127.0.0.1, ports: {http: ${e.port}}, labels: ${JSON.stringify(e.labels ?? {})}}`).join('\n')}
---
`;
}

before(async () => {
  const pick = { handleProtocols: (offered: Set<string>) => (offered.has('b') ? 'b' : false), perMessageDeflate: true };
  a = await wsEchoServer('a', pick);
  b = await wsEchoServer('b');
  c = await wsEchoServer('c');
  idle = await wsEchoServer('idle');
  plain = http.createServer((req, res) => { req.resume(); res.end('plain'); });
  await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
  port = await freePort();
  m = await startMeshlet(entry('chat.test', [{ port: a.port, labels: { version: 'v1' } }, { port: b.port, labels: { version: 'v2' } }])
    + entry('other.test', [{ port: c.port }])
    + entry('idle.test', [{ port: idle.port }])
    + entry('plain.test', [{ port: (plain.address() as net.AddressInfo).port }])
    + entry('refused.test', [{ port: await freePort() }])
    + `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: chat}
spec:
  host: chat.test
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: idle}
spec:
  host: idle.test
  trafficPolicy: {connectionPool: {tcp: {idleTimeout: 1s}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: chat}
spec:
  hosts: [chat.test]
  http:
  - match: [{uri: {prefix: /fault}}]
    fault: {abort: {httpStatus: 503, percentage: {value: 100}}}
    route: [{destination: {host: chat.test, subset: v1}}]
  - match: [{headers: {x-room: {exact: special}}}]
    route: [{destination: {host: other.test}}]
  - match: [{uri: {prefix: /split}}]
    route:
    - {destination: {host: chat.test, subset: v1}, weight: 50}
    - {destination: {host: chat.test, subset: v2}, weight: 50}
  - match: [{uri: {prefix: /slow}}]
    timeout: 500ms
    route: [{destination: {host: chat.test, subset: v1}}]
  - route: [{destination: {host: chat.test, subset: v1}}]
    headers:
      request: {set: {x-mesh: "yes"}}
      response: {add: {x-meshed: "1"}}
`, { port, workers: 2 });
});

after(async () => {
  await m?.stop();
  await Promise.all([a, b, c, idle].map((s) => s?.close()));
  plain?.close();
});

test('messages pass both ways: text, binary, fragments, ping/pong, close codes; subprotocol and permessage-deflate are the upstream\'s choice; header operations apply', async () => {
  const r = await openWs(port, 'chat.test', '/room?x=1', { perMessageDeflate: true }, ['a', 'b']);
  const ws = r.ws as WebSocket;
  assert.equal(ws.protocol, 'b');
  assert.match(ws.extensions, /permessage-deflate/);
  assert.equal(r.headers['x-meshed'], '1', 'response header operation on the 101');
  assert.equal(a.requests.at(-1)?.headers['x-mesh'], 'yes', 'request header operation on the upgrade request');
  assert.equal(a.requests.at(-1)?.url, '/room?x=1');
  assert.equal(await roundTrip(ws, 'who'), 'a');
  assert.equal(await roundTrip(ws, 'héllo, wörld'), 'héllo, wörld');
  const blob = Buffer.alloc(200_000);
  for (let i = 0; i < blob.length; i++) blob[i] = (i * 7919) & 255;
  const echoed = nextMessage(ws);
  ws.send(blob);
  const got = await echoed;
  assert.equal(got.binary, true);
  assert.ok(got.data.equals(blob));
  const whole = nextMessage(ws);
  ws.send('frag-1 ', { fin: false });
  ws.send('frag-2 ', { fin: false });
  ws.send('frag-3', { fin: true });
  assert.equal((await whole).data.toString(), 'frag-1 frag-2 frag-3');
  const pong = new Promise<Buffer>((resolve) => ws.once('pong', resolve));
  ws.ping('are you there');
  assert.equal((await pong).toString(), 'are you there');
  const server = [...a.wss.clients].at(-1) as WebSocket;
  const serverSaw = new Promise<number>((resolve) => server.once('close', resolve));
  const done = closed(ws);
  ws.close(4001, 'bye now');
  assert.deepEqual(await done, [4001, 'bye now']);
  assert.equal(await serverSaw, 4001);
});

test('routing: a header match picks another upstream; a weighted split decides per connection; a fault abort answers the upgrade', { timeout: 30_000 }, async () => {
  const special = (await openWs(port, 'chat.test', '/', { headers: { 'x-room': 'special' } })).ws as WebSocket;
  assert.equal(await roundTrip(special, 'who'), 'c');
  special.close();
  const seen: Record<string, number> = {};
  for (let i = 0; i < 100; i++) {
    const ws = (await openWs(port, 'chat.test', '/split')).ws as WebSocket;
    const who = await roundTrip(ws, 'who');
    seen[who] = (seen[who] ?? 0) + 1;
    ws.close();
  }
  assert.ok((seen.a ?? 0) >= 25 && (seen.b ?? 0) >= 25, JSON.stringify(seen));
  const fault = await openWs(port, 'chat.test', '/fault');
  assert.equal(fault.status, 503);
  assert.equal(fault.body, 'fault filter abort\n');
});

test('the route timeout (500 ms) does not cut an upgraded connection; the idle timeout (1 s) closes it with 1001', { timeout: 15_000 }, async () => {
  const ws = (await openWs(port, 'chat.test', '/slow')).ws as WebSocket;
  await new Promise((r) => setTimeout(r, 1200));
  assert.equal(await roundTrip(ws, 'still open'), 'still open');
  ws.close();
  const quiet = (await openWs(port, 'idle.test')).ws as WebSocket;
  const t0 = performance.now();
  const [code] = await closed(quiet);
  const ms = performance.now() - t0;
  assert.equal(code, 1001);
  assert.ok(ms >= 900 && ms < 4000, `closed after ${ms} ms`);
});

test('a slow reader slows the writer: meshlet holds a bounded amount while the upstream pushes 256 MiB, and every byte arrives', { timeout: 60_000 }, async () => {
  // (no permessage-deflate: 1 MiB of zeros would shrink to nothing)
  const ws = (await openWs(port, 'chat.test', '/', { perMessageDeflate: false })).ws as WebSocket;
  await roundTrip(ws, 'who');
  const server = [...a.wss.clients].at(-1) as WebSocket;
  ws.pause(); // the client stops reading its socket
  const rss0 = rssBytes(m.proc.pid as number);
  const mib = Buffer.alloc(1 << 20, 1);
  for (let i = 0; i < 256; i++) server.send(mib, { binary: true });
  // the upstream can hand its socket only what meshlet reads: it keeps most of it buffered
  const deadline = Date.now() + 20_000;
  while (server.bufferedAmount > 192 * (1 << 20) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(server.bufferedAmount > 100 * (1 << 20), `the upstream still holds ${server.bufferedAmount} bytes: meshlet stopped reading`);
  const grew = rssBytes(m.proc.pid as number) - rss0;
  assert.ok(grew < 64 * (1 << 20), `meshlet grew by ${grew} bytes`);
  let bytes = 0;
  const all = new Promise<void>((resolve) => {
    ws.on('message', (d: Buffer) => {
      bytes += d.length;
      if (bytes === 256 * (1 << 20)) resolve();
    });
  });
  ws.resume();
  await all;
  ws.close();
});

test('a slow upstream reader slows the client: meshlet holds a bounded amount while the client pushes 256 MiB, and every byte arrives', { timeout: 60_000 }, async () => {
  const ws = (await openWs(port, 'chat.test', '/', { perMessageDeflate: false, headers: { 'x-room': 'special' } })).ws as WebSocket;
  assert.equal(await roundTrip(ws, 'who'), 'c');
  const server = [...c.wss.clients].at(-1) as WebSocket;
  server.pause(); // the upstream stops reading its socket
  const rss0 = rssBytes(m.proc.pid as number);
  const mib = Buffer.alloc(1 << 20, 2);
  for (let i = 0; i < 256; i++) ws.send(mib, { binary: true });
  // the client can hand its socket only what meshlet reads: it keeps most of it buffered
  const deadline = Date.now() + 5000;
  while (ws.bufferedAmount > 192 * (1 << 20) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(ws.bufferedAmount > 100 * (1 << 20), `the client still holds ${ws.bufferedAmount} bytes: meshlet stopped reading`);
  const grew = rssBytes(m.proc.pid as number) - rss0;
  assert.ok(grew < 64 * (1 << 20), `meshlet grew by ${grew} bytes`);
  let bytes = 0;
  const all = new Promise<void>((resolve) => {
    ws.on('message', (d: Buffer) => {
      bytes += d.length;
      if (bytes === 256 * (1 << 20)) resolve();
    });
  });
  server.resume(); // (the upstream echoes: every byte comes back)
  await all;
  ws.close();
});

test('bad input: a bad Sec-WebSocket-Key (400), another version (426), an upstream answering 200, a refusing upstream (503 UF): counted, and the workers keep serving', async () => {
  const handshake = (key: string, version = '13', host = 'chat.test'): string =>
    `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: ${version}\r\n\r\n`;
  const bad = await rawRequest(port, handshake('not-base64-of-16-bytes'));
  assert.match(bad, /^HTTP\/1\.1 400 /);
  assert.match(bad, /x-meshlet-flags: DPE/);
  assert.match(bad, /Sec-WebSocket-Key is not the base64 of 16 bytes/);
  const version = await rawRequest(port, handshake('dGhlIHNhbXBsZSBub25jZQ==', '8'));
  assert.match(version, /^HTTP\/1\.1 426 /);
  assert.match(version, /sec-websocket-version: 13/);
  const ok = await openWs(port, 'plain.test');
  assert.equal(ok.status, 200);
  assert.equal(ok.body, 'plain');
  const refused = await openWs(port, 'refused.test');
  assert.equal(refused.status, 503);
  assert.match(String(refused.headers['x-meshlet-flags']), /UF/);
  const ws = (await openWs(port, 'chat.test')).ws as WebSocket;
  assert.equal(await roundTrip(ws, 'who'), 'a');
  ws.close();
  await waitForMetrics(m.adminPort, (t) => metricValue(t, 'istio_requests_total', 'response_code="400"', 'response_flags="DPE"') >= 1
    && metricValue(t, 'istio_requests_total', 'response_code="426"') >= 1
    && metricValue(t, 'istio_requests_total', 'destination_service="plain.test"', 'response_code="200"') === 1
    && metricValue(t, 'istio_requests_total', 'destination_service="refused.test"', 'response_code="503"', 'response_flags="UF"') === 1);
});

test('the upgrade is in istio_requests_total with 101; the connection in istio_tcp_* (websocket) with its bytes', async () => {
  const ws = (await openWs(port, 'other.test')).ws as WebSocket;
  assert.equal(await roundTrip(ws, 'who'), 'c');
  const done = closed(ws);
  ws.close(1000);
  await done;
  const labels = ['destination_service="other.test"', 'request_protocol="websocket"'];
  const text = await waitForMetrics(m.adminPort, (t) => metricValue(t, 'istio_tcp_connections_closed_total', ...labels) >= 1);
  assert.ok(metricValue(text, 'istio_requests_total', 'destination_service="other.test"', 'response_code="101"') >= 1);
  assert.ok(metricValue(text, 'istio_tcp_connections_opened_total', ...labels) >= 1);
  // client frames are masked: 'who' is 2 + 4 + 3 bytes, the close frame 2 + 4 + 2
  assert.ok(metricValue(text, 'istio_tcp_received_bytes_total', ...labels) >= 17);
  assert.ok(metricValue(text, 'istio_tcp_sent_bytes_total', ...labels) >= 3);
});
