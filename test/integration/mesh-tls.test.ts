// TLS to etcd: --store-ca (server verification) with --store-cert/--store-key (client certificate,
// etcd --client-cert-auth) for apply, status and a sidecar; without them the store is unreachable.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { makeCa, makeLeaf } from '../helpers/certs.js';
import { etcdMissing, startEtcd, type EtcdCluster } from '../helpers/etcd.js';
import { appliedGeneration, get, PREFIX, startMeshSidecar, storeApply, type MeshSidecar } from '../helpers/mesh.js';
import { runCli, serviceEntryYaml, virtualServiceYaml } from '../helpers/meshlet.js';
import { echoUpstream, type Upstream } from '../helpers/upstream.js';

const skip = etcdMissing();
let etcd: EtcdCluster;
let up: Upstream;
let tlsArgs: string[];
let sidecar: MeshSidecar | null = null;

before(async () => {
  if (skip !== null) return;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshlet-etcd-tls-'));
  const ca = makeCa('etcd');
  const server = makeLeaf(ca, 'spiffe://cluster.local/etcd', { ips: ['127.0.0.1'] });
  const client = makeLeaf(ca, 'spiffe://cluster.local/ns/default/sa/meshlet');
  const f = (name: string, text: string): string => { const p = path.join(dir, name); writeFileSync(p, text, { mode: 0o600 }); return p; };
  const files = { ca: f('ca.pem', ca.certPem), cert: f('server.pem', server.certPem), key: f('server-key.pem', server.keyPem) };
  tlsArgs = ['--store-ca', files.ca, '--store-cert', f('client.pem', client.certPem), '--store-key', f('client-key.pem', client.keyPem)];
  etcd = await startEtcd(1, files);
  up = await echoUpstream('tls');
});
after(async () => {
  await sidecar?.stop();
  await etcd?.stop();
  await up?.close();
});

test('apply, status and a sidecar over TLS with a client certificate; refused without', { skip: skip ?? false, timeout: 40_000 }, async () => {
  const url = etcd.url(PREFIX.slice(1));
  appliedGeneration(await storeApply(url, `${serviceEntryYaml('svc', [{ port: up.port }])}${virtualServiceYaml('shop', 'route: [{destination: {host: svc}}]')}`, tlsArgs));
  sidecar = await startMeshSidecar(url, { args: tlsArgs });
  assert.equal(((await get(sidecar, 'shop')).body as { name: string }).name, 'tls');
  const status = await runCli(['mesh', 'status', '--store', url, ...tlsArgs]);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /1 sidecar\n/);
  const plain = await runCli(['mesh', 'status', '--store', url, '--store-timeout', '1s']);
  assert.equal(plain.code, 2, 'plaintext to a TLS etcd: unreachable');
  assert.match(plain.stderr, /etcd unreachable/);
  const noCert = await runCli(['mesh', 'status', '--store', url, '--store-timeout', '1s', '--store-ca', tlsArgs[1] as string]);
  assert.equal(noCert.code, 2, 'no client certificate: refused by etcd');
});
