// Identity rotation under load: new certificates are written for both sidecars while requests
// flow app A → sidecar A → mTLS → sidecar B → app; none fails, open connections keep going, and
// new connections present the new certificates (inbound and outbound).
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import { Pool } from 'undici';
import { identityArgs, identityDir, istioMutualYaml, makeCa, makeLeaf, type Ca, type IdentityDir, type Leaf, peerAuthenticationYaml } from '../helpers/certs.js';
import { serviceEntryYaml, startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { freePort } from '../helpers/ports.js';
import { certHash, tlsGet } from '../helpers/tls-client.js';
import { httpUpstream, type Upstream } from '../helpers/upstream.js';

const ID_A = 'spiffe://cluster.local/ns/a/sa/a';
const ID_B = 'spiffe://cluster.local/ns/b/sa/b';
let ca: Ca;
let a1: Leaf; let a2: Leaf; let b1: Leaf; let b2: Leaf;
let dirA: IdentityDir; let dirB: IdentityDir;
let app: Upstream;
let sidecarA: Meshlet;
let sidecarB: Meshlet;
let inboundPort: number;

/** A TLS connection to sidecar B with a1's certificate: whether it resumed, the certificate B presented, the session B issued. */
async function handshake(session?: Buffer): Promise<{ reused: boolean; serverCert: string; session: Buffer | null }> {
  const socket = tls.connect({ port: inboundPort, host: '127.0.0.1', ca: ca.certPem, cert: a1.certPem, key: a1.keyPem, session, checkServerIdentity: () => undefined });
  let latest: Buffer | null = null;
  socket.on('session', (s: Buffer) => { latest = s; });
  await once(socket, 'secureConnect');
  const out = { reused: socket.isSessionReused(), serverCert: socket.getPeerX509Certificate()?.fingerprint256 ?? '' };
  socket.end('GET / HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n');
  socket.resume();
  await once(socket, 'close');
  return { ...out, session: latest };
}

/** Resolves once `needle` appears in the sidecar's output after offset `from` (its own log line is the event). */
function logged(m: Meshlet, needle: string, from: number): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (m.output().indexOf(needle, from) < 0) return;
      m.proc.stderr?.off('data', check);
      resolve();
    };
    m.proc.stderr?.on('data', check);
    check();
  });
}

before(async () => {
  ca = makeCa('mesh');
  [a1, a2, b1, b2] = [makeLeaf(ca, ID_A), makeLeaf(ca, ID_A), makeLeaf(ca, ID_B), makeLeaf(ca, ID_B)];
  let n = 0;
  // every 10th response closes its connection (sidecar B reconnects to the app); /slow answers after 100 ms
  app = await httpUpstream((req, res) => {
    const body = JSON.stringify({ xfcc: req.headers['x-forwarded-client-cert'] ?? '' });
    const answer = (): void => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(++n % 10 === 0 ? { connection: 'close' } : {}) });
      res.end(body);
    };
    if (req.url === '/slow') setTimeout(answer, 100);
    else answer();
  });
  inboundPort = await freePort();
  const egress = await freePort();
  dirA = identityDir(a1, ca.certPem);
  dirB = identityDir(b1, ca.certPem);
  sidecarB = await startMeshlet(`apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: b}
spec:
  ingress:
  - port: {number: ${inboundPort}, protocol: HTTP, name: http-in}
    defaultEndpoint: 127.0.0.1:${app.port}
  egress:
  - port: {number: ${egress}, protocol: HTTP}
    hosts: ["*/*"]
---
${peerAuthenticationYaml('STRICT')}`, { noSidecar: true, workers: 2, args: identityArgs(dirB) });
  sidecarA = await startMeshlet(serviceEntryYaml('svc-b', [{ port: inboundPort }]) + istioMutualYaml('svc-b', [ID_B]), {
    workers: 2, args: identityArgs(dirA),
  });
});

after(async () => {
  await Promise.all([sidecarA?.stop(), sidecarB?.stop()]);
  await app?.close();
});

test('rotation under load: zero failed requests, new connections present the new certificates', { timeout: 60_000 }, async () => {
  const pool = new Pool(sidecarA.url, { connections: 8 });
  let done = 0;
  let failures: string[] = [];
  let rotated = false;
  let afterRotation = 0;
  const hashesAfter = new Set<string>();
  const loop = async (): Promise<void> => {
    while (!rotated || afterRotation < 400) {
      try {
        const r = await pool.request({ path: '/', method: 'GET', headers: { host: 'svc-b' } });
        const body = await r.body.text();
        if (r.statusCode !== 200) failures.push(`${r.statusCode} ${body}`);
        else if (rotated) hashesAfter.add(/Hash=([0-9a-f]+)/.exec((JSON.parse(body) as { xfcc: string }).xfcc)?.[1] ?? '');
      } catch (err) {
        failures.push((err as Error).message);
      }
      done++;
      if (rotated) afterRotation++;
      if (failures.length > 20) return;
    }
  };
  const loops = Array.from({ length: 8 }, loop);
  // rotate once traffic is flowing
  while (done < 200 && failures.length === 0) await new Promise<void>((r) => setImmediate(r));
  const oldSession = (await handshake()).session;
  assert.ok(oldSession !== null, 'B issued a session ticket before the rotation');
  assert.equal((await handshake(oldSession)).reused, true, 'and it resumes before the rotation');
  const [fromA, fromB] = [sidecarA.output().length, sidecarB.output().length];
  dirB.write(b2, ca.certPem);
  dirA.write(a2, ca.certPem);
  await Promise.all([logged(sidecarA, '"msg":"identity rotated"', fromA), logged(sidecarB, '"msg":"identity rotated"', fromB)]);
  rotated = true;
  // 40 slow requests at once need more upstream connections than sidecar A has open: new ones
  const burst = new Pool(sidecarA.url, { connections: 40 });
  const xfccs = await Promise.all(Array.from({ length: 40 }, async () => {
    const r = await burst.request({ path: '/slow', method: 'GET', headers: { host: 'svc-b' } });
    const body = await r.body.text();
    if (r.statusCode !== 200) failures.push(`burst: ${r.statusCode} ${body}`);
    return r.statusCode === 200 ? (JSON.parse(body) as { xfcc: string }).xfcc : '';
  }));
  await burst.close();
  for (const x of xfccs) hashesAfter.add(/Hash=([0-9a-f]+)/.exec(x)?.[1] ?? '');
  await Promise.all(loops);
  await pool.close();
  failures = failures.slice(0, 5);
  assert.deepEqual(failures, [], `${done} requests`);
  assert.ok(done >= 600, `${done} requests`);
  // sidecar A's new connections carry A's new certificate; its older ones kept the first
  assert.ok(hashesAfter.has(certHash(a2.certPem)), `hashes seen after rotation: ${[...hashesAfter].join(' ')}`);
  // a session of B's old identity is not resumed (its ticket keys changed with it): the new certificate is presented
  const resumedAfter = await handshake(oldSession);
  assert.equal(resumedAfter.reused, false);
  assert.equal(resumedAfter.serverCert, new X509Certificate(b2.certPem).fingerprint256);
  // sidecar B presents its new certificate on a new connection; a client with the old (still valid) one is served
  const r = await tlsGet(inboundPort, { ca: ca.certPem, cert: a1.certPem, key: a1.keyPem });
  assert.equal(r.status, 200);
  assert.equal(r.serverCert?.fingerprint256, new X509Certificate(b2.certPem).fingerprint256);
});

test('a refused identity (key does not match the certificate) leaves the running one in place', { timeout: 20_000 }, async () => {
  const from = sidecarB.output().length;
  const mismatched: Leaf = { ...b1, keyPem: a1.keyPem };
  dirB.write(mismatched, ca.certPem);
  await logged(sidecarB, 'identity files changed but are not a valid set', from);
  const r = await tlsGet(inboundPort, { ca: ca.certPem, cert: a2.certPem, key: a2.keyPem });
  assert.equal(r.status, 200);
  assert.equal(r.serverCert?.fingerprint256, new X509Certificate(b2.certPem).fingerprint256);
});
