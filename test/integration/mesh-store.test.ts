// Config from etcd: `meshlet apply --store` validates the whole resulting set and writes it in one
// transaction; three sidecars watching the prefix serve each new generation; conflicts, rejected
// sets and bad keys write or break nothing; local files win over the store's resources.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { EtcdClient } from '../../src/store/etcd/client.js';
import { etcdMissing, startEtcd, type EtcdCluster } from '../helpers/etcd.js';
import { appliedGeneration, get, newClient, PREFIX, startMeshSidecar, statuses, storeApply, waitApplied, waitForKeys, type MeshSidecar } from '../helpers/mesh.js';
import { runCli, serviceEntryYaml, virtualServiceYaml, writeConfig } from '../helpers/meshlet.js';
import { echoUpstream, type Upstream } from '../helpers/upstream.js';

const skip = etcdMissing();
let etcd: EtcdCluster;
let client: EtcdClient;
let url: string;
let a: Upstream;
let b: Upstream;
const sidecars: MeshSidecar[] = [];

const routeTo = (host: string): string => virtualServiceYaml('shop', `route: [{destination: {host: ${host}}}]`);

before(async () => {
  if (skip !== null) return;
  etcd = await startEtcd(1);
  url = etcd.url(PREFIX.slice(1));
  client = newClient(etcd.endpoints);
  a = await echoUpstream('a');
  b = await echoUpstream('b');
});
after(async () => {
  await Promise.all(sidecars.map((s) => s.stop()));
  client?.close();
  await etcd?.stop();
  await a?.close();
  await b?.close();
});

test('apply + watch: three sidecars serve each generation written to the store', { skip: skip ?? false, timeout: 60_000 }, async () => {
  const first = await storeApply(url, `${serviceEntryYaml('svc-a', [{ port: a.port }])}${serviceEntryYaml('svc-b', [{ port: b.port }])}${routeTo('svc-a')}`);
  const gen1 = appliedGeneration(first);
  assert.match(first.stdout, /added\s+VirtualService\/default\/shop/);
  const keys = (await client.range(`${PREFIX}/config/`)).kvs;
  assert.deepEqual(keys.map((kv) => kv.key).sort(), [
    `${PREFIX}/config/ServiceEntry/default/svc-a`, `${PREFIX}/config/ServiceEntry/default/svc-b`,
    `${PREFIX}/config/VirtualService/default/shop`, `${PREFIX}/config/generation`,
  ]);
  assert.ok(keys.every((kv) => kv.modRevision === gen1), 'one transaction: every key at the generation');
  sidecars.push(...await Promise.all([0, 1, 2].map(() => startMeshSidecar(url))));
  for (const s of sidecars) assert.equal((await get(s, 'shop')).body && ((await get(s, 'shop')).body as { name: string }).name, 'a');

  // a new generation reaches all three
  const dry = await storeApply(url, routeTo('svc-b'), ['--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /dry run against store generation \d+: would write\n\s+changed\s+VirtualService\/default\/shop\n\s+- .*svc-a.*\n\s+\+ .*svc-b/);
  assert.equal((await client.range(`${PREFIX}/config/`)).revision >= gen1, true);
  assert.equal((await client.get(`${PREFIX}/config/generation`)).kv?.modRevision, gen1, 'a dry run writes nothing');
  const gen2 = appliedGeneration(await storeApply(url, routeTo('svc-b')));
  await waitApplied(client, sidecars.map((s) => s.id), gen2);
  for (const s of sidecars) assert.equal(((await get(s, 'shop')).body as { name: string }).name, 'b');

  const status = await runCli(['mesh', 'status', '--store', url]);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, new RegExp(`store generation ${gen2}, 3 sidecars`));
  for (const s of sidecars) assert.match(status.stdout, new RegExp(`${s.id}\\s+-\\s+${gen2}\\s+SYNCED\\s+yes`));
});

test('--if-generation: a stale generation is refused and writes nothing', { skip: skip ?? false, timeout: 30_000 }, async () => {
  const before = (await client.get(`${PREFIX}/config/generation`)).kv?.modRevision as number;
  const stale = await storeApply(url, routeTo('svc-a'), ['--if-generation', String(before - 1)]);
  assert.equal(stale.code, 1);
  assert.match(stale.stderr, /the store changed meanwhile/);
  assert.equal((await client.get(`${PREFIX}/config/generation`)).kv?.modRevision, before);
  const current = await storeApply(url, routeTo('svc-a'), ['--if-generation', String(before)]);
  assert.ok(appliedGeneration(current) > before);
  const back = appliedGeneration(await storeApply(url, routeTo('svc-b')));
  await waitApplied(client, sidecars.map((s) => s.id), back);
});

test('a rejected set writes nothing: every error with its field path', { skip: skip ?? false, timeout: 30_000 }, async () => {
  const revision = (await client.range(`${PREFIX}/config/`)).revision;
  const bad = await storeApply(url, `${virtualServiceYaml('shop', 'route: [{destination: {host: svc-a}, weight: -1}]')}${virtualServiceYaml('other', 'timeout: soon\nroute: [{destination: {host: svc-a}}]')}`);
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /VirtualService\/shop: spec\.http\[0\]\.route\[0\]\.weight:/);
  assert.match(bad.stdout, /VirtualService\/other: spec\.http\[0\]\.timeout:/);
  assert.match(bad.stderr, /apply rejected; nothing written/);
  assert.equal((await client.range(`${PREFIX}/config/`)).revision, revision, 'the store revision did not move');
});

test('bad data in the store is skipped with its key; a set a sidecar rejects keeps the old config serving (REJECTED)', { skip: skip ?? false, timeout: 30_000 }, async () => {
  // hand-written keys, past meshlet apply: unparseable, wrong shape, unknown kind
  await client.put(`${PREFIX}/config/VirtualService/default/broken`, 'spec: [unclosed');
  await client.put(`${PREFIX}/config/notes`, 'hello');
  const rev = await client.put(`${PREFIX}/config/Deployment/default/web`, 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n');
  await waitApplied(client, sidecars.map((s) => s.id), rev);
  for (const s of sidecars) assert.equal(((await get(s, 'shop')).body as { name: string }).name, 'b', 'still serving');
  assert.match(sidecars[0]?.output() ?? '', /etcd:\/meshlet\/config\/VirtualService\/default\/broken.*skipped: YAML/);
  assert.match(sidecars[0]?.output() ?? '', /etcd:\/meshlet\/config\/notes.*skipped: not a <kind>\/<namespace>\/<name> key/);
  assert.match(sidecars[0]?.output() ?? '', /etcd:\/meshlet\/config\/Deployment\/default\/web.*skipped: kind Deployment/);
  // a well-formed resource with an invalid spec: the whole set is rejected on every sidecar
  const bad = await client.put(`${PREFIX}/config/VirtualService/default/shop`, 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: shop}\nspec: {hosts: [shop], http: [{route: [{destination: {host: svc-a}, weight: -5}]}]}\n');
  const kvs = await waitApplied(client, sidecars.map((s) => s.id), bad, 'REJECTED');
  for (const st of statuses(kvs)) assert.match(st.error ?? '', /etcd:\/meshlet\/config\/VirtualService\/default\/shop .*weight/);
  for (const s of sidecars) assert.equal(((await get(s, 'shop')).body as { name: string }).name, 'b', 'the old config keeps serving');
  const status = await runCli(['mesh', 'status', '--store', url]);
  assert.match(status.stdout, /REJECTED/);
  for (const k of ['VirtualService/default/broken', 'notes', 'Deployment/default/web']) await client.delete(`${PREFIX}/config/${k}`);
  const fixed = appliedGeneration(await storeApply(url, routeTo('svc-b')));
  await waitApplied(client, sidecars.map((s) => s.id), fixed);
});

test('local files win over the store: same Kind/namespace/name, with a warning', { skip: skip ?? false, timeout: 30_000 }, async () => {
  const local = writeConfig(routeTo('svc-a'));
  const s = await startMeshSidecar(url, { args: ['-c', local] });
  try {
    assert.equal(((await get(s, 'shop')).body as { name: string }).name, 'a', 'the local VirtualService');
    assert.match(s.output(), /etcd:\/meshlet\/config\/VirtualService\/default\/shop .*overridden by the local file/);
    // store changes still apply to what is not overridden
    const gen = appliedGeneration(await storeApply(url, serviceEntryYaml('svc-a', [{ port: b.port }])));
    await waitApplied(client, [s.id], gen);
    assert.equal(((await get(s, 'shop')).body as { name: string }).name, 'b', 'svc-a now points at b, from the store');
  } finally {
    await s.stop();
    appliedGeneration(await storeApply(url, serviceEntryYaml('svc-a', [{ port: a.port }])));
  }
});

test('meshlet delete: removes one resource in one transaction; sidecars stop routing it', { skip: skip ?? false, timeout: 30_000 }, async () => {
  // a dangling reference is a warning in today's checker (503 NC at request time), printed with the change
  const dangling = await runCli(['delete', 'ServiceEntry/svc-b', '--store', url, '--dry-run']);
  assert.equal(dangling.code, 0, dangling.stderr);
  assert.match(dangling.stdout, /VirtualService\/shop: spec\.http\[0\]\.route\[0\]\.destination\.host: no ServiceEntry for host svc-b/);
  const dry = await runCli(['delete', 'VirtualService/shop', '--store', url, '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /would write\n\s+removed\s+VirtualService\/default\/shop/);
  const del = await runCli(['delete', 'virtualservice/shop', '--store', url]);
  assert.equal(del.code, 0, del.stderr);
  const gen = Number(/store generation (\d+)/.exec(del.stdout)?.[1]);
  await waitApplied(client, sidecars.map((s) => s.id), gen);
  for (const s of sidecars) assert.equal((await get(s, 'shop')).status, 404);
  const missing = await runCli(['delete', 'VirtualService/shop', '--store', url]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /not in the store/);
  await waitForKeys(client, `${PREFIX}/config/`, (kvs) => !kvs.has(`${PREFIX}/config/VirtualService/default/shop`));
});
