// meshlet's HTTP/1.1 listener with real clients and raw sockets, on an outbound and an inbound
// listener: requests it cannot frame are answered at once and their connection closed (no
// smuggled second request), valid traffic uWS used to drop is served (HTTP/1.0, pipelining,
// many headers, Expect, absolute-form, half-close), and slow heads time out with 408.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { serviceEntryYaml, startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { nginxInstalled, startNginxProxy } from '../helpers/nginx.js';
import { freePort } from '../helpers/ports.js';
import { httpUpstream, type Upstream } from '../helpers/upstream.js';

let app: Upstream;
let m: Meshlet;
let m10: Meshlet;
let inboundPort: number;
let outboundPort: number;
/** paths the upstream received, in order */
const seen: string[] = [];

const config = (inbound: number, outbound: number, appPort: number): string => `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: app}
spec:
  ingress:
  - port: {number: ${inbound}, protocol: HTTP, name: http-in}
    defaultEndpoint: 127.0.0.1:${appPort}
  egress:
  - port: {number: ${outbound}, protocol: HTTP}
    hosts: ["*/*"]
---
${serviceEntryYaml('echo', [{ port: appPort }])}`;

before(async () => {
  app = await httpUpstream((req, res) => {
    seen.push(req.url ?? '');
    let size = 0;
    req.on('data', (d: Buffer) => { size += d.length; });
    req.on('end', () => {
      // /delay/N answers after N ms: pipelined responses must still come back in order
      const delay = /^\/delay\/(\d+)/.exec(req.url ?? '');
      const body = JSON.stringify({ url: req.url, method: req.method, size, httpVersion: req.httpVersion, host: req.headers.host, headers: req.rawHeaders.length / 2 });
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      }, delay === null ? 0 : Number(delay[1]));
    });
  });
  inboundPort = await freePort();
  outboundPort = await freePort();
  m = await startMeshlet(config(inboundPort, outboundPort, app.port), { noSidecar: true, args: ['--request-headers-timeout', '1s'] });
  m10 = await startMeshlet(serviceEntryYaml('echo', [{ port: app.port }]), { args: ['--accept-http10'] });
});

after(async () => {
  await m?.stop();
  await m10?.stop();
  await app?.close();
});

interface Exchange {
  /** every byte the server sent until it closed (or the deadline) */
  text: string;
  /** true when the server closed the connection */
  closed: boolean;
  ms: number;
}

/** Writes `parts` on one connection and reads until the server closes it, or `deadlineMs` passes. */
async function exchange(port: number, parts: (string | Buffer)[], deadlineMs = 3000, halfClose = false): Promise<Exchange> {
  const t0 = performance.now();
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  for (const p of parts) socket.write(p);
  if (halfClose) socket.end();
  let text = '';
  socket.on('data', (d: Buffer) => { text += d.toString('latin1'); });
  const closed = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), deadlineMs);
    socket.once('close', () => { clearTimeout(timer); resolve(true); });
    socket.on('error', () => undefined);
  });
  socket.destroy();
  return { text, closed, ms: performance.now() - t0 };
}

function statuses(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((x) => Number(x[1]));
}

const listeners = (): [string, number][] => [['outbound', outboundPort], ['inbound', inboundPort]];

test('two Content-Length values: 400 and the connection closes; the body is never parsed as a second request', async () => {
  for (const [name, port] of listeners()) {
    const before = seen.length;
    const r = await exchange(port, ['POST /a HTTP/1.1\r\nHost: echo\r\nContent-Length: 0\r\nContent-Length: 37\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: echo\r\n\r\n']);
    assert.deepEqual(statuses(r.text), [400], `${name}: ${r.text}`);
    assert.match(r.text, /connection: close/i, name);
    assert.equal(r.closed, true, `${name}: closed`);
    assert.deepEqual(seen.slice(before), [], `${name}: nothing reached the app`);
  }
});

test('every framing error closes the connection after its status, also when a valid request follows', async () => {
  const next = 'GET /after HTTP/1.1\r\nHost: echo\r\n\r\n';
  const cases: [string, number][] = [
    ['POST / HTTP/1.1\r\nHost: echo\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: echo\r\nContent-Length: 1x\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: echo\r\nTransfer-Encoding: gzip\r\n\r\n', 501],
    ['GET / HTTP/1.1\r\nHost: echo\r\nHost: other\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nX-No-Host: 1\r\n\r\n', 400],
    ['POST /chunked HTTP/1.1\r\nHost: echo\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n', 400],
    ['POST /chunked HTTP/1.1\r\nHost: echo\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 400],
  ];
  for (const [name, port] of listeners()) {
    for (const [request, status] of cases) {
      const before = seen.length;
      const r = await exchange(port, [request + next]);
      assert.deepEqual(statuses(r.text), [status], `${name} ${JSON.stringify(request)}: ${r.text}`);
      assert.equal(r.closed, true, `${name} ${JSON.stringify(request)}: closed`);
      assert.ok(!seen.slice(before).includes('/after'), `${name} ${JSON.stringify(request)}: the request after it never reached the app`);
    }
  }
});

test('malformed heads are refused at once (400 and close), not held until a time-out', async () => {
  for (const bad of [
    'GET / HTTP/1.1\r\nHost: echo\r\nX-A: a\r\n b\r\n\r\n',
    'GET / HTTP/1.1\nHost: echo\n\n',
    'GET / HTTP/1.1\r\nHost: echo\r\nX-A: a\0b\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: echo\r\nX A: b\r\n\r\n',
    'GARBAGE\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: echo\r\nX-Inject: a\rInjected: 1\r\n\r\n',
  ]) {
    const before = seen.length;
    const r = await exchange(outboundPort, [bad], 2000);
    assert.deepEqual(statuses(r.text), [400], `${JSON.stringify(bad)}: ${r.text}`);
    assert.equal(r.closed, true, JSON.stringify(bad));
    assert.ok(r.ms < 1500, `${JSON.stringify(bad)} answered in ${r.ms.toFixed(0)} ms`);
    assert.equal(seen.length, before, 'nothing forwarded');
  }
});

test('many headers: 60 are forwarded, 101 → 431, a 70 KiB head → 431, each at once', async () => {
  const headers = (n: number, value = 'v'): string => Array.from({ length: n }, (_, i) => `x-h${i}: ${value}\r\n`).join('');
  const ok = await exchange(outboundPort, [`GET /many HTTP/1.1\r\nHost: echo\r\nConnection: close\r\n${headers(59)}\r\n`]);
  assert.deepEqual(statuses(ok.text), [200], ok.text);
  assert.match(ok.text, /"headers":6\d/, 'the app got all of them (plus what meshlet adds)');
  const tooMany = await exchange(outboundPort, [`GET / HTTP/1.1\r\nHost: echo\r\n${headers(100)}\r\n`]);
  assert.deepEqual(statuses(tooMany.text), [431], tooMany.text);
  assert.equal(tooMany.closed, true);
  const tooBig = await exchange(outboundPort, [`GET / HTTP/1.1\r\nHost: echo\r\n${headers(10, 'v'.repeat(7000))}\r\n`]);
  assert.deepEqual(statuses(tooBig.text), [431]);
  assert.equal(tooBig.closed, true);
});

test('pipelined requests in one write are answered in order on the same connection', async () => {
  const r = await exchange(outboundPort, [
    'GET /delay/60 HTTP/1.1\r\nHost: echo\r\n\r\nGET /delay/0 HTTP/1.1\r\nHost: echo\r\n\r\n' +
    'POST /delay/20 HTTP/1.1\r\nHost: echo\r\nContent-Length: 3\r\n\r\nabcGET /last HTTP/1.1\r\nHost: echo\r\nConnection: close\r\n\r\n',
  ]);
  assert.deepEqual(statuses(r.text), [200, 200, 200, 200], r.text);
  const urls = [...r.text.matchAll(/"url":"([^"]+)"/g)].map((x) => x[1]);
  assert.deepEqual(urls, ['/delay/60', '/delay/0', '/delay/20', '/last']);
  assert.match(r.text, /"method":"POST","size":3/);
  assert.equal(r.closed, true, 'closed after the request that asked for it');
});

test('HTTP/1.0: 426 by default (Istio\'s default), served with --accept-http10 (closing unless keep-alive)', async () => {
  const refused = await exchange(outboundPort, ['GET / HTTP/1.0\r\nHost: echo\r\n\r\n']);
  assert.deepEqual(statuses(refused.text), [426], refused.text);
  assert.equal(refused.closed, true);
  const served = await exchange(m10.port, ['GET /ten HTTP/1.0\r\nHost: echo\r\n\r\n']);
  assert.deepEqual(statuses(served.text), [200], served.text);
  assert.match(served.text, /connection: close/i);
  assert.match(served.text, /"httpVersion":"1.1"/, 'the upstream request is HTTP/1.1');
  assert.equal(served.closed, true);
  const kept = await exchange(m10.port, ['GET /a HTTP/1.0\r\nHost: echo\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\nHost: echo\r\n\r\n']);
  assert.deepEqual(statuses(kept.text), [200, 200], kept.text);
  assert.match(kept.text, /connection: keep-alive/i);
  assert.equal(kept.closed, true);
});

test('a stock nginx in front (proxy_http_version 1.0) gets 200 with --accept-http10, and 426 without', { skip: !nginxInstalled() && 'nginx is not installed' }, async () => {
  const served = await startNginxProxy(m10.port);
  const refused = await startNginxProxy(outboundPort);
  try {
    for (let i = 0; i < 3; i++) {
      const r = await exchange(served.port, [`GET /through-nginx/${i} HTTP/1.1\r\nHost: echo\r\nConnection: close\r\n\r\n`]);
      assert.deepEqual(statuses(r.text), [200], `${r.text}\n${served.output()}`);
      assert.match(r.text, new RegExp(`"url":"/through-nginx/${i}"`));
    }
    const r = await exchange(refused.port, ['GET / HTTP/1.1\r\nHost: echo\r\nConnection: close\r\n\r\n']);
    assert.deepEqual(statuses(r.text), [426], r.text);
  } finally {
    await served.stop();
    await refused.stop();
  }
});

test('Expect: 100-continue gets its interim response before the body is sent', async () => {
  const socket = net.connect(outboundPort, '127.0.0.1');
  await once(socket, 'connect');
  socket.write('PUT /upload HTTP/1.1\r\nHost: echo\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n');
  const [first] = await once(socket, 'data') as [Buffer];
  assert.equal(first.toString('latin1'), 'HTTP/1.1 100 Continue\r\n\r\n');
  socket.write('hello');
  let text = '';
  socket.on('data', (d: Buffer) => { text += d.toString('latin1'); });
  await once(socket, 'close');
  assert.deepEqual(statuses(text), [200]);
  assert.match(text, /"size":5/);
});

test('absolute-form targets (HTTP_PROXY clients) are routed by the URL\'s authority', async () => {
  const r = await exchange(outboundPort, ['GET http://echo/via-proxy?x=1 HTTP/1.1\r\nHost: ignored\r\nConnection: close\r\n\r\n']);
  assert.deepEqual(statuses(r.text), [200], r.text);
  assert.match(r.text, /"url":"\/via-proxy\?x=1"/);
  assert.match(r.text, /"host":"echo"/);
});

test('a client that half-closes after its request still gets the response', async () => {
  const r = await exchange(outboundPort, ['GET /half HTTP/1.1\r\nHost: echo\r\n\r\n'], 3000, true);
  assert.deepEqual(statuses(r.text), [200], r.text);
  assert.equal(r.closed, true);
});

test('a request head that stops arriving gets 408 after --request-headers-timeout and the connection closes', async () => {
  const r = await exchange(outboundPort, ['GET /slow HTTP/1.1\r\nHost: ec'], 5000);
  assert.deepEqual(statuses(r.text), [408], r.text);
  assert.equal(r.closed, true);
});
