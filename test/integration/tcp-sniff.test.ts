// Ports whose protocol is not declared (no protocol, a name that is not <protocol>[-suffix], no
// ServiceEntry saying): each connection is HTTP when its first bytes are an HTTP request, else it is
// proxied as opaque TCP (Istio's protocol sniffing), outbound (to the ServiceEntry on that port) and
// inbound (to the app), and counted as such.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { freePort } from '../helpers/ports.js';
import { metricValue, tcpExchange, tcpServer, waitForMetrics, type TcpServer } from '../helpers/tcp.js';

let m: Meshlet;
let app: http.Server;
let raw: TcpServer;
let egress: number;
let ingress: number;

before(async () => {
  // one app port that speaks both: HTTP requests get "http", anything else an echo with a prefix
  raw = await tcpServer((s) => {
    s.once('data', (first: Buffer) => {
      if (first.toString('latin1').startsWith('GET ')) {
        s.unshift(first);
        app.emit('connection', s);
        return;
      }
      s.write(`tcp:${first.toString()}`);
      s.on('data', (d: Buffer) => s.write(`tcp:${d.toString()}`));
      s.on('end', () => s.end());
    });
  });
  app = http.createServer((req, res) => { req.resume(); res.end(`http ${req.headers.host}`); });
  egress = await freePort();
  ingress = await freePort();
  m = await startMeshlet(`apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: sniff}
spec:
  ingress:
  - port: {number: ${ingress}, name: app}
    defaultEndpoint: 127.0.0.1:${raw.port}
  egress:
  - port: {number: ${egress}}
    hosts: ["*/*"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: both}
spec:
  hosts: [both.test]
  resolution: STATIC
  ports: [{number: ${egress}, name: web}]
  endpoints: [{address: 127.0.0.1, ports: {web: ${raw.port}}}]
`, { noSidecar: true, workers: 2 });
});

after(async () => {
  await m?.stop();
  await raw?.close();
  app?.close();
});

test('outbound: an HTTP request is routed by its Host; other bytes are proxied as TCP to the service on the port', async () => {
  const res = await request(`http://127.0.0.1:${egress}/x`, { headers: { host: 'both.test' } });
  assert.equal(res.statusCode, 200);
  assert.equal(await res.body.text(), 'http both.test');
  const r = await tcpExchange(egress, '*1\r\n$4\r\nPING\r\n');
  assert.equal(r.data.toString(), 'tcp:*1\r\n$4\r\nPING\r\n');
  assert.ok(r.ended);
  await waitForMetrics(m.adminPort, (t) => metricValue(t, 'istio_tcp_connections_closed_total', 'reporter="source"', 'destination_service="both.test"') === 1
    && metricValue(t, 'istio_requests_total', 'reporter="source"', 'destination_service="both.test"', 'response_code="200"') === 1);
});

test('inbound: HTTP and TCP on one undeclared port, each to the app; a client speaking a little at a time is still told apart', async () => {
  const res = await request(`http://127.0.0.1:${ingress}/`, { headers: { host: 'anything' } });
  assert.equal(await res.body.text(), 'http anything');
  const s = net.connect(ingress, '127.0.0.1');
  await new Promise<void>((r) => s.once('connect', r));
  const got: string[] = [];
  const reply = new Promise<void>((resolve) => s.on('data', (d: Buffer) => { got.push(d.toString()); if (got.join('').includes('tcp:PO-box')) resolve(); }));
  s.write('PO'); // a prefix of POST: sniffing waits for more
  await new Promise((r) => setTimeout(r, 100));
  s.write('-box');
  await reply;
  s.destroy();
  assert.equal(got.join(''), 'tcp:PO-box');
});
