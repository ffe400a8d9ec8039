// The workload registry: sidecars register their WorkloadEntry on a lease once their app serves;
// the seed's DestinationRule and VirtualService exactly as written plus one ServiceEntry with a
// workloadSelector split 90/10 across the registered v1 and v2 instances, with auto mTLS (the app
// sees the caller's SPIFFE id, no DestinationRule tls anywhere); a draining instance leaves the
// registry before it stops serving (no failed request); a killed one leaves when its lease expires.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import type { EtcdClient } from '../../src/store/etcd/client.js';
import { identityArgs, identityDir, makeCa, makeLeaf } from '../helpers/certs.js';
import { etcdMissing, startEtcd, type EtcdCluster } from '../helpers/etcd.js';
import { appliedGeneration, newClient, PREFIX, startMeshSidecar, storeApply, waitApplied, waitForKeys, workloadYaml, type MeshSidecar } from '../helpers/mesh.js';
import { REPO_ROOT, serviceEntryYaml } from '../helpers/meshlet.js';
import { freePort } from '../helpers/ports.js';
import { echoUpstream, type Upstream } from '../helpers/upstream.js';

const skip = etcdMissing();
const SEED = readFileSync(path.join(REPO_ROOT, 'test/fixtures/seed/seed-canary.yaml'), 'utf8');
const APP = path.join(REPO_ROOT, 'test/fixtures/apps/version-app.mjs');
const CLIENT_ID = 'spiffe://cluster.local/ns/default/sa/frontend';
const SERVER_ID = 'spiffe://cluster.local/ns/default/sa/product-service';
const SELECTING_SE = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: product-service}
spec:
  hosts: [product-service]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: product-service}}
---
`;

let etcd: EtcdCluster;
let client: EtcdClient;
let url: string;
let plain: Upstream;
const servers = new Map<string, MeshSidecar>();
let caller: MeshSidecar;

async function startInstance(name: string, version: string, serverArgs: string[]): Promise<MeshSidecar> {
  const appPort = await freePort();
  const register = workloadYaml(`product-service-${version}`, { app: 'product-service', version });
  // wrapper mode: the app starts once meshlet serves and listens 300 ms later; registration waits for it
  const s = await startMeshSidecar(url, {
    app: appPort, register, args: [...serverArgs, '--', process.execPath, APP],
    env: { ...process.env, APP_PORT: String(appPort), APP_VERSION: `${version}/${name}`, APP_DELAY_MS: '300' },
  });
  servers.set(name, s);
  return s;
}

const workloads = (): Promise<Map<string, string>> => client.range(`${PREFIX}/workloads/`).then((r) => new Map(r.kvs.map((kv) => [kv.key, kv.value])));

before(async () => {
  if (skip !== null) return;
  etcd = await startEtcd(1);
  url = etcd.url(PREFIX.slice(1));
  client = newClient(etcd.endpoints);
  plain = await echoUpstream('outside');
  appliedGeneration(await storeApply(url, `${SEED}\n---\n${SELECTING_SE}${serviceEntryYaml('outside', [{ port: plain.port }])}`));
  const ca = makeCa('mesh');
  const serverArgs = identityArgs(identityDir(makeLeaf(ca, SERVER_ID), ca.certPem));
  await Promise.all([startInstance('a', 'v1', serverArgs), startInstance('b', 'v1', serverArgs), startInstance('c', 'v2', serverArgs)]);
  await waitForKeys(client, `${PREFIX}/workloads/`, (kvs) => kvs.size === 3, 20_000, 'three registered workloads');
  caller = await startMeshSidecar(url, { args: identityArgs(identityDir(makeLeaf(ca, CLIENT_ID), ca.certPem)) });
});
after(async () => {
  await caller?.stop();
  await Promise.all([...servers.values()].map((s) => s.stop('SIGKILL')));
  client?.close();
  await etcd?.stop();
  await plain?.close();
});

async function burst(n: number, concurrency: number): Promise<{ versions: Map<string, number>; failures: string[]; xfcc: Set<string> }> {
  const versions = new Map<string, number>();
  const failures: string[] = [];
  const xfcc = new Set<string>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      next++;
      try {
        const res = await request(`http://127.0.0.1:${caller.port}/products/1`, { headers: { host: 'product-service' } });
        const text = await res.body.text();
        if (res.statusCode !== 200) { failures.push(`${res.statusCode} ${res.headers['x-meshlet-flags'] ?? ''} ${text}`); continue; }
        const body = JSON.parse(text) as { version: string; xfcc: string | null };
        const v = body.version.split('/')[0] as string;
        versions.set(v, (versions.get(v) ?? 0) + 1);
        xfcc.add(body.xfcc ?? 'none');
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { versions, failures, xfcc };
}

test('registered WorkloadEntries: defaults filled, identity annotated, registered only once the app serves', { skip: skip ?? false, timeout: 30_000 }, async () => {
  const c = servers.get('c') as MeshSidecar;
  const entry = JSON.parse((await workloads()).get(`${PREFIX}/workloads/default/product-service-v2-${c.id}`) as string) as {
    metadata: { annotations: Record<string, string> }; spec: { address: string; ports: Record<string, number>; labels: Record<string, string>; serviceAccount: string };
  };
  assert.equal(entry.spec.address, '127.0.0.1', 'the inbound listener bind address');
  assert.deepEqual(entry.spec.ports, { http: c.inboundPort }, 'the Sidecar ingress port by name');
  assert.deepEqual(entry.spec.labels, { app: 'product-service', version: 'v2' });
  assert.equal(entry.spec.serviceAccount, 'product-service', 'from the SPIFFE identity');
  assert.equal(entry.metadata.annotations['meshlet.io/spiffe-id'], SERVER_ID);
  const out = c.output();
  assert.ok(out.indexOf('app listening') >= 0 && out.indexOf('app listening') < out.indexOf('"msg":"workload registered"'), `registered after the app listened:\n${out}`);
  const lease = (await client.get(`${PREFIX}/workloads/default/product-service-v2-${c.id}`)).kv?.lease;
  assert.notEqual(lease, '0', 'attached to a lease');
});

test('seed canary over registered workloads: ≈90/10 over 2,000 requests, auto mTLS with the caller\'s SPIFFE id', { skip: skip ?? false, timeout: 60_000 }, async () => {
  const { versions, failures, xfcc } = await burst(2000, 16);
  assert.deepEqual(failures, []);
  const v2 = versions.get('v2') ?? 0;
  assert.equal((versions.get('v1') ?? 0) + v2, 2000);
  assert.ok(v2 >= 150 && v2 <= 250, `v2 got ${v2} of 2000 (expected ≈200)`);
  assert.equal(xfcc.size, 1, [...xfcc].join(' | '));
  assert.match([...xfcc][0] as string, new RegExp(`URI=${CLIENT_ID}`), 'the app saw the caller\'s SPIFFE id over mTLS');
  // each server's workload comes from its --register WorkloadEntry and reaches the caller's metrics
  // through the metadata exchange (the caller itself names no workload: "unknown")
  const prom = await (await request(`http://127.0.0.1:${caller.adminPort}/stats/prometheus`)).body.text();
  const seen = new Set<string>();
  for (const m of prom.matchAll(/^istio_requests_total\{([^}]*)\}/gm)) {
    const l = m[1] as string;
    if (!l.includes('reporter="source"') || !l.includes('response_code="200"')) continue;
    seen.add(['source_workload', 'destination_workload', 'destination_version', 'destination_principal', 'destination_canonical_service']
      .map((k) => new RegExp(`${k}="([^"]*)"`).exec(l)?.[1]).join(' '));
  }
  assert.deepEqual([...seen].filter((x) => x.includes('product-service')).sort(), [
    `unknown product-service-v1 v1 ${SERVER_ID} product-service`, `unknown product-service-v2 v2 ${SERVER_ID} product-service`,
  ]);
  // an endpoint that is not a registered workload is reached in plaintext
  const res = await request(`http://127.0.0.1:${caller.port}/`, { headers: { host: 'outside' } });
  assert.equal(res.statusCode, 200);
  assert.equal(((await res.body.json()) as { headers: Record<string, string> }).headers['x-forwarded-client-cert'], undefined);
});

test('an explicit DestinationRule tls wins over auto mTLS', { skip: skip ?? false, timeout: 30_000 }, async () => {
  const gen = appliedGeneration(await storeApply(url, `${SELECTING_SE.replace('name: product-service}', 'name: v1-direct}').replace('hosts: [product-service]', 'hosts: [v1-direct]')}apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: v1-direct}
spec:
  host: v1-direct
  trafficPolicy: {tls: {mode: DISABLE}}
`));
  await waitApplied(client, [caller.id], gen);
  const res = await request(`http://127.0.0.1:${caller.port}/`, { headers: { host: 'v1-direct' } });
  assert.equal(res.statusCode, 200);
  assert.equal(((await res.body.json()) as { xfcc: string | null }).xfcc, null, 'plaintext to the server sidecar: no client certificate');
});

test('drain: the entry is deleted first, inbound serves until peers have seen it: no failed request', { skip: skip ?? false, timeout: 60_000 }, async () => {
  const b = servers.get('b') as MeshSidecar;
  const key = `${PREFIX}/workloads/default/product-service-v1-${b.id}`;
  const load = burst(1500, 4);
  await new Promise((r) => setTimeout(r, 200)); // let the load start (any request may be in flight at SIGTERM)
  // the registry as it is before the signal: the wait below returns the delete's own revision (a
  // read after it could return a later one, of status writes the sidecars do not watch)
  const registered = await client.range(`${PREFIX}/workloads/`);
  assert.ok(registered.kvs.some((kv) => kv.key === key), 'registered before the drain');
  const removed = waitForKeys(client, `${PREFIX}/workloads/`, (kvs) => !kvs.has(key), 15_000, `${key} deleted`, registered.revision);
  const exited = b.stop('SIGTERM');
  const deletedRevision = (await removed).revision;
  assert.equal(b.proc.exitCode, null, 'still running (serving inbound) when the entry was gone');
  await waitApplied(client, [caller.id], deletedRevision);
  assert.equal(await exited, 0);
  servers.delete('b');
  const { failures, versions } = await load;
  assert.deepEqual(failures, [], 'no request failed while the instance drained');
  assert.equal((versions.get('v1') ?? 0) + (versions.get('v2') ?? 0), 1500);
  assert.match(b.output(), /workload deregistered; inbound serves until peers have seen it/);
});

test('kill -9: the entry leaves the registry when its lease expires (TTL 10 s)', { skip: skip ?? false, timeout: 40_000 }, async () => {
  const a = servers.get('a') as MeshSidecar;
  const key = `${PREFIX}/workloads/default/product-service-v1-${a.id}`;
  assert.ok((await workloads()).has(key));
  const killedAt = Date.now();
  await a.stop('SIGKILL');
  servers.delete('a');
  await waitForKeys(client, `${PREFIX}/workloads/`, (kvs) => !kvs.has(key), 20_000, `${key} expired`);
  const after = Date.now() - killedAt;
  assert.ok(after <= 11_500, `removed ${after} ms after kill -9 (lease TTL 10 s)`);
  const status = await client.range(`${PREFIX}/status/`);
  assert.ok(!status.kvs.some((kv) => kv.key.endsWith(a.id)), 'its status left with the lease');
});
