// The store's URL, key checks and layering, without etcd: what a store key becomes, why one is
// skipped, and which side wins when a local file and the store define the same resource.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { storeKeys } from '../../../src/store/keys.js';
import { layerSources, storeLayer } from '../../../src/store/layer.js';
import { parseStoreUrl, storeUrlFrom } from '../../../src/store/options.js';
import { displayState, renderStatusTable, type SidecarStatus } from '../../../src/store/status.js';

const keys = storeKeys('/meshlet');
const vs = (name: string, host = 'svc'): string => `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: ${name}}\nspec: {hosts: [${host}], http: [{route: [{destination: {host: ${host}}}]}]}\n`;

test('--store URL: endpoints (default port 2379), prefix, MESHLET_STORE, clear errors', () => {
  assert.deepEqual(parseStoreUrl('etcd://10.0.0.5:2379,10.0.0.6/meshlet'), { endpoints: ['10.0.0.5:2379', '10.0.0.6:2379'], prefix: '/meshlet' });
  assert.deepEqual(parseStoreUrl('etcd://a:1/x/y/'), { endpoints: ['a:1'], prefix: '/x/y' });
  assert.equal(parseStoreUrl('etcd://a:1').prefix, '/meshlet');
  assert.throws(() => parseStoreUrl('http://a:1/m'), /expected etcd:\/\/HOST:PORT/);
  assert.throws(() => parseStoreUrl('etcd://a:1,,b:2/m'), /empty endpoint/);
  assert.throws(() => parseStoreUrl('etcd://a:99999/m'), /bad port/);
  assert.deepEqual(storeUrlFrom(undefined, { MESHLET_STORE: 'etcd://e:1/p' }), { endpoints: ['e:1'], prefix: '/p' });
  assert.equal(storeUrlFrom(undefined, {}), null);
  assert.equal(storeUrlFrom('etcd://f:2/q', { MESHLET_STORE: 'etcd://e:1/p' })?.prefix, '/q', 'the flag wins');
});

test('store keys: one resource each, named by its key; anything else is skipped with the reason', () => {
  const config = new Map([
    [`${keys.config}VirtualService/default/good`, vs('good')],
    [`${keys.config}VirtualService/default/other`, vs('renamed')],
    [`${keys.config}VirtualService/default/two`, `${vs('two')}---\n${vs('three')}`],
    [`${keys.config}VirtualService/default/yaml`, 'spec: [unclosed'],
    [`${keys.config}Deployment/default/web`, 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n'],
    [`${keys.config}loose`, 'x'],
    [keys.generation, '{}'],
  ]);
  const layer = storeLayer(keys, { generation: 7, revision: 9, config, workloads: new Map([[`${keys.workloads}default/w`, vs('w')]]) });
  assert.deepEqual(layer.files.map((f) => f.resource), ['VirtualService/default/good']);
  const why = Object.fromEntries(layer.skipped.map((i) => [i.file, i.message]));
  assert.match(why[`etcd:${keys.config}VirtualService/default/other`] ?? '', /the value is VirtualService\/default\/renamed, the key says VirtualService\/default\/other/);
  assert.match(why[`etcd:${keys.config}VirtualService/default/two`] ?? '', /2 resources in one key/);
  assert.match(why[`etcd:${keys.config}VirtualService/default/yaml`] ?? '', /skipped: YAML/);
  assert.match(why[`etcd:${keys.config}Deployment/default/web`] ?? '', /kind Deployment .* not handled/);
  assert.match(why[`etcd:${keys.config}loose`] ?? '', /not a <kind>\/<namespace>\/<name> key/);
  assert.match(why[`etcd:${keys.workloads}default/w`] ?? '', /the value is VirtualService\/default\/w, the key says WorkloadEntry\/default\/w/);
  assert.equal(layer.skipped.length, 6, 'the generation marker is not a resource and not a problem');
});

test('layering: local files first; a store resource of the same Kind/namespace/name is left out, with a warning', () => {
  const layer = storeLayer(keys, { generation: 1, revision: 1, workloads: new Map(), config: new Map([
    [`${keys.config}VirtualService/default/a`, vs('a', 'from-store')], [`${keys.config}VirtualService/default/b`, vs('b')],
  ]) });
  const { files, warnings } = layerSources([{ file: 'local.yaml', text: vs('a', 'from-local') }], layer);
  assert.deepEqual(files.map((f) => f.file), ['local.yaml', `etcd:${keys.config}VirtualService/default/b`]);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]?.message ?? '', /overridden by the local file local\.yaml/);
  assert.equal(warnings[0]?.file, `etcd:${keys.config}VirtualService/default/a`);
});

test('mesh status: SYNCED, STALE behind the store, REJECTED with its error', () => {
  const s = (sidecar: string, generation: number, state: 'SYNCED' | 'REJECTED', error: string | null = null): SidecarStatus => ({
    sidecar, workload: null, generation, revision: generation, state, error, ready: true, version: '0.1.0', updated: new Date(0).toISOString(),
  });
  assert.equal(displayState(s('a', 5, 'SYNCED'), 5), 'SYNCED');
  assert.equal(displayState(s('a', 4, 'SYNCED'), 5), 'STALE');
  assert.equal(displayState(s('a', 5, 'REJECTED', 'x'), 5), 'REJECTED');
  const table = renderStatusTable([s('b', 4, 'SYNCED'), s('a', 5, 'REJECTED', 'error: bad weight\nmore')], 5, 61_000);
  assert.match(table, /^store generation 5, 2 sidecars\nSIDECAR\s+WORKLOAD\s+GENERATION\s+STATE/);
  assert.match(table, /\na\s+-\s+5\s+REJECTED\s+yes\s+61s\s+0\.1\.0\s+error: bad weight\nb\s+-\s+4\s+STALE/);
});
