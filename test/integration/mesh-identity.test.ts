// The mesh as a user runs it: `meshlet ca serve` issues identities to two sidecars that join with
// one-time tokens (`--ca-url --ca-token --identity`); app A → sidecar A → mTLS → sidecar B (STRICT,
// AuthorizationPolicy by principal, path, method) → app B. Certificates live 6 s, so both sidecars
// renew several times while requests flow: not one request may fail. A token cannot be used twice.
// B's key is ECDSA P-256 (--identity-key-type), A's RSA 2048: a mixed mesh, both renewing.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Pool } from 'undici';
import { get } from '../helpers/http.js';
import { readFileSync } from 'node:fs';
import { istioMutualYaml, peerAuthenticationYaml } from '../helpers/certs.js';
import { tlsGet } from '../helpers/tls-client.js';
import { runCli, serviceEntryYaml, startCaServe, startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { freePort } from '../helpers/ports.js';
import { echoUpstream, type Upstream } from '../helpers/upstream.js';

const ID_A = 'spiffe://cluster.local/ns/shop/sa/frontend';
const ID_B = 'spiffe://cluster.local/ns/shop/sa/orders';
const TTL = '6s';

let caDir: string;
let serve: ChildProcess;
let caUrl: string;
let appB: Upstream;
let sidecarA: Meshlet;
let sidecarB: Meshlet;
let inboundB: number;

async function token(identity: string): Promise<string> {
  const r = await runCli(['ca', 'token', '--dir', caDir, '--identity', identity]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

function caArgs(identity: string, tok: string): string[] {
  return ['--ca-url', caUrl, '--ca-token', tok, '--identity', identity, '--ca-root', path.join(caDir, 'ca.pem'), '--identity-ttl', TTL];
}

/** resolves once `m` has logged `text` `times` times (log lines are events; bounded by the test timeout) */
function logged(m: Meshlet, text: string, times: number): Promise<void> {
  const count = (): number => m.output().split(text).length - 1;
  return new Promise((resolve) => {
    if (count() >= times) return resolve();
    const check = (): void => {
      if (count() < times) return;
      m.proc.stderr?.off('data', check);
      m.proc.stdout?.off('data', check);
      resolve();
    };
    m.proc.stderr?.on('data', check);
    m.proc.stdout?.on('data', check);
  });
}

before(async () => {
  caDir = path.join(mkdtempSync(path.join(os.tmpdir(), 'meshlet-mesh-')), 'ca');
  const init = await runCli(['ca', 'init', '--dir', caDir]);
  assert.equal(init.code, 0, init.stderr);
  const ca = await startCaServe(caDir);
  serve = ca.proc;
  caUrl = ca.url;
  appB = await echoUpstream('orders-app');
  const inbound = await freePort();
  inboundB = inbound;
  const egressB = await freePort();
  sidecarB = await startMeshlet(`apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: orders, namespace: shop}
spec:
  ingress:
  - port: {number: ${inbound}, protocol: HTTP, name: http-in}
    defaultEndpoint: 127.0.0.1:${appB.port}
  egress:
  - port: {number: ${egressB}, protocol: HTTP}
    hosts: ["*/*"]
---
${peerAuthenticationYaml('STRICT')}apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: orders}
spec:
  action: ALLOW
  rules:
  - from: [{source: {principals: ["cluster.local/ns/shop/sa/frontend"]}}]
    to: [{operation: {methods: [GET], paths: ["/orders*"]}}]
`, { noSidecar: true, workers: 2, args: [...caArgs(ID_B, await token(ID_B)), '--identity-key-type', 'ecdsa-p256'] });
  sidecarA = await startMeshlet(serviceEntryYaml('orders', [{ port: inbound }]) + istioMutualYaml('orders', [ID_B]), {
    workers: 2, args: caArgs(ID_A, await token(ID_A)),
  });
});

after(async () => {
  await Promise.all([sidecarA?.stop(), sidecarB?.stop()]);
  await appB?.close();
  serve?.kill('SIGTERM');
  if (serve !== undefined && serve.exitCode === null) await once(serve, 'exit');
});

test('identities from the mesh CA: B\'s app sees A\'s SPIFFE id; authorization by principal, path and method', async () => {
  const r = await get(`${sidecarA.url}/orders/1`, 'orders');
  assert.equal(r.status, 200, r.body);
  const echo = JSON.parse(r.body) as { headers: Record<string, string> };
  assert.match(echo.headers['x-forwarded-client-cert'] ?? '', new RegExp(`^By=${ID_B};Hash=[0-9a-f]{64};URI=${ID_A}$`));
  const wrongPath = await get(`${sidecarA.url}/admin`, 'orders');
  assert.equal(wrongPath.status, 403);
  assert.equal(wrongPath.body, 'RBAC: access denied');
  assert.equal((await get(`${sidecarA.url}/orders/1`, 'orders', { method: 'DELETE' })).status, 403);
});

test('B\'s identity from the CA is ECDSA P-256, A\'s RSA 2048, and they talk; a client with an ECDSA certificate of `ca issue` is served too', async () => {
  const out = path.join(path.dirname(caDir), 'ecdsa-client');
  const client = 'spiffe://cluster.local/ns/shop/sa/frontend';
  const issued = await runCli(['ca', 'issue', '--dir', caDir, '--identity', client, '--key-type', 'ecdsa-p256', '--ttl', '10m', '--out', out]);
  assert.equal(issued.code, 0, issued.stderr);
  const creds = { ca: readFileSync(path.join(out, 'ca.pem'), 'utf8'), cert: readFileSync(path.join(out, 'cert.pem'), 'utf8'), key: readFileSync(path.join(out, 'key.pem'), 'utf8') };
  const r = await tlsGet(inboundB, { ...creds, path: '/orders/2', host: 'orders' });
  assert.equal(r.status, 200, r.body);
  const key = r.serverCert?.publicKey;
  assert.equal(key?.asymmetricKeyType, 'ec');
  assert.equal(key?.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.match((JSON.parse(r.body) as { headers: Record<string, string> }).headers['x-forwarded-client-cert'] ?? '', new RegExp(`URI=${client}$`));
  const viaA = await get(`${sidecarA.url}/orders/3`, 'orders');
  assert.equal(viaA.status, 200, viaA.body);
});

test('another principal (a third sidecar with its own CA identity) is denied by B\'s policy', async () => {
  const intruder = 'spiffe://cluster.local/ns/shop/sa/intruder';
  const other = await startMeshlet(serviceEntryYaml('orders', [{ port: inboundB }]) + istioMutualYaml('orders', [ID_B]), {
    workers: 1, args: caArgs(intruder, await token(intruder)),
  });
  try {
    const r = await get(`${other.url}/orders/1`, 'orders');
    assert.equal(r.status, 403);
    assert.equal(r.body, 'RBAC: access denied');
  } finally {
    await other.stop();
  }
});

test('a join token cannot be used twice', async () => {
  const tok = await token('spiffe://cluster.local/ns/shop/sa/once');
  const first = await startMeshlet('', { workers: 1, args: caArgs('spiffe://cluster.local/ns/shop/sa/once', tok) });
  await first.stop();
  const again = await startMeshlet('', { workers: 1, args: caArgs('spiffe://cluster.local/ns/shop/sa/once', tok) }).then(
    async (m) => { await m.stop(); return 'started'; },
    (err: Error) => err.message,
  );
  assert.match(again, /join token already used/);
});

test(`rotation under load: certificates of ${TTL} renewed by both sidecars while requests flow, zero failures`, { timeout: 60_000 }, async () => {
  const pool = new Pool(sidecarA.url, { connections: 4 });
  let ok = 0;
  const failures: string[] = [];
  let stop = false;
  const loop = async (): Promise<void> => {
    while (!stop) {
      try {
        const r = await pool.request({ path: '/orders/x', method: 'GET', headers: { host: 'orders' } });
        await r.body.dump();
        if (r.statusCode === 200) ok++;
        else failures.push(String(r.statusCode));
      } catch (err) {
        failures.push(String(err));
      }
    }
  };
  const loops = Promise.all([loop(), loop(), loop(), loop()]);
  const fromA = sidecarA.output().split('workload identity rotated').length - 1;
  const fromB = sidecarB.output().split('workload identity rotated').length - 1;
  // two renewals each, under load (each certificate lives 6 s, renewed at 80%)
  await Promise.all([logged(sidecarA, 'workload identity rotated', fromA + 2), logged(sidecarB, 'workload identity rotated', fromB + 2)]);
  stop = true;
  await loops;
  await pool.close();
  assert.deepEqual(failures, []);
  assert.ok(ok > 50, `${ok} requests`);
});
