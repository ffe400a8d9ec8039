// One port, every way a connection can start: on a port whose protocol is not declared (Istio's
// protocol sniffing) and on a declared HTTP port, an h2c prior-knowledge client is served HTTP/2,
// an HTTP/1.1 client HTTP/1.1, a WebSocket upgrade becomes a WebSocket, and (undeclared port only)
// other bytes are proxied as TCP — all at once on one sidecar with two workers.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { WebSocketServer } from 'ws';
import { h2Request } from '../helpers/h2.js';
import { startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { freePort } from '../helpers/ports.js';
import { tcpExchange, tcpServer, type TcpServer } from '../helpers/tcp.js';
import { openWs, roundTrip } from '../helpers/ws.js';

let m: Meshlet;
let app: http.Server;
let wss: WebSocketServer;
let backend: TcpServer;
let sniffed: number;
let declared: number;

before(async () => {
  // the app: HTTP/1.1 (answers with its protocol version) and WebSocket echo; other bytes an echo with a prefix
  app = http.createServer((req, res) => { req.resume(); res.end(`http/${req.httpVersion} ${req.headers.host} ${req.url}`); });
  wss = new WebSocketServer({ noServer: true });
  wss.on('connection', (ws) => ws.on('message', (d, binary) => ws.send(d, { binary })));
  app.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req)));
  backend = await tcpServer((s) => {
    s.once('data', (first: Buffer) => {
      if (/^[A-Z]+ /.test(first.toString('latin1'))) {
        s.unshift(first);
        app.emit('connection', s);
        return;
      }
      s.write(`tcp:${first.toString()}`);
      s.on('data', (d: Buffer) => s.write(`tcp:${d.toString()}`));
      s.on('end', () => s.end());
    });
  });
  sniffed = await freePort();
  declared = await freePort();
  m = await startMeshlet(`apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: sniff}
spec:
  egress:
  - port: {number: ${sniffed}}
    hosts: ["*/*"]
  - port: {number: ${declared}, protocol: HTTP}
    hosts: ["*/*"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: svc}
spec:
  hosts: [svc.test]
  resolution: STATIC
  ports: [{number: ${sniffed}, name: web}, {number: ${declared}, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.0.1, ports: {web: ${backend.port}, http: ${backend.port}}}]
`, { noSidecar: true, workers: 2 });
});

after(async () => {
  await m?.stop();
  await backend?.close();
  wss?.close();
  app?.close();
});

for (const [label, port] of [['an undeclared (sniffed) port', () => sniffed], ['a declared HTTP port', () => declared]] as const) {
  test(`${label}: h2c, HTTP/1.1 and WebSocket clients at once, each served in its protocol`, async () => {
    const [h2, h1, ws] = await Promise.all([
      h2Request(port(), { ':path': '/h2', ':authority': 'svc.test' }, null),
      request(`http://127.0.0.1:${port()}/h1`, { headers: { host: 'svc.test' } }),
      openWs(port(), 'svc.test', '/ws'),
    ]);
    assert.equal(h2.status, 200);
    assert.equal(h2.body.toString(), 'http/1.1 svc.test /h2', 'served as HTTP/2, forwarded as HTTP/1.1');
    assert.equal(h1.statusCode, 200);
    assert.equal(await h1.body.text(), 'http/1.1 svc.test /h1');
    assert.ok(ws.ws !== null, `the upgrade was refused: ${ws.status} ${ws.body}`);
    assert.equal(await roundTrip(ws.ws, 'hello over ws'), 'hello over ws');
    ws.ws.close();
  });
}

test('an undeclared port proxies other bytes as TCP next to HTTP/2 connections; a declared HTTP port refuses them as HTTP', async () => {
  const [tcp, h2] = await Promise.all([
    tcpExchange(sniffed, 'hello tcp'),
    h2Request(sniffed, { ':path': '/alongside', ':authority': 'svc.test' }, null),
  ]);
  assert.equal(tcp.data.toString(), 'tcp:hello tcp');
  assert.equal(h2.status, 200);
  const refused = await tcpExchange(declared, 'hello tcp\r\n\r\n');
  assert.match(refused.data.toString('latin1'), /^HTTP\/1\.1 400 /);
});
