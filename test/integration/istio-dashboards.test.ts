// Proof with real tools: Debian's Prometheus scrapes three sidecars — productpage-v1 (the caller,
// running the seed canary YAML as written) and product-service-v1 / -v2 behind STRICT mTLS — while
// requests flow; then the PromQL of Istio's "Istio Service Dashboard" and "Istio Workload
// Dashboard" panels (request volume, success rate, p50/p90/p99 from the duration histogram,
// requests by source, outgoing requests by destination) and Kiali's graph edge query return the
// right workloads, with a 90/10 split by destination_version. Every PromQL expression of the Grafana
// dashboards shipped in dashboards/ must return data from the same Prometheus.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Agent, request } from 'undici';
import { identityArgs, identityDir, makeCa, makeLeaf, peerAuthenticationYaml } from '../helpers/certs.js';
import { REPO_ROOT, startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { freePort } from '../helpers/ports.js';
import { prometheusInstalled, startPrometheus, type Prometheus } from '../helpers/prometheus.js';
import { httpUpstream, type Upstream } from '../helpers/upstream.js';

const installed = prometheusInstalled();
const SEED = path.join(REPO_ROOT, 'test/fixtures/seed/seed-canary.yaml');
const CALLER_ID = 'spiffe://cluster.local/ns/default/sa/productpage';
const SERVER_ID = 'spiffe://cluster.local/ns/default/sa/product-service';
const SERVICE = 'product-service.default.svc.cluster.local';
/** Grafana's $__rate_interval, for a 1 s scrape interval and a short test */
const RATE = '30s';
const WARMUP = 100;
const MAIN = 900;

const SELECTING_SE = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: product-service}
spec:
  hosts: [product-service]
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: product-service}}
---
`;

let apps: Upstream[] = [];
let servers: Meshlet[] = [];
let caller: Meshlet;
let prom: Prometheus;
let background: { stop(): Promise<void> } | null = null;

async function startServer(version: string, appPort: number, identity: string[]): Promise<Meshlet> {
  const inbound = await freePort();
  const egress = await freePort();
  return startMeshlet(`apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: product-service-${version}}
spec:
  ingress:
  - port: {number: ${inbound}, protocol: HTTP, name: http}
    defaultEndpoint: 127.0.0.1:${appPort}
  egress:
  - port: {number: ${egress}, protocol: HTTP}
    hosts: ["*/*"]
---
${SELECTING_SE}${peerAuthenticationYaml('STRICT')}apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: callers}
spec:
  rules: [{from: [{source: {principals: ["cluster.local/ns/default/sa/productpage"]}}]}]
`, { noSidecar: true, args: [...identity, '--workload', `product-service-${version}.default`, '--workload-label', 'app=product-service', '--workload-label', `version=${version}`] });
}

/** The WorkloadEntry a registered instance would have written (auto mTLS to its identity). */
function workloadEntry(version: string, port: number): string {
  return `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: product-service-${version}
  annotations: {meshlet.io/spiffe-id: "${SERVER_ID}"}
spec:
  address: 127.0.0.1
  ports: {http: ${port}}
  labels: {app: product-service, version: ${version}}
  serviceAccount: product-service
---
`;
}

const inboundPort = (m: Meshlet): number => Number(/"listeners":\["inbound [^:]+:(\d+)"/.exec(m.output())?.[1] ?? 'NaN');

before(async () => {
  if (!installed) return;
  apps = await Promise.all(['v1', 'v2'].map((v) => httpUpstream((req, res) => { req.resume(); setTimeout(() => res.end(v), 2); })));
  const ca = makeCa('mesh');
  const serverArgs = identityArgs(identityDir(makeLeaf(ca, SERVER_ID), ca.certPem));
  servers = await Promise.all(['v1', 'v2'].map((v, i) => startServer(v, (apps[i] as Upstream).port, serverArgs)));
  caller = await startMeshlet(SELECTING_SE + workloadEntry('v1', inboundPort(servers[0] as Meshlet)) + workloadEntry('v2', inboundPort(servers[1] as Meshlet)), {
    workers: 2, files: [SEED],
    args: [...identityArgs(identityDir(makeLeaf(ca, CALLER_ID), ca.certPem)), '--workload', 'productpage-v1.default', '--workload-label', 'app=productpage', '--workload-label', 'version=v1'],
  });
  prom = await startPrometheus([caller.adminPort, ...servers.map((s) => s.adminPort)], '/stats/prometheus');
});

after(async () => {
  await background?.stop();
  await prom?.stop();
  await Promise.all([caller?.stop(), ...servers.map((s) => s.stop())]);
  await Promise.all(apps.map((a) => a.close()));
});

async function send(n: number, agent: Agent): Promise<Map<string, number>> {
  const bodies = new Map<string, number>();
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < n) {
      next++;
      const res = await request(`${caller.url}/products`, { headers: { host: 'product-service' }, dispatcher: agent });
      const body = await res.body.text();
      const key = res.statusCode === 200 ? body : `status ${res.statusCode}`;
      bodies.set(key, (bodies.get(key) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: 8 }, lane));
  return bodies;
}

/** Polls `q` (scrapes happen every second) until `done` holds on its result; bounded. */
async function until(q: string, done: (r: [Record<string, string>, number][]) => boolean, withinMs = 20_000): Promise<[Record<string, string>, number][]> {
  const deadline = Date.now() + withinMs;
  let last: [Record<string, string>, number][] = [];
  while (Date.now() < deadline) {
    last = await prom.query(q);
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  return last;
}

/** Grafana's template variables, as a user picking the canary's service and workloads would set them. */
function fill(expr: string, vars: Record<string, string>): string {
  let out = expr.replaceAll('$__rate_interval', RATE).replaceAll('$__interval', '5s');
  for (const [k, v] of Object.entries(vars)) out = out.replaceAll(`$${k}`, v);
  return out;
}

const total = (r: [Record<string, string>, number][]): number => r.reduce((s, [, v]) => s + v, 0);

test('the canary\'s traffic reaches Prometheus with both ends labelled: 90/10 by destination_version', { timeout: 90_000 }, async (t) => {
  if (!installed) {
    t.skip('prometheus not installed (Debian: apt-get install prometheus)');
    return;
  }
  const agent = new Agent({ connections: 8 });
  const warm = await send(WARMUP, agent);
  assert.equal((warm.get('v1') ?? 0) + (warm.get('v2') ?? 0), WARMUP, JSON.stringify([...warm]));
  // both versions' series exist in Prometheus before the measured phase (rates need two samples)
  await until('count(count by (destination_version) (istio_requests_total{reporter="source"}))', (r) => r[0]?.[1] === 2);
  await new Promise((r) => setTimeout(r, 1500));
  const main = await send(MAIN, agent);
  await agent.close();
  assert.equal((main.get('v1') ?? 0) + (main.get('v2') ?? 0), MAIN);
  const n = WARMUP + MAIN;
  const bySource = await until('sum(istio_requests_total{reporter="source"})', (r) => r[0]?.[1] === n);
  assert.equal(bySource[0]?.[1], n, `all ${n} requests counted by the client sidecar\n${prom.output()}`);
  await until('sum(istio_requests_total{reporter="destination"})', (r) => r[0]?.[1] === n);

  // request volume by source workload and destination version (the client's view)
  const split = await prom.query('sum by (source_workload, destination_version) (istio_requests_total{reporter="source"})');
  assert.deepEqual(split.map(([l]) => `${l.source_workload} ${l.destination_version}`).sort(), ['productpage-v1 v1', 'productpage-v1 v2']);
  const v2 = split.find(([l]) => l.destination_version === 'v2')?.[1] ?? 0;
  assert.ok(v2 / n >= 0.07 && v2 / n <= 0.13, `v2 share ${v2 / n}`);
  const rate = await prom.query(`sum by (source_workload, destination_version) (rate(istio_requests_total{reporter="source"}[${RATE}]))`);
  const rv2 = rate.find(([l]) => l.destination_version === 'v2')?.[1] ?? 0;
  assert.ok(rv2 / total(rate) >= 0.05 && rv2 / total(rate) <= 0.15, `v2 share of the rate ${rv2 / total(rate)}`);
  // the servers agree: each counts what it served, with the caller's identity and workload
  const served = await prom.query('sum by (destination_workload, destination_version, source_workload, source_principal, connection_security_policy) (istio_requests_total{reporter="destination"})');
  assert.deepEqual(served.map(([l]) => `${l.destination_workload} ${l.destination_version} ${l.source_workload} ${l.source_principal} ${l.connection_security_policy}`).sort(), [
    `product-service-v1 v1 productpage-v1 ${CALLER_ID} mutual_tls`, `product-service-v2 v2 productpage-v1 ${CALLER_ID} mutual_tls`,
  ]);
  assert.equal(served.find(([l]) => l.destination_version === 'v2')?.[1], v2, 'server and client count v2 alike');

  // keep traffic flowing while the dashboards are read (rates and the HDR interval need recent requests)
  background = startBackground();
});

test('Istio Service Dashboard panels', { timeout: 60_000 }, async (t) => {
  if (!installed) return t.skip('prometheus not installed');
  const vars = { qrep: 'source|destination', service: SERVICE, srcwl: '.*', srcns: '.*' };
  const one = async (expr: string): Promise<number> => {
    const r = await until(fill(expr, vars), (x) => x.length > 0);
    assert.equal(r.length, 1, expr);
    return (r[0] as [Record<string, string>, number])[1];
  };
  // Client / Server Request Volume
  assert.ok(await one('round(sum(irate(istio_requests_total{reporter=~"$qrep",destination_service="$service"}[$__rate_interval])), 0.001)') > 0);
  assert.ok(await one('round(sum(irate(istio_requests_total{reporter="destination",destination_service="$service"}[$__rate_interval])), 0.001)') > 0);
  // Client / Server Success Rate (non-5xx responses)
  assert.equal(await one('sum(irate(istio_requests_total{reporter=~"$qrep",destination_service="$service",response_code!~"5.*"}[$__rate_interval])) / (sum(irate(istio_requests_total{reporter=~"$qrep",destination_service="$service"}[$__rate_interval])) or on () vector(1))'), 1);
  assert.equal(await one('sum(irate(istio_requests_total{reporter="destination",destination_service="$service",response_code!~"5.*"}[$__rate_interval])) / (sum(irate(istio_requests_total{reporter="destination",destination_service="$service"}[$__rate_interval])) or on () vector(1))'), 1);
  // Client / Server Request Duration: p50, p90, p99 (the panel divides ms by 1000: seconds)
  for (const reporter of ['reporter=~"$qrep"', 'reporter="destination"']) {
    const ps: number[] = [];
    for (const q of ['0.50', '0.90', '0.99']) {
      const v = await one(`(histogram_quantile(${q}, sum(irate(istio_request_duration_milliseconds_bucket{${reporter},destination_service="$service"}[$__rate_interval])) by (le)) / 1000) or histogram_quantile(${q}, sum(irate(istio_request_duration_seconds_bucket{${reporter},destination_service="$service"}[$__rate_interval])) by (le))`);
      assert.ok(Number.isFinite(v) && v > 0 && v < 1, `${reporter} p${q}: ${v} s`);
      ps.push(v);
    }
    assert.ok((ps[0] as number) <= (ps[1] as number) && (ps[1] as number) <= (ps[2] as number), `percentiles in order: ${ps.join(' ≤ ')}`);
  }
  // Incoming Requests By Source And Response Code (mTLS)
  const incoming = await until(fill('round(sum(irate(istio_requests_total{connection_security_policy="mutual_tls",destination_service="$service",reporter=~"$qrep",source_workload=~"$srcwl",source_workload_namespace=~"$srcns"}[$__rate_interval])) by (source_workload, source_workload_namespace, response_code), 0.001)', vars), (x) => x.length > 0);
  assert.deepEqual(incoming.map(([l]) => `${l.source_workload}.${l.source_workload_namespace} ${l.response_code}`), ['productpage-v1.default 200']);
  // the dashboard's $srcwl variable lists the caller
  const srcwl = await prom.query(fill('sum(istio_requests_total{reporter=~"$qrep", destination_service="$service", source_workload_namespace=~"$srcns"}) by (source_workload)', vars));
  assert.deepEqual(srcwl.map(([l]) => l.source_workload), ['productpage-v1']);
});

test('Istio Workload Dashboard panels, for product-service-v1 and for the caller', { timeout: 60_000 }, async (t) => {
  if (!installed) return t.skip('prometheus not installed');
  const server = { qrep: 'source|destination', namespace: 'default', workload: 'product-service-v1', srcwl: '.*', srcns: '.*' };
  const one = async (expr: string, vars: Record<string, string>): Promise<number> => {
    const r = await until(fill(expr, vars), (x) => x.length > 0);
    assert.equal(r.length, 1, expr);
    return (r[0] as [Record<string, string>, number])[1];
  };
  // Incoming Request Volume, Incoming Success Rate, Request Duration p50/p90/p99
  assert.ok(await one('round(sum(irate(istio_requests_total{reporter=~"$qrep",destination_workload_namespace=~"$namespace",destination_workload=~"$workload"}[$__rate_interval])), 0.001)', server) > 0);
  assert.equal(await one('sum(irate(istio_requests_total{reporter=~"$qrep",destination_workload_namespace=~"$namespace",destination_workload=~"$workload",response_code!~"5.*"}[$__rate_interval])) / sum(irate(istio_requests_total{reporter=~"$qrep",destination_workload_namespace=~"$namespace",destination_workload=~"$workload"}[$__rate_interval]))', server), 1);
  for (const q of ['0.50', '0.90', '0.99']) {
    const v = await one(`(histogram_quantile(${q}, sum(irate(istio_request_duration_milliseconds_bucket{reporter=~"$qrep",destination_workload=~"$workload", destination_workload_namespace=~"$namespace"}[$__rate_interval])) by (le)) / 1000) or histogram_quantile(${q}, sum(irate(istio_request_duration_seconds_bucket{reporter=~"$qrep",destination_workload=~"$workload", destination_workload_namespace=~"$namespace"}[$__rate_interval])) by (le))`, server);
    assert.ok(Number.isFinite(v) && v > 0 && v < 1, `p${q}: ${v} s`);
  }
  // Incoming Requests By Source And Response Code (mTLS)
  const bySource = await until(fill('round(sum(irate(istio_requests_total{connection_security_policy="mutual_tls", destination_workload_namespace=~"$namespace", destination_workload=~"$workload", reporter=~"$qrep", source_workload=~"$srcwl", source_workload_namespace=~"$srcns"}[$__rate_interval])) by (source_workload, source_workload_namespace, response_code), 0.001)', server), (x) => x.length > 0);
  assert.deepEqual(bySource.map(([l]) => `${l.source_workload}.${l.source_workload_namespace} ${l.response_code}`), ['productpage-v1.default 200']);
  // the caller's view: Outgoing Requests By Destination And Response Code (mTLS destinations: a spiffe principal)
  const client = { namespace: 'default', workload: 'productpage-v1', dstsvc: '.*' };
  const outgoing = await until(fill('round(sum(irate(istio_requests_total{destination_principal=~"spiffe.*", source_workload_namespace=~"$namespace", source_workload=~"$workload", reporter="source", destination_service=~"$dstsvc"}[$__rate_interval])) by (destination_service, response_code), 0.001)', client), (x) => x.length > 0);
  assert.deepEqual(outgoing.map(([l]) => `${l.destination_service} ${l.response_code}`), [`${SERVICE} 200`]);
  // the dashboard's $workload variable lists all three workloads
  const workloads = await prom.query('sum(istio_requests_total{destination_workload_namespace=~"default"}) by (destination_workload) or sum(istio_requests_total{source_workload_namespace=~"default"}) by (source_workload)');
  assert.deepEqual(workloads.map(([l]) => l.destination_workload ?? l.source_workload).sort(), ['product-service-v1', 'product-service-v2', 'productpage-v1']);
});

test('Kiali\'s graph: two edges productpage-v1 → product-service v1 / v2 with every label Kiali needs; no unknown source', { timeout: 30_000 }, async (t) => {
  if (!installed) return t.skip('prometheus not installed');
  const groupBy = 'source_workload_namespace,source_workload,source_canonical_service,source_canonical_revision,destination_service_namespace,destination_service,destination_service_name,destination_workload_namespace,destination_workload,destination_canonical_service,destination_canonical_revision,request_protocol,response_code,grpc_response_status,response_flags';
  // Kiali's third query: traffic originating inside the namespace, reported by the source
  const edges = await until(`sum(rate(istio_requests_total{reporter="source",source_workload_namespace="default"} [${RATE}])) by (${groupBy})`, (r) => r.length === 2);
  const required = groupBy.split(',').filter((k) => k !== 'grpc_response_status');
  for (const [labels] of edges) for (const k of required) assert.ok((labels[k] ?? '') !== '', `edge label ${k} missing: ${JSON.stringify(labels)}`);
  assert.deepEqual(edges.map(([l]) => `${l.source_canonical_service}/${l.source_canonical_revision} → ${l.destination_service_name} ${l.destination_workload} ${l.destination_canonical_service}/${l.destination_canonical_revision} ${l.request_protocol} ${l.response_code}`).sort(), [
    'productpage/v1 → product-service product-service-v1 product-service/v1 http 200',
    'productpage/v1 → product-service product-service-v2 product-service/v2 http 200',
  ]);
  const v2 = edges.find(([l]) => l.destination_canonical_revision === 'v2')?.[1] ?? 0;
  assert.ok(v2 / total(edges) >= 0.05 && v2 / total(edges) <= 0.15, `v2 edge share ${v2 / total(edges)}`);
  // Kiali's first query (traffic from outside the mesh) finds nothing: every caller is known
  const unknown = await prom.query(`sum(rate(istio_requests_total{reporter="destination",source_workload="unknown",destination_workload_namespace="default"} [${RATE}])) by (${groupBy})`);
  assert.deepEqual(unknown, []);
});

test('every PromQL expression of the dashboards in dashboards/ returns data', { timeout: 60_000 }, async (t) => {
  if (!installed) return t.skip('prometheus not installed');
  const dir = path.join(REPO_ROOT, 'dashboards');
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  assert.ok(files.length > 0);
  let checked = 0;
  for (const f of files) {
    const d = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as { panels: { title: string; targets?: { expr?: string }[] }[] };
    for (const p of d.panels) {
      for (const target of p.targets ?? []) {
        if (target.expr === undefined) continue;
        const q = fill(target.expr, {});
        // the HDR interval is 10 s: its first values appear within one interval and a scrape
        const r = await until(q, (x) => x.length > 0, 15_000);
        assert.ok(r.length > 0, `${f} "${p.title}": no data for ${q}`);
        assert.ok(r.every(([, v]) => Number.isFinite(v)), `${f} "${p.title}": ${JSON.stringify(r)}`);
        checked++;
      }
    }
  }
  assert.ok(checked >= 10, `${checked} expressions`);
});

function startBackground(): { stop(): Promise<void> } {
  const agent = new Agent({ connections: 2 });
  let running = true;
  const loop = (async () => {
    while (running) {
      const res = await request(`${caller.url}/products`, { headers: { host: 'product-service' }, dispatcher: agent }).catch(() => null);
      await res?.body.dump();
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return { async stop() { running = false; await loop; await agent.close(); } };
}
