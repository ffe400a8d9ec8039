// TCP between two sidecars with mesh mTLS: app → sidecar A (TCP egress, ISTIO_MUTUAL) → sidecar B
// (TCP ingress, PeerAuthentication STRICT, mTLS terminated in B's worker) → app B. B's
// AuthorizationPolicy allows A's principal and refuses C's (closed, counted RBAC); plaintext and
// certificate-less clients fail the handshake; half-close and bytes survive the TLS hop; PERMISSIVE
// takes plaintext and mTLS on one port. TCP rides the same worker TLS as HTTP: sessions resume
// (counted in meshlet_tls_handshakes_total, the peers still known), failed handshakes are counted,
// and a port without a declared protocol tells TCP from HTTP inside the mTLS connection.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import { identityArgs, identityDir, istioMutualYaml, makeCa, makeLeaf, peerAuthenticationYaml, type Ca } from '../helpers/certs.js';
import { startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { freePort } from '../helpers/ports.js';
import { hashServer, metricValue, scrape, tcpExchange, waitForMetrics, writePattern, type TcpServer } from '../helpers/tcp.js';

const ID_A = 'spiffe://cluster.local/ns/a/sa/a';
const ID_B = 'spiffe://cluster.local/ns/b/sa/b';
const ID_C = 'spiffe://cluster.local/ns/c/sa/c';

let ca: Ca;
let app: TcpServer;
let b: Meshlet;
let bPermissive: Meshlet;
let a: Meshlet;
let c: Meshlet;
let inStrict: number;
let inPermissive: number;
let outA: number;
let outC: number;
let inSniff: number;
let outSniff: number;

function ingress(port: number, appPort: number, egressPort: number, sniffPort = 0): string {
  return `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: b}
spec:
  ingress:
  - port: {number: ${port}, protocol: TCP, name: tcp-in}
    defaultEndpoint: 127.0.0.1:${appPort}
${sniffPort === 0 ? '' : `  - port: {number: ${sniffPort}, name: undeclared}
    defaultEndpoint: 127.0.0.1:${appPort}
`}  egress:
  - port: {number: ${egressPort}, protocol: HTTP}
    hosts: ["*/*"]
---
`;
}

/** `sniffEgress` > 0: a second TCP egress port, to B's port of undeclared protocol (`sniffTarget`). */
function caller(egressPort: number, targetPort: number, sniffEgress = 0, sniffTarget = 0): string {
  return `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: caller}
spec:
  egress:
  - port: {number: ${egressPort}, protocol: TCP, name: tcp-out}
    hosts: ["*/*"]
${sniffEgress === 0 ? '' : `  - port: {number: ${sniffEgress}, protocol: TCP, name: tcp-sniff}
    hosts: ["*/*"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: svc-b-undeclared}
spec:
  hosts: [svc-b-any.b.svc.cluster.local]
  resolution: STATIC
  ports: [{number: ${sniffEgress}, name: tcp, protocol: TCP}]
  endpoints: [{address: 127.0.0.1, ports: {tcp: ${sniffTarget}}}]
---
${istioMutualYaml('svc-b-any.b.svc.cluster.local', [ID_B])}`}---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: svc-b}
spec:
  hosts: [svc-b.b.svc.cluster.local]
  resolution: STATIC
  ports: [{number: ${egressPort}, name: tcp, protocol: TCP}]
  endpoints: [{address: 127.0.0.1, ports: {tcp: ${targetPort}}}]
---
${istioMutualYaml('svc-b.b.svc.cluster.local', [ID_B])}`;
}

const ALLOW_A = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-a, namespace: b}
spec:
  action: ALLOW
  rules:
  - from: [{source: {principals: [cluster.local/ns/a/sa/a]}}]
---
`;

before(async () => {
  ca = makeCa('mesh');
  const leaf = (id: string) => identityArgs(identityDir(makeLeaf(ca, id), ca.certPem));
  app = await hashServer();
  inStrict = await freePort();
  inPermissive = await freePort();
  outA = await freePort();
  outC = await freePort();
  inSniff = await freePort();
  outSniff = await freePort();
  [b, bPermissive] = await Promise.all([
    startMeshlet(ingress(inStrict, app.port, await freePort(), inSniff) + peerAuthenticationYaml('STRICT') + ALLOW_A, { noSidecar: true, workers: 2, args: leaf(ID_B) }),
    startMeshlet(ingress(inPermissive, app.port, await freePort()) + peerAuthenticationYaml('PERMISSIVE'), { noSidecar: true, args: leaf(ID_B) }),
  ]);
  [a, c] = await Promise.all([
    startMeshlet(caller(outA, inStrict, outSniff, inSniff), { noSidecar: true, args: leaf(ID_A) }),
    startMeshlet(caller(outC, inStrict), { noSidecar: true, args: leaf(ID_C) }),
  ]);
});

after(async () => {
  await Promise.all([a, b, c, bPermissive].map((x) => x?.stop()));
  await app?.close();
});

test('A → mTLS → B (STRICT, A allowed): 16 MiB byte-exact, the reply after the client\'s FIN', { timeout: 30_000 }, async () => {
  const s = net.connect({ port: outA, host: '127.0.0.1', allowHalfOpen: true });
  await new Promise<void>((r) => s.once('connect', r));
  const sent = createHash('sha256');
  const reply = new Promise<string>((resolve, reject) => {
    let text = '';
    s.on('data', (d: Buffer) => { text += d.toString(); });
    s.on('end', () => resolve(text));
    s.on('error', reject);
  });
  await writePattern(s, 256, sent);
  s.end();
  assert.equal(await reply, `${sent.digest('hex')} ${256 * 64 * 1024}`);
  s.destroy();
  // B knows its caller by the certificate: source_principal, and the connection was mutual TLS
  const caller = [`source_principal="${ID_A}"`, 'connection_security_policy="mutual_tls"', 'request_protocol="tcp"'];
  await waitForMetrics(b.adminPort, (t) => metricValue(t, 'istio_tcp_connections_closed_total', 'reporter="destination"', ...caller, 'response_flags="-"') === 1
    && metricValue(t, 'istio_tcp_received_bytes_total', 'reporter="destination"', ...caller) === 256 * 64 * 1024);
});

test('C → mTLS → B: C\'s principal is not allowed: closed without bytes, counted RBAC on B', async () => {
  const r = await tcpExchange(outC, 'let me in');
  assert.equal(r.data.length, 0);
  await waitForMetrics(b.adminPort, (t) => metricValue(t, 'istio_tcp_connections_closed_total', 'reporter="destination"', `source_principal="${ID_C}"`, 'response_flags="RBAC"') === 1);
});

test('STRICT refuses plaintext and a client without a certificate at the handshake; both counted as failed handshakes', async () => {
  const failedBefore = metricValue(await scrape(b.adminPort), 'meshlet_tls_handshake_failures_total', 'direction="inbound"');
  const plain = await tcpExchange(inStrict, 'plaintext');
  assert.equal(plain.data.length, 0);
  await assert.rejects(new Promise((resolve, reject) => {
    const s = tls.connect({ port: inStrict, host: '127.0.0.1', ca: ca.certPem, checkServerIdentity: () => undefined });
    s.on('data', resolve);
    s.on('error', reject);
    s.on('end', () => reject(new Error('closed')));
    s.write('hello');
    s.end();
  }));
  await waitForMetrics(b.adminPort, (t) => metricValue(t, 'meshlet_tls_handshake_failures_total', 'direction="inbound"') === failedBefore + 2);
});

test('the same worker TLS as HTTP: A\'s next connections resume their session (counted on A and B) and still name their peers', { timeout: 15_000 }, async () => {
  // test 1 made A's first connection to B, a full handshake that left A a session ticket
  const resumed = (dir: string) => (t: string) => metricValue(t, 'meshlet_tls_handshakes_total', `direction="${dir}"`, 'resumed="true"');
  const aBefore = resumed('outbound')(await scrape(a.adminPort));
  const bBefore = resumed('inbound')(await scrape(b.adminPort));
  for (const word of ['one', 'two', 'three']) {
    const r = await tcpExchange(outA, word);
    assert.equal(r.data.toString(), `${createHash('sha256').update(word).digest('hex')} ${word.length}`);
  }
  await waitForMetrics(a.adminPort, (t) => resumed('outbound')(t) === aBefore + 3
    && metricValue(t, 'istio_tcp_connections_closed_total', 'reporter="source"', `destination_principal="${ID_B}"`, 'response_flags="-"') === 4, 5000);
  await waitForMetrics(b.adminPort, (t) => resumed('inbound')(t) === bBefore + 3
    && metricValue(t, 'istio_tcp_connections_closed_total', 'reporter="destination"', `source_principal="${ID_A}"`, 'response_flags="-"') === 4, 5000);
});

test('B\'s port of undeclared protocol, STRICT: the bytes inside A\'s mTLS connection are not HTTP, so they are proxied as TCP to the app, those after the first too', async () => {
  const s = net.connect({ port: outSniff, host: '127.0.0.1', allowHalfOpen: true });
  let text = '';
  const reply = new Promise<void>((resolve, reject) => {
    s.on('data', (d: Buffer) => { text += d.toString(); });
    s.on('end', () => resolve());
    s.on('error', reject);
  });
  const accepted = app.accepted;
  s.write('*1\r\n$4\r\n');
  // B told it from HTTP and connected to the app: what follows reaches B's relay, not its sniffing
  const deadline = Date.now() + 5000;
  while (app.accepted === accepted && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  s.end('PING\r\n');
  await reply;
  s.destroy();
  assert.equal(text, `${createHash('sha256').update('*1\r\n$4\r\nPING\r\n').digest('hex')} 14`);
  // (A's four connections before this one)
  await waitForMetrics(b.adminPort, (t) => metricValue(t, 'istio_tcp_connections_closed_total', 'reporter="destination"', `source_principal="${ID_A}"`, 'response_flags="-"') === 5);
});

test('PERMISSIVE: plaintext and mTLS on one port', async () => {
  const plain = await tcpExchange(inPermissive, 'abc');
  assert.equal(plain.data.toString(), `${createHash('sha256').update('abc').digest('hex')} 3`);
  const leafA = makeLeaf(ca, ID_A);
  const reply = await new Promise<string>((resolve, reject) => {
    const s = tls.connect({ port: inPermissive, host: '127.0.0.1', ca: ca.certPem, cert: leafA.certPem, key: leafA.keyPem, checkServerIdentity: () => undefined });
    let text = '';
    s.on('secureConnect', () => s.end('xyz'));
    s.on('data', (d: Buffer) => { text += d.toString(); });
    s.on('end', () => resolve(text));
    s.on('error', reject);
  });
  assert.equal(reply, `${createHash('sha256').update('xyz').digest('hex')} 3`);
});
