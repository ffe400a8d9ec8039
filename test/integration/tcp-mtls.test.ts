// TCP between two sidecars with mesh mTLS: app → sidecar A (TCP egress, ISTIO_MUTUAL) → sidecar B
// (TCP ingress, PeerAuthentication STRICT, mTLS terminated in B's worker) → app B. B's
// AuthorizationPolicy allows A's principal and refuses C's (closed, counted RBAC); plaintext and
// certificate-less clients fail the handshake; half-close and bytes survive the TLS hop; PERMISSIVE
// takes plaintext and mTLS on one port.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import { identityArgs, identityDir, istioMutualYaml, makeCa, makeLeaf, peerAuthenticationYaml, type Ca } from '../helpers/certs.js';
import { startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { freePort } from '../helpers/ports.js';
import { hashServer, metricValue, tcpExchange, waitForMetrics, writePattern, type TcpServer } from '../helpers/tcp.js';

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

function ingress(port: number, appPort: number, egressPort: number): string {
  return `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: b}
spec:
  ingress:
  - port: {number: ${port}, protocol: TCP, name: tcp-in}
    defaultEndpoint: 127.0.0.1:${appPort}
  egress:
  - port: {number: ${egressPort}, protocol: HTTP}
    hosts: ["*/*"]
---
`;
}

function caller(egressPort: number, targetPort: number): string {
  return `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: caller}
spec:
  egress:
  - port: {number: ${egressPort}, protocol: TCP, name: tcp-out}
    hosts: ["*/*"]
---
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
  [b, bPermissive] = await Promise.all([
    startMeshlet(ingress(inStrict, app.port, await freePort()) + peerAuthenticationYaml('STRICT') + ALLOW_A, { noSidecar: true, workers: 2, args: leaf(ID_B) }),
    startMeshlet(ingress(inPermissive, app.port, await freePort()) + peerAuthenticationYaml('PERMISSIVE'), { noSidecar: true, args: leaf(ID_B) }),
  ]);
  [a, c] = await Promise.all([
    startMeshlet(caller(outA, inStrict), { noSidecar: true, args: leaf(ID_A) }),
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

test('STRICT refuses plaintext and a client without a certificate at the handshake', async () => {
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
