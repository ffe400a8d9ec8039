// The seed's canary YAML, byte for byte, plus a ServiceEntry: 90/10 across 2 workers; and
// relative weights (1:3 → 25/75) as Istio computes them.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Agent, request } from 'undici';
import { REPO_ROOT, serviceEntryYaml, startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { httpUpstream, type Upstream } from '../helpers/upstream.js';

const SEED = path.join(REPO_ROOT, 'test/fixtures/seed/seed-canary.yaml');
const DEPLOYMENTS = path.join(REPO_ROOT, 'test/fixtures/seed/seed-deployments.yaml');

let apps: Upstream[] = [];
let meshlet: Meshlet;

function versionApp(version: string): Promise<Upstream> {
  return httpUpstream((req, res) => {
    req.resume();
    res.end(version);
  });
}

before(async () => {
  apps = await Promise.all([versionApp('v1'), versionApp('v1'), versionApp('v2'), versionApp('w1'), versionApp('w3')]);
  const [a, b, c, w1, w3] = apps as [Upstream, Upstream, Upstream, Upstream, Upstream];
  const yaml = serviceEntryYaml('product-service', [
    { port: a.port, labels: { app: 'product-service', version: 'v1' } },
    { port: b.port, labels: { app: 'product-service', version: 'v1' } },
    { port: c.port, labels: { app: 'product-service', version: 'v2' } },
  ]) + serviceEntryYaml('weights', [
    { port: w1.port, labels: { version: 'w1' } },
    { port: w3.port, labels: { version: 'w3' } },
  ]) + `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: weights}
spec:
  host: weights
  subsets:
  - {name: w1, labels: {version: w1}}
  - {name: w3, labels: {version: w3}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: weights}
spec:
  hosts: [weights]
  http:
  - route:
    - destination: {host: weights, subset: w1}
      weight: 1
    - destination: {host: weights, subset: w3}
      weight: 3
`;
  meshlet = await startMeshlet(yaml, { workers: 2, files: [SEED, DEPLOYMENTS] });
});

after(async () => {
  await meshlet?.stop();
  await Promise.all(apps.map((a) => a.close()));
});

async function split(host: string, n: number): Promise<Map<string, number>> {
  // Many connections so both workers serve (the kernel spreads connections, not requests).
  const agent = new Agent({ connections: 16, pipelining: 1 });
  const counts = new Map<string, number>();
  let next = 0;
  async function lane(): Promise<void> {
    while (next < n) {
      next++;
      const res = await request(`${meshlet.url}/x`, { headers: { host }, dispatcher: agent });
      const body = await res.body.text();
      const key = res.statusCode === 200 ? body : `status ${res.statusCode}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  await Promise.all(Array.from({ length: 16 }, lane));
  await agent.close();
  return counts;
}

test('seed canary as written: v2 gets 10% ± 3 points over 3,000 requests across 2 workers', async () => {
  const counts = await split('product-service', 3000);
  assert.equal((counts.get('v1') ?? 0) + (counts.get('v2') ?? 0), 3000, `only v1/v2 answers expected: ${JSON.stringify([...counts])}`);
  const share = (counts.get('v2') ?? 0) / 3000;
  assert.ok(share >= 0.07 && share <= 0.13, `v2 share ${share}`);
});

test('the seed Deployments are skipped with a warning naming their kind', () => {
  const out = meshlet.output();
  assert.match(out, /Deployment\/product-service-v1/);
  assert.match(out, /Deployment\/product-service-v2/);
});

test('relative weights 1 and 3 give 25% / 75%', async () => {
  const counts = await split('weights', 2000);
  const share = (counts.get('w1') ?? 0) / 2000;
  assert.equal((counts.get('w1') ?? 0) + (counts.get('w3') ?? 0), 2000);
  assert.ok(share >= 0.21 && share <= 0.29, `w1 share ${share}`);
});

test('admin /workers lists both workers as ready', async () => {
  const res = await request(`http://127.0.0.1:${meshlet.adminPort}/workers`);
  const body = (await res.body.json()) as { workers: { ready: boolean }[] };
  assert.equal(body.workers.length, 2);
  assert.ok(body.workers.every((w) => w.ready));
});

test('admin /workers reports the process RSS, the control heap and each worker heap (once-a-second report)', async () => {
  type Mb = { used: number; committed: number };
  type Body = { process: { rssMb: number; controlHeapMb: Mb }; workers: { heapMb: Mb }[] };
  const deadline = Date.now() + 5000;
  let body: Body;
  do {
    body = (await (await request(`http://127.0.0.1:${meshlet.adminPort}/workers`)).body.json()) as Body;
  } while (body.workers.some((w) => w.heapMb.used === 0) && Date.now() < deadline && (await new Promise((r) => setTimeout(r, 200, true))));
  assert.ok(body.process.rssMb > 20, `rss ${body.process.rssMb}`);
  assert.ok(body.process.controlHeapMb.used > 1 && body.process.controlHeapMb.used <= body.process.controlHeapMb.committed);
  for (const w of body.workers) assert.ok(w.heapMb.used > 1 && w.heapMb.used <= w.heapMb.committed, JSON.stringify(w.heapMb));
});
