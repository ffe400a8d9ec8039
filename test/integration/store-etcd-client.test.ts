// meshlet's etcd client against a real etcd: one transaction with a mod-revision compare, a
// prefix watch that resumes and resyncs after compaction, a lease whose keys vanish on expiry.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { EtcdClient } from '../../src/store/etcd/client.js';
import { LeaseKeeper } from '../../src/store/etcd/lease.js';
import { PrefixWatch, type WatchEvent } from '../../src/store/etcd/watch.js';
import { etcdMissing, startEtcd, type EtcdCluster } from '../helpers/etcd.js';

const skip = etcdMissing();
let etcd: EtcdCluster;
let client: EtcdClient;

before(async () => {
  if (skip !== null) return;
  etcd = await startEtcd(1);
  client = new EtcdClient({ endpoints: etcd.endpoints, tls: null });
});
after(async () => {
  client?.close();
  await etcd?.stop();
});

test('txn: applied only while the compared mod revision holds', { skip: skip ?? false, timeout: 20_000 }, async () => {
  const first = await client.txn([{ key: 't/gen', modRevision: 0 }], [{ put: { key: 't/gen', value: '' } }, { put: { key: 't/a', value: '1' } }]);
  assert.equal(first.succeeded, true);
  const stale = await client.txn([{ key: 't/gen', modRevision: 0 }], [{ put: { key: 't/a', value: '2' } }]);
  assert.equal(stale.succeeded, false, 'the compare fails once the key exists');
  const { kvs } = await client.range('t/');
  assert.deepEqual(kvs.map((kv) => [kv.key, kv.value]), [['t/a', '1'], ['t/gen', '']]);
  assert.equal(kvs[1]?.modRevision, first.revision, 'both puts share the transaction revision');
});

test('watch: events in order, then a compacted resume revision asks for a resync', { skip: skip ?? false, timeout: 20_000 }, async () => {
  const start = await client.put('w/a', '1');
  const events: WatchEvent[] = [];
  let resyncs = 0;
  let gotEvents: () => void = () => undefined;
  const two = new Promise<void>((r) => { gotEvents = r; });
  const watch = new PrefixWatch(client, ['w/'], start, {
    events: (_i, ev) => { events.push(...ev); if (events.length >= 3) gotEvents(); },
    connection: () => undefined,
    resync: async () => { resyncs++; return (await client.range('w/')).revision; },
  });
  watch.start();
  await client.put('w/b', '2');
  await client.delete('w/a');
  await two;
  assert.deepEqual(events.map((e) => `${e.type} ${e.kv.key}`), ['put w/a', 'put w/b', 'delete w/a']);
  watch.close();
  // history before the current revision is gone: a watch resuming from `start` must resync
  const now = await client.put('w/c', '3');
  await client.compact(now);
  let resynced: () => void = () => undefined;
  const done = new Promise<void>((r) => { resynced = r; });
  const late = new PrefixWatch(client, ['w/'], start, {
    events: () => undefined,
    connection: (up) => { if (up && resyncs > 0) resynced(); },
    resync: async () => { resyncs++; return (await client.range('w/')).revision; },
  });
  late.start();
  await done;
  assert.equal(resyncs, 1);
  late.close();
});

test('lease: keys under it are deleted when it is not kept alive', { skip: skip ?? false, timeout: 20_000 }, async () => {
  const keeper = new LeaseKeeper(client, 2, {
    attach: async (id) => { await client.put('l/key', 'x', id); },
    problem: (m) => assert.fail(m),
  });
  assert.equal(await keeper.start(), true);
  const lease = keeper.id as string;
  assert.equal((await client.get('l/key')).kv?.lease, lease);
  // kept alive past its TTL
  const gone = new Promise<number>((resolve) => {
    const w = new PrefixWatch(client, ['l/'], 0, {
      events: (_i, ev) => { if (ev.some((e) => e.type === 'delete')) { w.close(); resolve(Date.now()); } },
      connection: () => undefined,
      resync: async () => 0,
    });
    w.start();
  });
  await new Promise((r) => setTimeout(r, 3000)); // longer than the TTL: the keep-alive must have held it
  assert.notEqual((await client.get('l/key')).kv, null, 'kept alive beyond its 2 s TTL');
  const stoppedAt = Date.now();
  await keeper.close(false);
  const deletedAt = await gone;
  assert.ok(deletedAt - stoppedAt < 4000, `expired ${deletedAt - stoppedAt} ms after the last keep-alive`);
});
