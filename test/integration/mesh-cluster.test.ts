// A 3-member etcd cluster with one member killed in the middle of a run of applies: every apply
// succeeds on the remaining members, each gets a new generation, the sidecar ends on the last one,
// and the killed member, restarted, holds every write.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { EtcdClient } from '../../src/store/etcd/client.js';
import { etcdMissing, startEtcd, type EtcdCluster } from '../helpers/etcd.js';
import { appliedGeneration, get, newClient, PREFIX, startMeshSidecar, storeApply, waitApplied, type MeshSidecar } from '../helpers/mesh.js';
import { serviceEntryYaml, virtualServiceYaml } from '../helpers/meshlet.js';
import { echoUpstream, type Upstream } from '../helpers/upstream.js';

const skip = etcdMissing();
let etcd: EtcdCluster;
let client: EtcdClient;
let url: string;
let up: Upstream;
let sidecar: MeshSidecar;

const vs = (i: number): string => virtualServiceYaml('shop', `route: [{destination: {host: shop}}]\nheaders: {response: {set: {x-apply: "${i}"}}}`);

before(async () => {
  if (skip !== null) return;
  etcd = await startEtcd(3);
  url = etcd.url(PREFIX.slice(1));
  client = newClient(etcd.endpoints);
  up = await echoUpstream('shop');
  appliedGeneration(await storeApply(url, `${serviceEntryYaml('shop', [{ port: up.port }])}${vs(0)}`));
  sidecar = await startMeshSidecar(url);
});
after(async () => {
  await sidecar?.stop();
  client?.close();
  await etcd?.stop();
  await up?.close();
});

test('one member of three killed during applies: nothing lost', { skip: skip ?? false, timeout: 120_000 }, async () => {
  const generations: number[] = [];
  for (let i = 1; i <= 8; i++) {
    // the first endpoint (the one every client tries first) dies after the third apply
    if (i === 4) await etcd.kill(0);
    generations.push(appliedGeneration(await storeApply(url, vs(i))));
  }
  assert.deepEqual([...generations].sort((x, y) => x - y), generations, 'generations increase');
  await waitApplied(client, [sidecar.id], generations[7] as number, 'SYNCED', 20_000)
    .catch((err: Error) => { throw new Error(`${err.message}\nsidecar output:\n${sidecar.output().slice(-4000)}`); });
  assert.equal((await get(sidecar, 'shop')).headers['x-apply'], '8', 'the sidecar serves the last apply');
  await etcd.restart(0);
  const only0 = new EtcdClient({ endpoints: [etcd.endpoints[0] as string], tls: null });
  try {
    // a linearizable read through the restarted member: it has caught up with every write
    const kv = (await only0.get(`${PREFIX}/config/VirtualService/default/shop`)).kv;
    assert.match(kv?.value ?? '', /x-apply: "8"/);
    assert.equal(kv?.modRevision, generations[7]);
  } finally {
    only0.close();
  }
});
