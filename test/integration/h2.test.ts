// HTTP/2 on meshlet's listeners and to upstreams: an HTTP port serves h2c with prior knowledge
// (nghttp, Node's client), requests cross h2 ↔ h1 both ways with headers, bodies and trailers
// intact, h2UpgradePolicy: UPGRADE sends an HTTP/1.1 client's requests over HTTP/2 (the mesh
// default DO_NOT_UPGRADE keeps HTTP/1.1), useClientProtocol keeps each client's protocol, and
// requests meshlet cannot forward are refused on their stream.
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import http2 from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { startMeshlet, serviceEntryYaml, type Meshlet } from '../helpers/meshlet.js';
import { nghttp, nghttpHeaders, nghttpInstalled, NGHTTP_MISSING, run } from '../helpers/nghttp.js';
import { echoUpstream, httpUpstream, type Upstream } from '../helpers/upstream.js';
import { dualProtocolUpstream, h2Request, startH2Upstream, type H2Upstream } from '../helpers/h2.js';

let h1: Upstream;
let ra: Upstream;
let rb: Upstream;
let shadow: Upstream;
let shadowReady: () => void = () => undefined;
let shadowSeen: Promise<{ url: string; body: string }>;
let trailing: Upstream;
let h2up: H2Upstream;
let dual: { port: number; close(): Promise<void> };
let m: Meshlet;

before(async () => {
  h1 = await echoUpstream('h1');
  ra = await echoUpstream('ra');
  rb = await echoUpstream('rb');
  shadowSeen = new Promise((resolve) => {
    void httpUpstream((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => { body += d.toString(); });
      req.on('end', () => {
        res.end();
        resolve({ url: String(req.url), body });
      });
    }).then((u) => { shadow = u; shadowReady(); });
  });
  await new Promise<void>((r) => { shadowReady = r; });
  trailing = await httpUpstream((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum, x-count' });
    res.write('body');
    res.addTrailers({ 'x-checksum': 'abc123', 'x-count': '4' });
    res.end();
  });
  h2up = await startH2Upstream('h2');
  dual = await dualProtocolUpstream();
  const se = (name: string, port: number, portName: string, protocol: string): string => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}}
spec:
  hosts: [${name}]
  resolution: STATIC
  ports: [{number: 80, name: ${portName}${protocol === '' ? '' : `, protocol: ${protocol}`}}]
  endpoints: [{address: 127.0.0.1, ports: {${portName}: ${port}}}]
---
`;
  const yaml = serviceEntryYaml('plain', [{ port: h1.port }]) + serviceEntryYaml('trailing', [{ port: trailing.port }])
    + serviceEntryYaml('routed', [{ port: ra.port, labels: { v: 'a' } }, { port: rb.port, labels: { v: 'b' } }])
    + serviceEntryYaml('shadow', [{ port: shadow.port }])
    + `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: routed}
spec:
  host: routed
  subsets: [{name: a, labels: {v: a}}, {name: b, labels: {v: b}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: routed}
spec:
  hosts: [routed]
  http:
  - match: [{headers: {x-pick: {exact: b}}}]
    route: [{destination: {host: routed, subset: b}}]
  - match: [{uri: {prefix: /post}, method: {exact: POST}}]
    route: [{destination: {host: routed, subset: b}}]
    mirror: {host: shadow}
    mirrorPercentage: {value: 100}
  - route: [{destination: {host: routed, subset: a}}]
---
`
    // HTTP2 by the port name's prefix (Istio's protocol selection), no protocol field
    + se('named', h2up.port, 'http2-web', '')
    // an HTTP port whose DestinationRule upgrades it
    + se('upgraded', h2up.port, 'http', 'HTTP')
    + `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: upgraded}
spec:
  host: upgraded
  trafficPolicy: {connectionPool: {http: {h2UpgradePolicy: UPGRADE}}}
---
`
    // the same h2-only server behind an HTTP port without a DestinationRule: HTTP/1.1 is sent (and fails)
    + se('not-upgraded', h2up.port, 'http', 'HTTP')
    + se('client-proto', dual.port, 'http', 'HTTP')
    + `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: client-proto}
spec:
  host: client-proto
  trafficPolicy: {connectionPool: {http: {useClientProtocol: true, h2UpgradePolicy: UPGRADE}}}
---
`;
  m = await startMeshlet(yaml);
});

after(async () => {
  await m?.stop();
  await h1?.close();
  await Promise.all([ra?.close(), rb?.close(), shadow?.close()]);
  await trailing?.close();
  await h2up?.close();
  await dual?.close();
});

test('an HTTP port serves h2c with prior knowledge: nghttp reaches an HTTP/1.1 upstream, :authority routes', { skip: nghttpInstalled() ? false : NGHTTP_MISSING }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshlet-h2-'));
  const file = path.join(dir, 'body');
  writeFileSync(file, Buffer.alloc(100_000, 97));
  const r = await nghttp(`http://127.0.0.1:${m.port}/echo?q=1`, 'plain', ['-d', file, '-H', 'x-custom: yes']);
  assert.equal(r.code, 0, r.stderr);
  const h = nghttpHeaders(r.stdout);
  assert.deepEqual(h[':status'], ['200']);
  assert.deepEqual(h['x-upstream'], ['h1']);
  const quiet = await nghttp(`http://127.0.0.1:${m.port}/echo?q=1`, 'plain', ['-d', file, '-H', 'x-custom: yes'], false);
  const body = JSON.parse(quiet.stdout) as { url: string; method: string; bodySize: number; headers: Record<string, string> };
  assert.equal(body.url, '/echo?q=1');
  assert.equal(body.method, 'POST');
  assert.equal(body.bodySize, 100_000);
  assert.equal(body.headers.host, 'plain');
  assert.equal(body.headers['x-custom'], 'yes');
  assert.ok(body.headers['x-request-id']);
  // no route: the NR reply over HTTP/2
  const nr = await nghttp(`http://127.0.0.1:${m.port}/`, 'nowhere');
  assert.deepEqual(nghttpHeaders(nr.stdout)[':status'], ['404']);
  assert.deepEqual(nghttpHeaders(nr.stdout)['x-meshlet-flags'], ['NR']);
});

test('HTTP/2 requests route by :authority, :path, method and headers, and are mirrored', async () => {
  const session = http2.connect(`http://127.0.0.1:${m.port}`);
  try {
    const name = async (h: http2.OutgoingHttpHeaders, body: Buffer | null = null): Promise<string> => {
      const r = await h2Request(m.port, { ':method': 'GET', ':authority': 'routed', ...h }, body, session);
      assert.equal(r.status, 200);
      return String(r.headers['x-upstream']);
    };
    assert.equal(await name({ ':path': '/x' }), 'ra');
    assert.equal(await name({ ':path': '/x', 'x-pick': 'b' }), 'rb');
    assert.equal(await name({ ':path': '/post/1', ':method': 'POST' }, Buffer.from('mirrored body')), 'rb');
    assert.equal(await name({ ':path': '/post/1' }), 'ra', 'GET does not match the POST rule');
    const mirrored = await shadowSeen;
    assert.equal(mirrored.url, '/post/1');
    assert.equal(mirrored.body, 'mirrored body');
  } finally {
    session.close();
  }
});

test('h2 client → HTTP2 endpoint (port named http2-*): headers, body and trailers pass; cookies are joined for HTTP/1.1 only', async () => {
  const r = await h2Request(m.port, {
    ':method': 'POST', ':path': '/p?x=1', ':authority': 'named', 'te': 'trailers', cookie: ['a=1', 'b=2'], 'x-custom': 'v',
  }, Buffer.alloc(70_000, 98));
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-upstream'], 'h2');
  const seen = JSON.parse(r.body.toString()) as { path: string; authority: string; bytes: number; headers: Record<string, string>; version: string };
  assert.equal(seen.version, '2.0');
  assert.equal(seen.path, '/p?x=1');
  assert.equal(seen.authority, 'named');
  assert.equal(seen.bytes, 70_000);
  assert.equal(seen.headers['x-custom'], 'v');
  assert.equal(seen.headers.te, 'trailers');
  assert.equal(seen.headers.cookie, 'a=1; b=2');
  assert.deepEqual(r.trailers, { 'x-trailer': 'end', 'x-count': '70000' });
  const nghttpOut = nghttpInstalled() ? await nghttp(`http://127.0.0.1:${m.port}/t`, 'named', ['-H', 'te: trailers']) : null;
  if (nghttpOut !== null) assert.deepEqual(nghttpHeaders(nghttpOut.stdout)['x-trailer'], ['end']);
});

test('h2 client → HTTP/1.1 endpoint sending chunked trailers: the client gets them as HTTP/2 trailers', async () => {
  const r = await h2Request(m.port, { ':method': 'GET', ':path': '/', ':authority': 'trailing', te: 'trailers' }, null);
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'body');
  assert.deepEqual(r.trailers, { 'x-checksum': 'abc123', 'x-count': '4' });
});

test('h2UpgradePolicy: UPGRADE sends an HTTP/1.1 client to the endpoint over HTTP/2, trailers become chunked trailers', async () => {
  const res = await request(`http://127.0.0.1:${m.port}/up`, { method: 'PUT', headers: { host: 'upgraded', te: 'trailers' }, body: 'x'.repeat(1000) });
  const text = await res.body.text();
  assert.equal(res.statusCode, 200, text);
  const seen = JSON.parse(text) as { version: string; bytes: number; authority: string };
  assert.equal(seen.version, '2.0');
  assert.equal(seen.bytes, 1000);
  assert.equal(seen.authority, 'upgraded');
  assert.equal(res.headers['transfer-encoding'], 'chunked');
  const raw = await run('curl', ['-s', '--raw', '-H', 'host: upgraded', '-H', 'te: trailers', `http://127.0.0.1:${m.port}/raw`]);
  assert.match(raw.stdout, /\r\n0\r\nx-trailer: end\r\nx-count: 0\r\n\r\n$/);
});

test('useClientProtocol: each request reaches the endpoint in its client\'s protocol', async () => {
  const viaH1 = await request(`http://127.0.0.1:${m.port}/`, { headers: { host: 'client-proto' } });
  assert.equal(await viaH1.body.text(), '1.1');
  const viaH2 = await h2Request(m.port, { ':method': 'GET', ':path': '/', ':authority': 'client-proto' }, null);
  assert.equal(viaH2.body.toString(), '2.0');
});

test('DO_NOT_UPGRADE is the default: an HTTP port without the policy speaks HTTP/1.1 to the endpoint (an h2-only server fails it)', async () => {
  const res = await request(`http://127.0.0.1:${m.port}/up`, { headers: { host: 'not-upgraded' } });
  const text = await res.body.text();
  // the h2-only server answers an HTTP/1.1 request with a GOAWAY frame: not HTTP/1.1, so UPE
  assert.equal(res.statusCode, 502, text);
  assert.equal(res.headers['x-meshlet-flags'], 'UPE');
});

test('HTTP/2 requests meshlet cannot forward are refused on their stream only, and the connection lives on', async () => {
  const session = http2.connect(`http://127.0.0.1:${m.port}`);
  try {
    // CONNECT (no extended CONNECT): 501 on the stream
    const connect = await h2Request(m.port, { ':method': 'CONNECT', ':authority': 'plain:443' }, null, session);
    assert.equal(connect.status, 501);
    assert.match(connect.body.toString(), /CONNECT is not supported/);
    // a :path HTTP/2 forbids: nghttp2 resets the stream (PROTOCOL_ERROR) before meshlet sees it
    const bad = await h2Request(m.port, { ':method': 'GET', ':path': 'no-slash', ':authority': 'plain' }, null, session).then(() => null, (e: Error) => e);
    assert.match(String(bad), /PROTOCOL_ERROR/);
    const ok = await h2Request(m.port, { ':method': 'GET', ':path': '/fine', ':authority': 'plain' }, null, session);
    assert.equal(ok.status, 200);
  } finally {
    session.close();
  }
});
