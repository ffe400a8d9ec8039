// Static stability: with etcd stopped for 10 s under load, sidecars keep serving their last
// config and endpoints (0 failed requests), say so in their metrics, and resume the watch when it
// returns; a sidecar starting while the store is away serves the set saved by a previous run (or
// fails clearly without one); a registration whose lease is lost is put back under a new lease.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { defaultCacheDir } from '../../src/store/cache.js';
import type { EtcdClient } from '../../src/store/etcd/client.js';
import { etcdMissing, startEtcd, type EtcdCluster } from '../helpers/etcd.js';
import { appliedGeneration, get, newClient, PREFIX, startMeshSidecar, storeApply, waitApplied, waitForKeys, workloadYaml, type MeshSidecar } from '../helpers/mesh.js';
import { runMeshletExpectingExit, virtualServiceYaml, writeConfig } from '../helpers/meshlet.js';
import { freePort } from '../helpers/ports.js';
import { httpUpstream, type Upstream } from '../helpers/upstream.js';

const skip = etcdMissing();
let etcd: EtcdCluster;
let client: EtcdClient;
let url: string;
let app: Upstream;
let server: MeshSidecar;
let caller: MeshSidecar;

const SE = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api]
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: api}}
---
`;
const vs = (tag: string): string => virtualServiceYaml('api', `route: [{destination: {host: api}}]\nheaders: {response: {set: {x-config: ${tag}}}}`);

async function metric(m: MeshSidecar, name: string): Promise<number> {
  const res = await request(`http://127.0.0.1:${m.adminPort}/stats/prometheus`);
  const text = await res.body.text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? NaN : Number(line.split(' ')[1]);
}

/** Admin metrics have no event to wait on: poll, bounded. */
async function waitMetric(m: MeshSidecar, name: string, ok: (v: number) => boolean, withinMs = 10_000): Promise<number> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const v = await metric(m, name);
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${name} = ${v} after ${withinMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  if (skip !== null) return;
  etcd = await startEtcd(1);
  url = etcd.url(PREFIX.slice(1));
  client = newClient(etcd.endpoints);
  app = await httpUpstream((_req, res) => res.end('ok'));
  appliedGeneration(await storeApply(url, `${SE}${vs('one')}`));
  server = await startMeshSidecar(url, { app: app.port, register: workloadYaml('api', { app: 'api' }) });
  await waitForKeys(client, `${PREFIX}/workloads/`, (kvs) => kvs.size === 1);
  caller = await startMeshSidecar(url);
});
after(async () => {
  await caller?.stop();
  await server?.stop();
  client?.close();
  await etcd?.stop();
  await app?.close();
});

test('a lost lease: the registration is put back under a new one', { skip: skip ?? false, timeout: 30_000 }, async () => {
  const key = (await client.range(`${PREFIX}/workloads/`)).kvs[0];
  assert.ok(key !== undefined);
  await client.leaseRevoke(key.lease); // as etcd does when a lease expires: every key under it goes
  const back = await waitForKeys(client, `${PREFIX}/workloads/`, (kvs) => kvs.has(key.key), 15_000, 're-registration');
  const now = (await client.get(key.key)).kv;
  assert.ok(now !== null && now.lease !== key.lease, 'a new lease');
  assert.ok(back.revision > key.modRevision);
  assert.match(server.output(), /granting a new one/);
  await waitApplied(client, [caller.id], back.revision);
  assert.equal((await get(caller, 'api')).status, 200, 'the caller routes to it again');
});

test('etcd stopped for 10 s under load: 0 failed requests, connected 0 with a growing sync age, then the watch resumes', { skip: skip ?? false, timeout: 90_000 }, async () => {
  assert.equal(await waitMetric(caller, 'meshlet_store_connected', (v) => v === 1), 1);
  let failures: string[] = [];
  let ok = 0;
  let running = true;
  const loop = async (): Promise<void> => {
    while (running) {
      try {
        const r = await get(caller, 'api');
        if (r.status === 200 && r.headers['x-config'] === 'one') ok++;
        else failures.push(`${r.status} ${JSON.stringify(r.body)}`);
      } catch (err) { failures.push((err as Error).message); }
    }
  };
  const load = Promise.all([loop(), loop()]);
  await etcd.kill(0);
  const downAt = Date.now();
  assert.equal(await waitMetric(caller, 'meshlet_store_connected', (v) => v === 0), 0);
  assert.equal(await waitMetric(server, 'meshlet_store_connected', (v) => v === 0), 0);

  // a sidecar starting now: the set saved by a previous run, with a warning
  const cacheDir = defaultCacheDir(caller.adminPort);
  assert.equal(statSync(cacheDir).mode & 0o777, 0o700, 'the store cache dir is private');
  assert.equal(statSync(path.join(cacheDir, 'store-set.json')).mode & 0o777, 0o600);
  const late = await startMeshSidecar(url, { args: ['--store-cache', cacheDir, '--store-timeout', '1s'] });
  try {
    assert.match(late.output(), /mesh store unreachable at start: serving the store set saved locally/);
    const r = await get(late, 'api');
    assert.equal(r.status, 200, 'serves the saved config and endpoints');
  } finally {
    await late.stop();
  }
  // without a saved set: a clear error after --store-timeout
  const port = await freePort();
  const started = Date.now();
  const refused = await runMeshletExpectingExit(['run', '-c', writeConfig(`apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: s}\nspec: {egress: [{port: {number: ${port}, protocol: HTTP, name: o}, hosts: ["*/*"]}]}\n`),
    '--store', url, '--store-timeout', '1s', '--store-cache', mkdtempSync(path.join(os.tmpdir(), 'meshlet-empty-')), '--admin', `127.0.0.1:${await freePort()}`]);
  assert.equal(refused.code, 1);
  assert.match(refused.output, /mesh store etcd:\/\/127\.0\.0\.1:\d+\/meshlet unreachable .* after 1000 ms, and no saved store set in/);
  assert.ok(Date.now() - started < 8000);

  const age = await metric(caller, 'meshlet_store_last_sync_age_seconds');
  assert.ok(age > 0, `sync age ${age}`);
  await new Promise((r) => setTimeout(r, Math.max(0, 10_000 - (Date.now() - downAt)))); // the outage itself: 10 s
  await etcd.restart(0);
  await waitMetric(caller, 'meshlet_store_connected', (v) => v === 1, 15_000);
  running = false;
  await load;
  assert.deepEqual(failures.slice(0, 5), [], `${failures.length} failed of ${ok + failures.length}`);
  assert.ok(ok > 100, `${ok} requests served during the outage`);
  failures = [];
  // the watch resumed: a change made after the outage reaches both sidecars
  const gen = appliedGeneration(await storeApply(url, vs('two')));
  await waitApplied(client, [caller.id, server.id], gen);
  assert.equal((await get(caller, 'api')).headers['x-config'], 'two');
  assert.ok(await waitForKeys(client, `${PREFIX}/workloads/`, (kvs) => kvs.size === 1), 'the registration survived or was re-created');
});
