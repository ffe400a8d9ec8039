// `meshlet demo --mesh`: the seed canary through a mesh store. A local etcd (loopback, temp data
// dir), the seed's DestinationRule and VirtualService exactly as written plus one ServiceEntry
// selecting `app: product-service`, applied with the same validation as `meshlet apply --store`;
// two product-service instances (v1, v2), each behind its own sidecar that registers itself; a
// client sidecar; a burst through it, the observed split and the mesh status table. No IP is
// written anywhere: the endpoints are the registered workloads.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { pickLoopbackPort } from '../control/port-check.js';
import { portOf, startProductApp } from '../demo/product-app.js';
import { EtcdClient } from '../store/etcd/client.js';
import { storeKeys } from '../store/keys.js';
import { etcdMissing, startEtcd } from '../store/local-etcd.js';
import { parseStatus, renderStatusTable, type SidecarStatus } from '../store/status.js';
import { applyToStore } from '../store/store-apply.js';
import { newestRevision } from '../store/sync.js';
import { DEFAULT_RUN_OPTIONS, startSidecar, type Sidecar } from './run.js';

const SEED = fileURLToPath(new URL('../../../src/demo/seed-canary.yaml', import.meta.url));
const BURST = 1000;
const PREFIX = '/meshlet';

const SELECTOR_SE = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: product-service
spec:
  hosts: [product-service]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - {number: 80, name: http, protocol: HTTP}
  workloadSelector:
    labels: {app: product-service}
`;

function sidecarYaml(name: string, egress: number, ingress: { port: number; app: number } | null): string {
  return `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: ${name}}
spec:
  egress:
  - port: {number: ${egress}, protocol: HTTP, name: http-out}
    bind: 127.0.0.1
    hosts: ["*/*"]
${ingress === null ? '' : `  ingress:
  - port: {number: ${ingress.port}, protocol: HTTP, name: http}
    bind: 127.0.0.1
    defaultEndpoint: 127.0.0.1:${ingress.app}
`}`;
}

async function waitFor(what: string, ok: () => boolean | Promise<boolean>, withinMs = 20_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`demo: ${what} within ${withinMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function runMeshDemo(): Promise<void> {
  const missing = etcdMissing();
  if (missing !== null) throw new Error(`demo --mesh needs etcd: ${missing}`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshlet-demo-mesh-'));
  const etcd = await startEtcd(1);
  const url = { endpoints: etcd.endpoints, prefix: PREFIX };
  const client = new EtcdClient({ endpoints: etcd.endpoints, tls: null });
  const keys = storeKeys(PREFIX);
  const sidecars: Sidecar[] = [];
  const apps = [await startProductApp('v1'), await startProductApp('v2')];
  const cleanup = async (): Promise<void> => {
    for (const s of sidecars.reverse()) await s.stop();
    for (const app of apps) app.close();
    client.close();
    await etcd.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const applied = await applyToStore(client, keys, [{ file: SEED, text: readFileSync(SEED, 'utf8') }, { file: 'service-entry.yaml', text: SELECTOR_SE }], { dryRun: false, ifGeneration: null });
    if (!applied.ok) throw new Error(`demo: the seed canary was rejected: ${applied.errors.map((e) => e.message).join('; ')}`);
    const base = { ...DEFAULT_RUN_OPTIONS, workers: 1, logLevel: 'warn' };
    const storeOptions = (register: string | null, admin: number) => ({
      url, tls: null, timeoutMs: 10_000, cacheDir: path.join(dir, `cache-${admin}`), register, propagationMs: 1000,
    });
    for (const [i, version] of ['v1', 'v2'].entries()) {
      const admin = await pickLoopbackPort();
      const files = [path.join(dir, `sidecar-${version}.yaml`), path.join(dir, `workload-${version}.yaml`)] as const;
      writeFileSync(files[0], sidecarYaml(`product-service-${version}`, await pickLoopbackPort(), { port: await pickLoopbackPort(), app: portOf(apps[i]!) }));
      writeFileSync(files[1], `apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: product-service-${version}}\nspec:\n  labels: {app: product-service, version: ${version}}\n`);
      sidecars.push(await startSidecar({ ...base, configFiles: [files[0]], adminPort: admin, store: storeOptions(files[1], admin) }));
    }
    const clientFile = path.join(dir, 'sidecar-client.yaml');
    const outbound = await pickLoopbackPort();
    writeFileSync(clientFile, sidecarYaml('client', outbound, null));
    const adminPort = DEFAULT_RUN_OPTIONS.adminPort;
    const front = await startSidecar({ ...base, configFiles: [clientFile], adminPort, store: storeOptions(null, adminPort) });
    sidecars.push(front);
    // registration and its propagation are events inside other sidecars: wait on what the client serves
    await waitFor('both versions registered and seen by the client sidecar', () => {
      const clusters = front.snapshot.clusters.filter((c) => c.host.startsWith('product-service.') && c.subset !== null);
      return clusters.length === 2 && clusters.every((c) => c.endpoints.length === 1);
    });
    const counts = new Map<string, number>();
    for (let i = 0; i < BURST; i++) {
      const res = await request(`http://127.0.0.1:${outbound}/products/${i}`, { headers: { host: 'product-service' } });
      const body = (await res.body.json()) as { version?: string };
      const key = `${res.statusCode} ${body.version ?? '?'}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const config = await client.range(keys.config);
    const status = await client.range(keys.status);
    const rows = status.kvs.map((kv) => parseStatus(kv.value)).filter((s): s is SidecarStatus => s !== null);
    const registered = (await client.range(keys.workloads)).kvs.map((kv) => `           ${kv.key}`);
    const lines = [...counts].sort().map(([k, n]) => `  ${k.padEnd(8)} ${String(n).padStart(5)}  (${((100 * n) / BURST).toFixed(1)}%)`);
    const store = `etcd://${etcd.endpoints.join(',')}${PREFIX}`;
    process.stdout.write(`meshlet demo --mesh: the seed canary through a mesh store (90% v1 / 10% v2), no endpoint written by hand
  store:   ${store} (etcd ${etcd.members[0]?.dataDir}, loopback)
  config:  ${SEED} + a ServiceEntry selecting app: product-service (generation ${newestRevision(config.kvs)})
  registered workloads:
${registered.join('\n')}
  client sidecar: outbound 127.0.0.1:${outbound}, admin http://127.0.0.1:${adminPort}/ready

observed split over ${BURST} requests:
${lines.join('\n')}

${renderStatusTable(rows, newestRevision(config.kvs))}
try it:
  curl -i -H 'Host: product-service' http://127.0.0.1:${outbound}/products/1
  meshlet mesh status --store ${store}

serving until Ctrl-C
`);
  } catch (err) {
    await cleanup();
    throw err;
  }
  const stop = (): void => {
    void cleanup().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
