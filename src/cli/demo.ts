// `meshlet demo` (what `npm start` runs): two product-service apps (v1, v2), meshlet with the
// seed's DestinationRule + VirtualService exactly as written plus a ServiceEntry giving the
// endpoints, a short burst through the outbound listener, the observed split, then keeps serving.
// `--mesh`: the same canary through a local etcd with self-registered instances (demo-mesh.ts).
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { portOf, startProductApp } from '../demo/product-app.js';
import { DEFAULT_RUN_OPTIONS, startSidecar } from './run.js';

const SEED = fileURLToPath(new URL('../../../src/demo/seed-canary.yaml', import.meta.url));
const BURST = 1000;

function serviceEntry(v1: number, v2: number): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: product-service
spec:
  hosts: [product-service]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - {number: 80, name: http, protocol: HTTP}
  endpoints:
  - {address: 127.0.0.1, ports: {http: ${v1}}, labels: {app: product-service, version: v1}}
  - {address: 127.0.0.1, ports: {http: ${v2}}, labels: {app: product-service, version: v2}}
`;
}

export async function runDemo(args: string[] = []): Promise<void> {
  if (args.length > 0 && !(args.length === 1 && args[0] === '--mesh')) throw new Error(`demo: unexpected argument ${args.join(' ')} (only --mesh)`);
  if (args[0] === '--mesh') return (await import('./demo-mesh.js')).runMeshDemo();
  const apps = [await startProductApp('v1'), await startProductApp('v2')];
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshlet-demo-'));
  const sePath = path.join(dir, 'service-entry.yaml');
  writeFileSync(sePath, serviceEntry(portOf(apps[0]!), portOf(apps[1]!)));
  const sidecar = await startSidecar({ ...DEFAULT_RUN_OPTIONS, workers: Math.min(2, DEFAULT_RUN_OPTIONS.workers), configFiles: [SEED, sePath], logLevel: 'warn' });
  const listener = sidecar.snapshot.listeners[0]!;
  const base = `http://${listener.bind}:${listener.port}`;

  const counts = new Map<string, number>();
  for (let i = 0; i < BURST; i++) {
    const res = await request(`${base}/products/${i}`, { headers: { host: 'product-service' } });
    const body = (await res.body.json()) as { version?: string };
    const key = `${res.statusCode} ${body.version ?? '?'}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const lines = [...counts].sort().map(([k, n]) => `  ${k.padEnd(8)} ${String(n).padStart(5)}  (${((100 * n) / BURST).toFixed(1)}%)`);
  process.stdout.write(`meshlet demo: seed canary (VirtualService product-service: 90% v1 / 10% v2)
  config:  ${SEED}
           ${sePath}
  apps:    v1 on 127.0.0.1:${portOf(apps[0]!)}, v2 on 127.0.0.1:${portOf(apps[1]!)}
  meshlet: outbound ${listener.bind}:${listener.port}, ${sidecar.supervisor.workerCount} workers, admin http://127.0.0.1:${DEFAULT_RUN_OPTIONS.adminPort}/ready

observed split over ${BURST} requests:
${lines.join('\n')}

try it:
  curl -i -H 'Host: product-service' ${base}/products/1

serving until Ctrl-C
`);
  const stop = (): void => {
    void sidecar.stop().then(() => {
      for (const app of apps) app.close();
      process.exit(0);
    });
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
