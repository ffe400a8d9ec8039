// The request target as routing and authorization see it: paths arrive normalised as Istio's BASE
// does (encoded unreserved characters decoded, `.`/`..` resolved, `\` → `/`, fragment dropped,
// `%00` refused), the app receives that normalised path, and encodings cannot slip past an
// AuthorizationPolicy or a route; --path-normalization picks the other Istio modes. The Host header:
// two are refused, and `Connection: host` does not strip it. Raw sockets: no client library
// would send these.
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { runCli, serviceEntryYaml, startMeshlet, writeConfig, type Meshlet } from '../helpers/meshlet.js';
import { freePort } from '../helpers/ports.js';
import { rawRequest, readResponse } from '../helpers/raw.js';
import { echoUpstream, type Upstream } from '../helpers/upstream.js';

let app: Upstream;
let appHits = 0;
let m: Meshlet;
let decode: Meshlet;
/** inbound: DENY /admin*, /secret (any other path allowed) */
let denyPort: number;
/** inbound: only ALLOW /public/* */
let allowPort: number;

function config(deny: number, allow: number): string {
  return serviceEntryYaml('svc', [{ port: app.port }]) + `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: app}
spec:
  ingress:
  - port: {number: ${deny}, protocol: HTTP, name: http-deny}
    defaultEndpoint: 127.0.0.1:${app.port}
  - port: {number: ${allow}, protocol: HTTP, name: http-allow}
    defaultEndpoint: 127.0.0.1:${app.port}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin}
spec:
  action: DENY
  rules:
  - to: [{operation: {paths: ["/admin*", /secret]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow}
spec:
  action: ALLOW
  rules:
  - to: [{operation: {ports: ["${deny}"]}}]
  - to: [{operation: {ports: ["${allow}"], paths: [/public/*]}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc}
spec:
  hosts: [svc]
  http:
  - name: public
    match: [{uri: {prefix: /public/}}]
    route: [{destination: {host: svc}}]
  - name: other
    directResponse: {status: 418, body: {string: not public}}
---
`;
}

before(async () => {
  app = await echoUpstream('app');
  app.server.on('request', () => { appHits++; });
  denyPort = await freePort();
  allowPort = await freePort();
  m = await startMeshlet(config(denyPort, allowPort));
});

after(async () => {
  await decode?.stop();
  await m?.stop();
  await app?.close();
});

interface Reply { status: number; flags: string | null; body: string; raw: string }

function parse(raw: string): Reply {
  const end = raw.indexOf('\r\n\r\n');
  const head = end < 0 ? raw : raw.slice(0, end);
  return {
    status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0),
    flags: /\r\nx-meshlet-flags: *([^\r]*)/i.exec(head)?.[1] ?? null,
    body: end < 0 ? '' : raw.slice(end + 4),
    raw,
  };
}

async function send(port: number, target: string, headers = 'Host: svc\r\n'): Promise<Reply> {
  return parse(await rawRequest(port, Buffer.from(`GET ${target} HTTP/1.1\r\n${headers}Connection: close\r\n\r\n`, 'latin1')));
}

/** The URL (path and query) the app received, from the echo body. */
function appUrl(r: Reply): string {
  assert.equal(r.status, 200, r.raw.slice(0, 200));
  return (JSON.parse(r.body) as { url: string }).url;
}

// The bypasses: each reached the app (which decodes them to the denied path) before the fix.
const BYPASSES = [
  '/public/%2e%2e/admin', '/%2e/admin', '/public/.%2e/admin', String.raw`/public\..\admin`, '/%61dmin', '/adm%69n',
  '/%73ecret', '/secret#x', '/public/%2E%2E/%61dmin/users', '/x/../../admin', '/secret?a=1#frag',
];

test('encoded and dotted forms of a denied path get 403 RBAC and never reach the app', async () => {
  appHits = 0;
  for (const target of BYPASSES) {
    const r = await send(denyPort, target);
    assert.equal(r.status, 403, `${target}: ${r.raw.slice(0, 120)}`);
    assert.equal(r.flags, 'RBAC', target);
  }
  assert.equal(appHits, 0);
});

test('an ALLOW /public/* cannot be stretched to other paths with ../ in any encoding', async () => {
  appHits = 0;
  for (const target of ['/public/%2e%2e/admin', '/public/.%2e/private', String.raw`/public\..\private`, '/public/x/../../private']) {
    const r = await send(allowPort, target);
    assert.equal(r.status, 403, `${target}: ${r.raw.slice(0, 120)}`);
  }
  assert.equal(appHits, 0);
  assert.equal(appUrl(await send(allowPort, '/public/x/../%79')), '/public/y');
});

test('%00 in the path → 400 DPE (in every encoding of the rest)', async () => {
  appHits = 0;
  for (const target of ['/admin%00', '/public/%00/x', '/public/.%00./x']) {
    const r = await send(denyPort, target);
    assert.equal(r.status, 400, `${target}: ${r.raw.slice(0, 120)}`);
    assert.equal(r.flags, 'DPE', target);
  }
  assert.equal(appHits, 0);
});

test('the app receives the normalised path; the query is forwarded as sent, the fragment never', async () => {
  const cases: [string, string][] = [
    ['/public/%2e%2e/x', '/x'],
    ['/%41pi/%7euser/a%2db%5F', '/Api/~user/a-b_'],
    ['/a/%2F/b%5c', '/a/%2F/b%5c'], // BASE keeps encoded slashes and backslashes
    ['/a//b', '/a//b'], // and does not merge slashes
    ['/../../x/./y/', '/x/y/'],
    ['/a/%c0%af?q=%2e%2e/..#frag', '/a/%c0%af?q=%2e%2e/..'],
    ['/x?q=1#frag?not-query', '/x?q=1'],
    ['/x#frag?not-query', '/x'],
  ];
  for (const [target, expected] of cases) assert.equal(appUrl(await send(denyPort, target)), expected, target);
});

test('outbound routes match the normalised path', async () => {
  assert.equal(appUrl(await send(m.port, '/%70ublic/x')), '/public/x');
  assert.equal(appUrl(await send(m.port, String.raw`/public\a`)), '/public/a');
  const escaped = await send(m.port, '/public/%2e%2e/admin');
  assert.equal(escaped.status, 418, escaped.raw.slice(0, 120));
  assert.equal(escaped.body, 'not public');
  assert.equal((await send(m.port, '/public/%00')).status, 400);
});

test('--path-normalization DECODE_AND_MERGE_SLASHES also decodes %2F and %5C and merges slashes', async () => {
  const deny = await freePort();
  const allow = await freePort();
  decode = await startMeshlet(config(deny, allow), { args: ['--path-normalization', 'DECODE_AND_MERGE_SLASHES'] });
  for (const target of ['/public%2F..%2Fadmin', '/public%5c..%5Cadmin', '//admin', '/%2e%2e//admin']) {
    assert.equal((await send(deny, target)).status, 403, target);
  }
  assert.equal(appUrl(await send(deny, '/a//b%2Fc%5Cd/')), '/a/b/c/d/');
  assert.equal((await send(allow, '/public%2F..%2Fprivate')).status, 403);
});

test('an unknown --path-normalization is refused at start, naming the choices', async () => {
  const r = await runCli(['run', '-c', writeConfig(serviceEntryYaml('svc', [])), '--path-normalization', 'STRICT']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--path-normalization: expected NONE, BASE, MERGE_SLASHES, DECODE_AND_MERGE_SLASHES; got "STRICT"/);
});

test('two Host headers → 400 DPE without reaching the app, and the connection closes (a header error: nothing after it is trusted)', async () => {
  appHits = 0;
  for (const hosts of ['Host: svc\r\nHost: other\r\n', 'Host: other\r\nhost: svc\r\n']) {
    const socket = net.connect(m.port, '127.0.0.1');
    await once(socket, 'connect');
    const closed = once(socket, 'close');
    socket.write(`GET /public/a HTTP/1.1\r\n${hosts}\r\nGET /public/b HTTP/1.1\r\nHost: svc\r\n\r\n`);
    const r = parse(await readResponse(socket, 2000));
    assert.equal(r.status, 400, r.raw.slice(0, 120));
    assert.equal(r.flags, 'DPE');
    assert.match(r.body, /Host/);
    await closed;
  }
  assert.equal(appHits, 0);
});

test('Connection: host (with other names) keeps Host for the app; the other named headers are dropped', async () => {
  for (const port of [m.port, denyPort]) {
    const r = await send(port, '/public/h', 'Host: svc\r\nX-Hop: 1\r\nConnection: x-hop, host\r\n');
    assert.equal(r.status, 200, r.raw.slice(0, 120));
    const seen = JSON.parse(r.body) as { headers: Record<string, string> };
    assert.equal(seen.headers.host, 'svc', `port ${port}`);
    assert.equal(seen.headers['x-hop'], undefined);
  }
});
