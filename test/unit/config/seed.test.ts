// The seed canary (DestinationRule + VirtualService 90/10) and the seed Deployments load as
// written; with a ServiceEntry the route resolves to v1/v2 clusters with the right endpoints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatIssue, loadAndCompile } from '../../../src/config/index.js';
import { errors, fixture, repoRoot, warnings } from './helpers.js';

const CANARY = fixture('seed', 'seed-canary.yaml');
const DEPLOYMENTS = fixture('seed', 'seed-deployments.yaml');
const SE = fixture('config', 'product-service-se.yaml');

test('fixture copies of the seed are byte-identical to ../shared/seed when it is present', (t) => {
  const shared = join(repoRoot(), '..', 'shared', 'seed');
  if (!existsSync(shared)) return t.skip('no ../shared/seed in this checkout');
  for (const f of ['seed-canary.yaml', 'seed-deployments.yaml']) {
    assert.deepEqual(readFileSync(fixture('seed', f)), readFileSync(join(shared, f)), f);
  }
});

test('seed canary + ServiceEntry: 90/10 route to v1 and v2 clusters with the right endpoints', async () => {
  const r = await loadAndCompile([CANARY, SE], 7);
  assert.deepEqual(errors(r), [], r.issues.map(formatIssue).join('\n'));
  assert.deepEqual(warnings(r), []);
  const s = r.snapshot;
  assert.ok(s);
  assert.equal(s.generation, 7);
  assert.equal(s.virtualHosts.length, 1, 'the VirtualService covers the ServiceEntry host: no default vhost');
  const vh = s.virtualHosts[0]!;
  assert.deepEqual(vh.hosts, [
    'product-service', 'product-service.default', 'product-service.default.svc', 'product-service.default.svc.cluster.local',
  ]);
  assert.equal(vh.routes.length, 1);
  const route = vh.routes[0]!;
  assert.equal(route.name, 'product-service.0');
  assert.equal(route.source, 'VirtualService/default/product-service');
  assert.deepEqual(route.matches, []);
  assert.equal(route.totalWeight, 100);
  const [v1, v2] = route.destinations ?? [];
  assert.ok(v1 && v2);
  assert.deepEqual([v1.weight, v1.subset, v1.unresolved, v2.weight, v2.subset, v2.unresolved], [90, 'v1', null, 10, 'v2', null]);
  const c1 = s.clusters[v1.clusterId]!;
  const c2 = s.clusters[v2.clusterId]!;
  assert.equal(c1.id, v1.clusterId);
  assert.equal(c1.name, 'outbound|80|v1|product-service.default.svc.cluster.local');
  assert.equal(c2.name, 'outbound|80|v2|product-service.default.svc.cluster.local');
  assert.equal(c1.lb, 'LEAST_REQUEST');
  // targetPort 8080 unless the endpoint maps the port name `http` itself (v2: 9080)
  assert.deepEqual(c1.endpoints.map((e) => `${e.address}:${e.port}`), ['10.0.0.11:8080', '10.0.0.12:8080']);
  assert.deepEqual(c2.endpoints.map((e) => `${e.address}:${e.port}`), ['10.0.0.21:9080']);
  assert.equal(c2.endpoints[0]?.source, 'ServiceEntry/default/product-service#2');
  assert.deepEqual(s.listeners.map((l) => `${l.direction} ${l.bind}:${l.port} ${l.protocol}`), ['outbound 127.0.0.1:15001 HTTP']);
  assert.deepEqual(structuredClone(s), s, 'the snapshot is plain data');
});

test('seed canary alone: applied, with warnings and unresolved (503 NC) destinations', async () => {
  const r = await loadAndCompile([CANARY], 1);
  assert.deepEqual(errors(r), []);
  assert.ok(r.snapshot);
  const dests = r.snapshot.virtualHosts[0]?.routes[0]?.destinations ?? [];
  assert.deepEqual(dests.map((d) => [d.clusterId, d.unresolved]), [
    [-1, 'no ServiceEntry for host product-service'],
    [-1, 'no ServiceEntry for host product-service'],
  ]);
  const lines = warnings(r).map(formatIssue);
  assert.ok(lines.some((l) => l.includes('DestinationRule/product-service: spec.host:')), lines.join('\n'));
  assert.ok(lines.some((l) => l.includes('spec.http[0].route[1].destination.host')), lines.join('\n'));
});

test('seed deployments: skipped with exactly one warning each, naming kind and name', async () => {
  const r = await loadAndCompile([DEPLOYMENTS], 1);
  assert.deepEqual(errors(r), []);
  const w = warnings(r);
  assert.equal(w.length, 2, w.map(formatIssue).join('\n'));
  assert.deepEqual(w.map((i) => [i.resource, i.doc]), [['Deployment/product-service-v1', 0], ['Deployment/product-service-v2', 1]]);
  for (const i of w) assert.match(formatIssue(i), /skipped: kind Deployment \(apiVersion apps\/v1\) is not handled by meshlet/);
  assert.ok(r.snapshot, 'skipped kinds are not errors');
  assert.deepEqual(r.snapshot.virtualHosts, []);
});

test('all three files together: canary applied, deployments skipped', async () => {
  const r = await loadAndCompile([CANARY, DEPLOYMENTS, SE], 2);
  assert.deepEqual(errors(r), []);
  assert.deepEqual(warnings(r).map((i) => i.resource), ['Deployment/product-service-v1', 'Deployment/product-service-v2']);
  assert.equal(r.snapshot?.clusters.length, 2);
});
