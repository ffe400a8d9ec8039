// mTLS terminated in the data-plane workers: with 2 workers both terminate TLS on their own
// socket of the port, a session resumes on either worker (the ticket keys are the sidecar's),
// PERMISSIVE tells plaintext from TLS by the first bytes however they arrive, the outbound side
// resumes its sessions to an endpoint, and every handshake is counted
// (meshlet_tls_handshakes_total{direction,resumed}).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { get } from '../helpers/http.js';
import { identityArgs, identityDir, istioMutualYaml, makeCa, makeLeaf, peerAuthenticationYaml, type Ca, type IdentityDir, type Leaf } from '../helpers/certs.js';
import { serviceEntryYaml, startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { freePort } from '../helpers/ports.js';
import { certHash } from '../helpers/tls-client.js';
import { echoUpstream, type Upstream } from '../helpers/upstream.js';

interface Echo { headers: Record<string, string | undefined> }
interface WorkerTls { inbound: { full: number; resumed: number; failed: number }; outbound: { full: number; resumed: number } }

const ID_A = 'spiffe://cluster.local/ns/a/sa/a';
const ID_B = 'spiffe://cluster.local/ns/b/sa/b';
const ID_C = 'spiffe://cluster.local/ns/c/sa/c';
let ca: Ca;
let leafC: Leaf;
let dirA: IdentityDir;
let app: Upstream;
let strictB: Meshlet;
let permissiveB: Meshlet;
let sidecarA: Meshlet;
let strictPort: number;
let permissivePort: number;

function inboundYaml(port: number, egress: number, appPort: number): string {
  return `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: b}
spec:
  ingress:
  - port: {number: ${port}, protocol: HTTP, name: http-in}
    defaultEndpoint: 127.0.0.1:${appPort}
  egress:
  - port: {number: ${egress}, protocol: HTTP}
    hosts: ["*/*"]
---
`;
}

before(async () => {
  ca = makeCa('mesh');
  leafC = makeLeaf(ca, ID_C);
  app = await echoUpstream('app');
  [strictPort, permissivePort] = [await freePort(), await freePort()];
  const idB = identityArgs(identityDir(makeLeaf(ca, ID_B), ca.certPem));
  [strictB, permissiveB] = await Promise.all([
    startMeshlet(inboundYaml(strictPort, await freePort(), app.port) + peerAuthenticationYaml('STRICT'), { noSidecar: true, workers: 2, args: idB }),
    startMeshlet(inboundYaml(permissivePort, await freePort(), app.port) + peerAuthenticationYaml('PERMISSIVE'), { noSidecar: true, workers: 2, args: idB }),
  ]);
  // every request on a new upstream connection: each one is a handshake, full or resumed
  const oneRequestPerConnection = istioMutualYaml('svc-b', [ID_B]).replace('tls: {mode: ISTIO_MUTUAL', 'connectionPool: {http: {maxRequestsPerConnection: 1}}\n    tls: {mode: ISTIO_MUTUAL');
  dirA = identityDir(makeLeaf(ca, ID_A), ca.certPem);
  sidecarA = await startMeshlet(serviceEntryYaml('svc-b', [{ port: strictPort }]) + oneRequestPerConnection, {
    workers: 1, args: identityArgs(dirA),
  });
});

after(async () => {
  await Promise.all([sidecarA?.stop(), strictB?.stop(), permissiveB?.stop()]);
  await app?.close();
});

interface Answer { status: number; body: string; reused: boolean; session: Buffer | null; serverCert: string }

/** One GET on a new TLS connection with C's certificate, resuming `session` when given; the session the server issued comes back. */
async function tlsRequest(port: number, session?: Buffer): Promise<Answer> {
  const socket = tls.connect({ port, host: '127.0.0.1', ca: ca.certPem, cert: leafC.certPem, key: leafC.keyPem, session, checkServerIdentity: () => undefined });
  let latest: Buffer | null = null;
  socket.on('session', (s: Buffer) => { latest = s; });
  await once(socket, 'secureConnect');
  const reused = socket.isSessionReused();
  const serverCert = socket.getPeerX509Certificate()?.fingerprint256 ?? '';
  socket.end('GET / HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n');
  const chunks: Buffer[] = [];
  socket.on('data', (d: Buffer) => chunks.push(d));
  await once(socket, 'close');
  const text = Buffer.concat(chunks).toString('latin1');
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), body: text.slice(text.indexOf('\r\n\r\n') + 4), reused, session: latest, serverCert };
}

async function workersTls(m: Meshlet): Promise<WorkerTls[]> {
  const body = await (await request(`http://127.0.0.1:${m.adminPort}/workers`)).body.text();
  return (JSON.parse(body) as { workers: { tlsHandshakes: WorkerTls }[] }).workers.map((w) => w.tlsHandshakes);
}

/** Polls /workers (reported once a second) until `done` holds; returns the last answer. */
async function waitWorkers(m: Meshlet, done: (w: WorkerTls[]) => boolean, timeoutMs = 5000): Promise<WorkerTls[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const w = await workersTls(m);
    if (done(w) || Date.now() > deadline) return w;
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function metric(m: Meshlet, labels: string): Promise<number> {
  const text = await (await request(`http://127.0.0.1:${m.adminPort}/stats/prometheus`)).body.text();
  const line = text.split('\n').find((l) => l.startsWith(`meshlet_tls_handshakes_total{${labels}}`));
  return Number(line?.split(' ').at(-1) ?? NaN);
}

const sum = (w: WorkerTls[], f: (x: WorkerTls) => number): number => w.reduce((n, x) => n + f(x), 0);

test('STRICT with 2 workers: both workers terminate mTLS connections (40 new connections, each a full handshake)', async () => {
  const xfcc = `By=${ID_B};Hash=${certHash(leafC.certPem)};URI=${ID_C}`;
  const before = sum(await workersTls(strictB), (x) => x.inbound.full);
  const answers = await Promise.all(Array.from({ length: 40 }, () => tlsRequest(strictPort)));
  for (const a of answers) {
    assert.equal(a.status, 200, a.body);
    assert.equal((JSON.parse(a.body) as Echo).headers['x-forwarded-client-cert'], xfcc);
  }
  const w = await waitWorkers(strictB, (x) => sum(x, (y) => y.inbound.full) >= before + 40);
  assert.equal(sum(w, (x) => x.inbound.full), before + 40, JSON.stringify(w));
  assert.ok(w.every((x) => x.inbound.full > 0), `every worker completed handshakes: ${JSON.stringify(w)}`);
});

test('a session resumes on either worker (the ticket keys are the sidecar\'s), and the resumed connection still names its peer', async () => {
  const first = await tlsRequest(strictPort);
  assert.equal(first.reused, false);
  assert.ok(first.session !== null, 'the server issued a session ticket');
  const before = await workersTls(strictB);
  const resumed = await Promise.all(Array.from({ length: 20 }, () => tlsRequest(strictPort, first.session as Buffer)));
  for (const r of resumed) {
    assert.equal(r.status, 200, r.body);
    assert.equal((JSON.parse(r.body) as Echo).headers['x-forwarded-client-cert'], `By=${ID_B};Hash=${certHash(leafC.certPem)};URI=${ID_C}`);
  }
  assert.deepEqual(resumed.map((r) => r.reused), resumed.map(() => true), 'every connection resumed, whichever worker took it');
  const w = await waitWorkers(strictB, (x) => sum(x, (y) => y.inbound.resumed) >= sum(before, (y) => y.inbound.resumed) + 20);
  assert.ok(w.every((x, i) => x.inbound.resumed > (before[i]?.inbound.resumed ?? 0)), `both workers resumed sessions: ${JSON.stringify(w)}`);
});

test('PERMISSIVE with 2 workers: plaintext in pieces (the first read a single byte), pipelined plaintext and mTLS on one port', async () => {
  // the first byte alone decides: the rest arrives later
  const socket = net.connect(permissivePort, '127.0.0.1');
  await once(socket, 'connect');
  socket.setNoDelay(true);
  socket.write('G');
  await new Promise((r) => setTimeout(r, 50));
  socket.write('ET /a HTTP/1.1\r\nHost: svc\r\n\r\nGET /b HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n');
  const chunks: Buffer[] = [];
  socket.on('data', (d: Buffer) => chunks.push(d));
  await once(socket, 'close');
  const text = Buffer.concat(chunks).toString('latin1');
  assert.equal([...text.matchAll(/HTTP\/1\.1 200 /g)].length, 2, text);
  assert.doesNotMatch(text, /x-forwarded-client-cert/);
  const mtls = await tlsRequest(permissivePort);
  assert.equal(mtls.status, 200);
  assert.equal((JSON.parse(mtls.body) as Echo).headers['x-forwarded-client-cert'], `By=${ID_B};Hash=${certHash(leafC.certPem)};URI=${ID_C}`);
  // a connection that closes before sending anything, and a TLS handshake without a certificate, leave the sidecar serving
  const silent = net.connect(permissivePort, '127.0.0.1');
  await once(silent, 'connect');
  silent.end();
  await once(silent, 'close');
  const anonymous = tls.connect({ port: permissivePort, host: '127.0.0.1', ca: ca.certPem, checkServerIdentity: () => undefined });
  let refused: Error | null = null;
  anonymous.on('error', (err) => { refused = err; });
  anonymous.end('GET / HTTP/1.1\r\nHost: svc\r\n\r\n');
  await new Promise((r) => anonymous.on('close', r));
  assert.match(String(refused), /certificate required|ECONNRESET/);
  assert.equal((await get(`http://127.0.0.1:${permissivePort}/`, 'svc')).status, 200);
});

test('outbound: a new connection to an endpoint resumes the last session (30 requests, one connection each)', async () => {
  for (let i = 0; i < 30; i++) {
    const r = await get(sidecarA.url, 'svc-b');
    assert.equal(r.status, 200, r.body);
    assert.equal((JSON.parse(r.body) as Echo).headers['x-forwarded-client-cert']?.endsWith(`URI=${ID_A}`), true);
  }
  const w = await waitWorkers(sidecarA, (x) => sum(x, (y) => y.outbound.full + y.outbound.resumed) >= 30);
  const full = sum(w, (x) => x.outbound.full);
  const resumed = sum(w, (x) => x.outbound.resumed);
  assert.equal(full + resumed, 30, JSON.stringify(w));
  assert.ok(full <= 2 && resumed >= 28, `handshakes: ${full} full, ${resumed} resumed`);
  assert.equal(await metric(sidecarA, 'direction="outbound",resumed="true"'), resumed);
  assert.equal(await metric(sidecarA, 'direction="outbound",resumed="false"'), full);
});

test('outbound: after sidecar A rotates its identity, no session of the old one is resumed (B sees A\'s new certificate at once)', { timeout: 20_000 }, async () => {
  assert.equal((await get(sidecarA.url, 'svc-b')).status, 200); // a session to resume exists
  const a2 = makeLeaf(ca, ID_A);
  const from = sidecarA.output().length;
  dirA.write(a2, ca.certPem);
  await new Promise<void>((resolve) => {
    const check = (): void => {
      if (sidecarA.output().indexOf('"msg":"identity rotated"', from) < 0) return;
      sidecarA.proc.stderr?.off('data', check);
      resolve();
    };
    sidecarA.proc.stderr?.on('data', check);
    check();
  });
  const r = await get(sidecarA.url, 'svc-b');
  assert.equal(r.status, 200, r.body);
  assert.equal((JSON.parse(r.body) as Echo).headers['x-forwarded-client-cert'], `By=${ID_B};Hash=${certHash(a2.certPem)};URI=${ID_A}`);
});

test('outbound: an idle mesh mTLS connection outlives --upstream-idle-timeout (no new handshake after 2.5 s idle, where plaintext pools close after 1 s)', { timeout: 20_000 }, async () => {
  const a = await startMeshlet(serviceEntryYaml('svc-b', [{ port: strictPort }]) + istioMutualYaml('svc-b', [ID_B]), {
    workers: 1, args: [...identityArgs(identityDir(makeLeaf(ca, ID_A), ca.certPem)), '--upstream-idle-timeout', '1s'],
  });
  try {
    assert.equal((await get(a.url, 'svc-b')).status, 200);
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal((await get(a.url, 'svc-b')).status, 200);
    const w = await waitWorkers(a, (x) => sum(x, (y) => y.outbound.full + y.outbound.resumed) >= 1);
    await new Promise((r) => setTimeout(r, 1100)); // one more report: a second handshake would show by now
    const after = await workersTls(a);
    assert.deepEqual(after.map((x) => x.outbound), [{ full: 1, resumed: 0 }], `one handshake for both requests: ${JSON.stringify(w)}`);
  } finally {
    await a.stop();
  }
});
