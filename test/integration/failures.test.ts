// Upstream failures map to Envoy-style flags; header values with CR/LF/NUL are never written out.
import assert from 'node:assert/strict';
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
let echoHits = 0;
let m: Meshlet;

before(async () => {
  reset = await rawUpstream((socket) => socket.resetAndDestroy());
  badHeader = await rawUpstream((socket) => socket.end('HTTP/1.1 200 OK\r\nX-Bad: a\rb\r\nContent-Length: 2\r\n\r\nok'));
  nulHeader = await rawUpstream((socket) => socket.end('HTTP/1.1 200 OK\r\nX-Bad: a\0b\r\nContent-Length: 2\r\n\r\nok'));
  echo = await echoUpstream('echo');
  echo.server.on('request', () => { echoHits++; });
  const refused = await freePort();
  m = await startMeshlet(
    serviceEntryYaml('reset', [{ port: reset.port }]) +
    serviceEntryYaml('refused', [{ port: refused }]) +
    serviceEntryYaml('bad-header', [{ port: badHeader.port }]) +
    serviceEntryYaml('nul-header', [{ port: nulHeader.port }]) +
    serviceEntryYaml('echo', [{ port: echo.port }]),
  );
});

after(async () => {
  await m?.stop();
  await Promise.all([reset, badHeader, nulHeader, echo].map((u) => u?.close()));
});

test('upstream reset before the response → 502 UF', async () => {
  const r = await get(`${m.url}/`, 'reset');
  assert.equal(r.status, 502);
  assert.equal(r.headers['x-meshlet-flags'], 'UF');
});

test('connection refused → 502 UF, after Istio\'s default 2 retries on connect-failure (UF,URX)', async () => {
  const r = await get(`${m.url}/`, 'refused');
  assert.equal(r.status, 502);
  assert.equal(r.headers['x-meshlet-flags'], 'UF,URX');
});

test('upstream header value with CR or NUL → 502, never forwarded', async () => {
  for (const host of ['bad-header', 'nul-header']) {
    const r = await get(`${m.url}/`, host);
    assert.equal(r.status, 502, host);
    assert.equal(r.headers['x-bad'], undefined, host);
  }
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
