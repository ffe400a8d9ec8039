// mTLS end to end: app A → sidecar A outbound → mTLS → sidecar B inbound (TLS in its workers) → app B.
// STRICT refuses plaintext, certificate-less, foreign-CA and expired clients at the handshake;
// PERMISSIVE takes plaintext and mTLS on one port; x-forwarded-client-cert is meshlet's only.
import assert from 'node:assert/strict';
import https from 'node:https';
import { after, before, test } from 'node:test';
import { get } from '../helpers/http.js';
import { identityArgs, identityDir, istioMutualYaml, makeCa, makeLeaf, peerAuthenticationYaml, type Ca, type Leaf } from '../helpers/certs.js';
import { serviceEntryYaml, startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { freePort } from '../helpers/ports.js';
import { rawRequest } from '../helpers/raw.js';
import { certHash, tlsGet } from '../helpers/tls-client.js';
import { echoUpstream, type Upstream } from '../helpers/upstream.js';

interface Echo { name: string; headers: Record<string, string | undefined> }

const ID_A = 'spiffe://cluster.local/ns/a/sa/a';
const ID_B = 'spiffe://cluster.local/ns/b/sa/b';
let ca: Ca;
let leafA: Leaf;
let leafB: Leaf;
let appB: Upstream;
let strictB: Meshlet;
let permissiveB: Meshlet;
let sidecarA: Meshlet;
let strictPort: number;
let permissivePort: number;
let plainInboundA: number;

function inboundYaml(port: number, appPort: number): string {
  return `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: b}
spec:
  ingress:
  - port: {number: ${port}, protocol: HTTP, name: http-in}
    defaultEndpoint: 127.0.0.1:${appPort}
  egress:
  - port: {number: ${await0(port)}, protocol: HTTP}
    hosts: ["*/*"]
---
`;
}
// the egress port of a sidecar that only serves inbound: unused, but a free one is needed
const egressPorts = new Map<number, number>();
function await0(port: number): number { return egressPorts.get(port) as number; }

before(async () => {
  ca = makeCa('mesh');
  leafA = makeLeaf(ca, ID_A);
  leafB = makeLeaf(ca, ID_B);
  appB = await echoUpstream('app-b');
  strictPort = await freePort();
  permissivePort = await freePort();
  egressPorts.set(strictPort, await freePort());
  egressPorts.set(permissivePort, await freePort());
  const idB = identityArgs(identityDir(leafB, ca.certPem));
  [strictB, permissiveB] = await Promise.all([
    startMeshlet(inboundYaml(strictPort, appB.port) + peerAuthenticationYaml('STRICT'), { noSidecar: true, workers: 2, args: [...idB, '--access-log', 'stdout'] }),
    startMeshlet(inboundYaml(permissivePort, appB.port) + peerAuthenticationYaml('PERMISSIVE'), { noSidecar: true, workers: 1, args: idB }),
  ]);
  const services = [
    serviceEntryYaml('svc-b', [{ port: strictPort }]),
    serviceEntryYaml('svc-b-wrong-id', [{ port: strictPort }]),
    serviceEntryYaml('svc-b-permissive', [{ port: permissivePort }]),
    serviceEntryYaml('svc-b-plain', [{ port: strictPort }]),
  ].join('');
  // sidecar A: outbound to B, plus a plaintext (DISABLE) inbound listener of its own
  const egressA = await freePort();
  plainInboundA = await freePort();
  const sidecarAYaml = inboundYaml(plainInboundA, appB.port).replace(`number: ${egressPorts.get(plainInboundA)}`, `number: ${egressA}`);
  const tls = istioMutualYaml('svc-b') + istioMutualYaml('svc-b-permissive', [ID_B]) + istioMutualYaml('svc-b-wrong-id', ['spiffe://cluster.local/ns/x/sa/wrong']);
  sidecarA = await startMeshlet(sidecarAYaml + services + tls + peerAuthenticationYaml('DISABLE'), {
    noSidecar: true, port: egressA, args: identityArgs(identityDir(leafA, ca.certPem)),
  });
});

after(async () => {
  await Promise.all([sidecarA?.stop(), strictB?.stop(), permissiveB?.stop()]);
  await appB?.close();
});

test('app A → sidecar A → mTLS → sidecar B → app B: app B sees A\'s SPIFFE id in x-forwarded-client-cert', async () => {
  const r = await get(sidecarA.url, 'svc-b');
  assert.equal(r.status, 200, r.body);
  const echo = JSON.parse(r.body) as Echo;
  assert.equal(echo.name, 'app-b');
  assert.equal(echo.headers['x-forwarded-client-cert'], `By=${ID_B};Hash=${certHash(leafA.certPem)};URI=${ID_A}`);
  assert.equal(echo.headers['x-forwarded-for'], undefined, 'sidecars do not append x-forwarded-for by default (Istio); the caller is in x-forwarded-client-cert');
});

test('the access log names the mTLS peer (downstream_peer_uri_san)', { timeout: 10_000 }, async () => {
  await get(sidecarA.url, 'svc-b', { headers: { 'x-request-id': 'mtls-access-log' } });
  await new Promise<void>((resolve) => {
    const check = (): void => {
      if (!/"x_request_id":"mtls-access-log"[^\n]*"downstream_peer_uri_san":"spiffe:\/\/cluster.local\/ns\/a\/sa\/a"/.test(strictB.output())) return;
      strictB.proc.stdout?.off('data', check);
      resolve();
    };
    strictB.proc.stdout?.on('data', check); // the line is flushed within 250 ms
    check();
  });
});

test('a client\'s own x-forwarded-client-cert never reaches the app (mTLS and plaintext paths)', async () => {
  const forged = 'By=spiffe://evil;Hash=00;URI=spiffe://cluster.local/ns/admin/sa/admin';
  const viaMesh = JSON.parse((await get(sidecarA.url, 'svc-b', { headers: { 'x-forwarded-client-cert': forged } })).body) as Echo;
  assert.equal(viaMesh.headers['x-forwarded-client-cert'], `By=${ID_B};Hash=${certHash(leafA.certPem)};URI=${ID_A}`);
  const plain = JSON.parse((await get(`http://127.0.0.1:${permissivePort}`, 'svc', { headers: { 'x-forwarded-client-cert': forged } })).body) as Echo;
  assert.equal(plain.headers['x-forwarded-client-cert'], undefined);
});

test('STRICT: a client with a mesh certificate is served, and sees B\'s identity', async () => {
  const r = await tlsGet(strictPort, { ca: ca.certPem, cert: leafA.certPem, key: leafA.keyPem });
  assert.equal(r.status, 200);
  assert.match(r.serverCert?.subjectAltName ?? '', new RegExp(`URI:${ID_B}`));
  assert.equal((JSON.parse(r.body) as Echo).headers['x-forwarded-client-cert'], `By=${ID_B};Hash=${certHash(leafA.certPem)};URI=${ID_A}`);
});

test('STRICT refuses plaintext: the connection closes without an HTTP response', async () => {
  const out = await rawRequest(strictPort, 'GET / HTTP/1.1\r\nHost: svc\r\n\r\n');
  assert.equal(out.startsWith('HTTP/'), false, out);
});

test('STRICT refuses a client without a certificate, with a foreign CA\'s, and with an expired one', async () => {
  const foreign = makeLeaf(makeCa('foreign'), ID_A);
  const expired = makeLeaf(ca, ID_A, { expired: true });
  const cases: [string, { cert?: string; key?: string }][] = [
    ['no certificate', {}],
    ['foreign CA', { cert: foreign.certPem, key: foreign.keyPem }],
    ['expired', { cert: expired.certPem, key: expired.keyPem }],
  ];
  for (const [name, creds] of cases) {
    await assert.rejects(tlsGet(strictPort, { ca: ca.certPem, ...creds }), (err: Error) => {
      assert.match(`${(err as { code?: string }).code ?? ''} ${err.message}`, /alert|ECONNRESET|socket hang up|EPIPE/i, `${name}: ${err.message}`);
      return true;
    }, name);
  }
});

test('PERMISSIVE serves plaintext and mTLS on the same port (identity only with mTLS)', async () => {
  const plain = await get(`http://127.0.0.1:${permissivePort}/p`, 'svc');
  assert.equal(plain.status, 200);
  assert.equal((JSON.parse(plain.body) as Echo).headers['x-forwarded-client-cert'], undefined);
  const mtls = await tlsGet(permissivePort, { ca: ca.certPem, cert: leafA.certPem, key: leafA.keyPem });
  assert.equal(mtls.status, 200);
  assert.equal((JSON.parse(mtls.body) as Echo).headers['x-forwarded-client-cert'], `By=${ID_B};Hash=${certHash(leafA.certPem)};URI=${ID_A}`);
  const viaMesh = await get(sidecarA.url, 'svc-b-permissive');
  assert.equal(viaMesh.status, 200);
  assert.match((JSON.parse(viaMesh.body) as Echo).headers['x-forwarded-client-cert'] ?? '', new RegExp(`URI=${ID_A}$`));
});

test('outbound to a server with another SPIFFE id fails as a connect failure (503 UF); the ids stay out of the body', async () => {
  const r = await get(sidecarA.url, 'svc-b-wrong-id');
  assert.equal(r.status, 503, r.body);
  assert.match(String(r.headers['x-meshlet-flags']), /^UF/);
  assert.match(r.body, /^upstream connect error or disconnect\/reset before headers\. (retried and the latest )?reset reason: remote connection failure$/);
});

test('outbound without ISTIO_MUTUAL to a STRICT port fails (plaintext is refused)', async () => {
  const r = await get(sidecarA.url, 'svc-b-plain');
  assert.equal(r.status, 503, r.body);
  assert.equal(r.headers['x-meshlet-flags'], 'UC', 'the server closes the plaintext connection: Envoy\'s connection termination');
});

/** PROXY v2 (TCP over IPv6) with the given 16-byte source address. */
function proxyHeader(source: Buffer): Buffer {
  const h = Buffer.alloc(52);
  Buffer.from('0d0a0d0a000d0a515549540a21210024', 'hex').copy(h, 0);
  source.copy(h, 16);
  return h;
}

test('a PROXY header sent to a public plaintext listener is not trusted: it is not HTTP, so 400 and close', async () => {
  const forged = proxyHeader(Buffer.from('fd6d0000000000010000000100000001', 'hex'));
  const out = await rawRequest(plainInboundA, Buffer.concat([forged, Buffer.from('GET / HTTP/1.1\r\nHost: svc\r\n\r\n')]));
  assert.match(out, /^HTTP\/1.1 400 /);
  assert.match(out, /connection: close/);
  assert.doesNotMatch(out, /x-forwarded-client-cert/);
});

test('SIGTERM with mTLS connections open: meshlet drains (workers terminating TLS) and exits 0', async () => {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  const opts = { ca: ca.certPem, cert: leafA.certPem, key: leafA.keyPem, agent };
  assert.equal((await tlsGet(permissivePort, opts)).status, 200);
  const exited = permissiveB.stop();
  // a request racing the drain on the open connection is answered or refused, never left hanging
  const r = await tlsGet(permissivePort, opts).catch((err: Error) => err);
  agent.destroy();
  assert.equal(await exited, 0);
  if (!(r instanceof Error)) assert.equal(r.status, 200);
});
