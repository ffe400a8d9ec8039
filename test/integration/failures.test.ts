// Upstream failures map to Envoy-style flags; header values with CR/LF/NUL are never written out.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { serviceEntryYaml, startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { get } from '../helpers/http.js';
import { freePort } from '../helpers/ports.js';
import { echoUpstream, rawUpstream, type Upstream } from '../helpers/upstream.js';
import { rawRequest } from '../helpers/raw.js';

let reset: Upstream;
let badHeader: Upstream;
let nulHeader: Upstream;
let echo: Upstream;
let bareLf: Upstream;
let bareLfLater: Upstream;
let echoHits = 0;
let m: Meshlet;
let refusedPort = 0;

/** A DNS ServiceEntry whose one endpoint is a name that never resolves (.invalid, RFC 6761). */
function dnsServiceEntry(host: string, address: string): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${host}}
spec:
  hosts: [${host}]
  resolution: DNS
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints: [{address: ${address}, ports: {http: 80}}]
---
`;
}

before(async () => {
  reset = await rawUpstream((socket) => socket.resetAndDestroy());
  badHeader = await rawUpstream((socket) => socket.end('HTTP/1.1 200 OK\r\nX-Bad: a\rb\r\nContent-Length: 2\r\n\r\nok'));
  nulHeader = await rawUpstream((socket) => socket.end('HTTP/1.1 200 OK\r\nX-Bad: a\0b\r\nContent-Length: 2\r\n\r\nok'));
  echo = await echoUpstream('echo');
  const chunked = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
  bareLf = await rawUpstream((socket) => socket.write(`${chunked}5\nhello\r\n0\r\n\r\n`));
  bareLfLater = await rawUpstream((socket) => {
    socket.write(`${chunked}5\r\nhello\r\n`);
    setTimeout(() => socket.write('5\nworld\r\n0\r\n\r\n'), 50); // after the head and first chunk went to the client
  });
  echo.server.on('request', () => { echoHits++; });
  refusedPort = await freePort();
  m = await startMeshlet(
    serviceEntryYaml('reset', [{ port: reset.port }]) +
    serviceEntryYaml('refused', [{ port: refusedPort }]) +
    dnsServiceEntry('unresolvable', 'nowhere.invalid') +
    serviceEntryYaml('bad-header', [{ port: badHeader.port }]) +
    serviceEntryYaml('nul-header', [{ port: nulHeader.port }]) +
    serviceEntryYaml('echo', [{ port: echo.port }]) +
    serviceEntryYaml('bare-lf', [{ port: bareLf.port }]) +
    serviceEntryYaml('bare-lf-later', [{ port: bareLfLater.port }]),
  );
});

after(async () => {
  await m?.stop();
  await Promise.all([reset, badHeader, nulHeader, echo, bareLf, bareLfLater].map((u) => u?.close()));
});

test('upstream reset after the request, before the response → 503 UC with Envoy\'s body', async () => {
  const r = await get(`${m.url}/`, 'reset');
  assert.equal(r.status, 503);
  assert.equal(r.headers['x-meshlet-flags'], 'UC');
  assert.equal(r.body, 'upstream connect error or disconnect/reset before headers. reset reason: connection termination');
});

test('connection refused → 503 UF after Istio\'s default 2 retries on connect-failure (UF,URX); the body names no address', async () => {
  const r = await get(`${m.url}/`, 'refused');
  assert.equal(r.status, 503);
  assert.equal(r.headers['x-meshlet-flags'], 'UF,URX');
  assert.equal(r.body, 'upstream connect error or disconnect/reset before headers. retried and the latest reset reason: '
    + 'remote connection failure, transport failure reason: delayed connect error: Connection refused');
  assert.ok(!r.body.includes('127.0.0.1') && !r.body.includes(String(refusedPort)), r.body);
});

test('a DNS name that does not resolve → 503 UF; the body does not echo the name', async () => {
  const r = await get(`${m.url}/`, 'unresolvable');
  assert.equal(r.status, 503);
  assert.match(String(r.headers['x-meshlet-flags']), /^UF/);
  assert.ok(!r.body.includes('nowhere.invalid'), r.body);
  assert.match(r.body, /^upstream connect error or disconnect\/reset before headers\. (retried and the latest )?reset reason: remote connection failure$/);
});

test('upstream header value with CR or NUL → 502, never forwarded', async () => {
  for (const host of ['bad-header', 'nul-header']) {
    const r = await get(`${m.url}/`, host);
    assert.equal(r.status, 502, host);
    assert.equal(r.headers['x-bad'], undefined, host);
  }
});

test('an upstream chunk-size line ended by a bare LF is refused: 502 UPE before the response started, the client connection closed after', async () => {
  const before = await raw('GET / HTTP/1.1\r\nHost: bare-lf\r\n\r\n');
  assert.match(before, /^HTTP\/1\.1 502 [^]*x-meshlet-flags: UPE[^]*invalid chunk size/i);
  assert.ok(!before.includes('hello'), 'no byte of the bad body was forwarded');
  // the response had started: the client connection is closed, the body left unterminated
  const socket = net.connect(m.port, '127.0.0.1');
  let after = '';
  socket.on('data', (d: Buffer) => { after += d.toString('latin1'); });
  socket.write('GET / HTTP/1.1\r\nHost: bare-lf-later\r\n\r\n');
  await once(socket, 'close');
  assert.match(after, /^HTTP\/1\.1 200 /);
  assert.ok(after.includes('hello') && !after.includes('world') && !after.endsWith('0\r\n\r\n'), JSON.stringify(after));
});

function raw(text: string): Promise<string> {
  return rawRequest(m.port, text);
}

test('request header values with NUL, CR or LF are answered 400 or dropped, never forwarded', async () => {
  const before = echoHits;
  for (const bad of ['a\0b', 'a\rInjected: 1', 'a\nInjected: 1']) {
    const answer = await raw(`GET / HTTP/1.1\r\nHost: echo\r\nX-Inject: ${bad}\r\nConnection: close\r\n\r\n`);
    assert.match(answer, /^HTTP\/1\.1 400 /, `answer to ${JSON.stringify(bad)}`);
  }
  assert.equal(echoHits, before, 'nothing was forwarded');
  const ok = await raw('GET / HTTP/1.1\r\nHost: echo\r\nConnection: close\r\n\r\n');
  assert.match(ok, /^HTTP\/1\.1 200 /, 'the same request without the injection is forwarded');
});

test('a Content-Length that is not a number → 400 DPE', async () => {
  const r = await raw('POST / HTTP/1.1\r\nHost: echo\r\nContent-Length: 1x\r\nConnection: close\r\n\r\n');
  assert.match(r, /^HTTP\/1\.1 400 [^]*x-meshlet-flags: DPE/i);
});

test('both Content-Length and Transfer-Encoding → 400', async () => {
  const r = await raw('POST / HTTP/1.1\r\nHost: echo\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n');
  assert.match(r, /^HTTP\/1\.1 400 /);
});
