// Nothing recorded is lost silently: exactly N requests through 2 workers show up as N in the
// HDR histograms, in istio_requests_total, and the ring drop counter is 0. Plus the shape of the
// admin stats endpoints (labels, histogram encoding, overhead = total − upstream).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { decodeFromCompressedBase64 } from 'hdr-histogram-js';
import { parseExposition } from '../unit/stats/prom-format.js';
import { Agent, request } from 'undici';
import { runMeshletExpectingExit, serviceEntryYaml, startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { httpUpstream, type Upstream } from '../helpers/upstream.js';

const N = 20_000;
let up: Upstream;
let m: Meshlet;

before(async () => {
  up = await httpUpstream((req, res) => { req.resume(); res.end('ok'); });
  m = await startMeshlet(serviceEntryYaml('stats-svc', [{ port: up.port, labels: { version: 'v1' } }]) + `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: stats-svc}
spec:
  host: stats-svc
  subsets: [{name: v1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: stats-svc}
spec:
  hosts: [stats-svc]
  http:
  - route: [{destination: {host: stats-svc, subset: v1}}]
`, { workers: 2 });
});

after(async () => {
  await m?.stop();
  await up?.close();
});

async function admin(path: string): Promise<string> {
  const res = await request(`http://127.0.0.1:${m.adminPort}${path}`);
  assert.equal(res.statusCode, 200, path);
  return res.body.text();
}

function metricSum(text: string, name: string, filter = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) && line.includes(filter)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

test(`exactly ${N} requests across 2 workers: histograms, istio_requests_total and N agree; no drops`, async () => {
  const agent = new Agent({ connections: 16 });
  let next = 0;
  let ok = 0;
  async function lane(): Promise<void> {
    while (next < N) {
      next++;
      const res = await request(`${m.url}/`, { headers: { host: 'stats-svc' }, dispatcher: agent });
      await res.body.text();
      if (res.statusCode === 200) ok++;
    }
  }
  await Promise.all(Array.from({ length: 16 }, lane));
  await agent.close();
  assert.equal(ok, N);
  const prom = await admin('/stats/prometheus');
  assert.equal(metricSum(prom, 'istio_requests_total'), N);
  assert.equal(metricSum(prom, 'meshlet_stats_ring_dropped_total'), 0);
  const report = JSON.parse(await admin('/stats/histograms')) as { series: { requests: number; duration: { count: number; histogram: string }; service: string; version: string; responseCode: number }[] };
  assert.equal(report.series.reduce((s, x) => s + x.duration.count, 0), N);
  const series = report.series.find((s) => s.version === 'v1' && s.responseCode === 200);
  assert.ok(series !== undefined, 'a series labelled with the subset and status');
  assert.match(series.service, /^stats-svc/);
  assert.equal(decodeFromCompressedBase64(series.duration.histogram).totalCount, series.duration.count);
});

test('Prometheus labels follow Istio; a 404 NR is counted with its flag', async () => {
  const res = await request(`${m.url}/`, { headers: { host: 'nobody' } });
  await res.body.text();
  assert.equal(res.statusCode, 404);
  const prom = await admin('/stats/prometheus');
  assert.match(prom, /istio_requests_total\{[^}]*reporter="source"[^}]*destination_version="v1"[^}]*response_code="200"/);
  assert.ok(metricSum(prom, 'istio_requests_total', 'response_flags="NR"') >= 1, 'NR counted');
  assert.match(prom, /istio_request_duration_milliseconds_bucket\{[^}]*le="\+Inf"\}/);
  assert.match(prom, /^# TYPE istio_request_duration_milliseconds histogram$/m);
});

test('overhead histogram exists beside the total latency, and reset clears the view', async () => {
  const report = JSON.parse(await admin('/stats/histograms')) as { series: { overhead: { count: number; p50: number }; duration: { p50: number; count: number } }[] };
  const withUpstream = report.series.filter((s) => s.overhead.count > 0);
  assert.ok(withUpstream.length > 0);
  for (const s of withUpstream) assert.ok(s.overhead.p50 <= s.duration.p50, 'overhead is part of the total');
  const reset = await request(`http://127.0.0.1:${m.adminPort}/stats/histograms/reset`, { method: 'POST', headers: { 'x-meshlet-admin': '1' } });
  await reset.body.text();
  const after = JSON.parse(await admin('/stats/histograms')) as { series: unknown[] };
  assert.equal(after.series.length, 0);
});

test('meshlet stats CLI: Prometheus text and the latency table over the control socket', async () => {
  const res = await request(`${m.url}/`, { headers: { host: 'stats-svc' } });
  await res.body.text();
  const prom = await runMeshletExpectingExit(['stats', '--admin-port', String(m.adminPort)]);
  assert.equal(prom.code, 0);
  assert.match(prom.output, /^# TYPE istio_requests_total counter$/m);
  const table = await runMeshletExpectingExit(['stats', '--histograms', '--route', 'stats-svc', '--admin-port', String(m.adminPort)]);
  assert.equal(table.code, 0);
  assert.match(table.output, /^outbound\s+stats-svc\S*\s+v1\s+200\s+-\s+\d+/m);
  const unreachable = await runMeshletExpectingExit(['stats', '--socket', '/tmp/meshlet-no-such.sock']);
  assert.equal(unreachable.code, 2);
});

test('the live /stats/prometheus output parses strictly, and with promtool when installed', async (t) => {
  const text = await admin('/stats/prometheus');
  parseExposition(text);
  const probe = spawnSync('promtool', ['--version']);
  if (probe.error !== undefined || probe.status !== 0) {
    t.diagnostic('promtool not installed: strict in-repo parser only');
    return;
  }
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  const complaints = `${r.stdout}${r.stderr}`.split('\n').map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('istio_request_duration_milliseconds use base unit'));
  assert.deepEqual(complaints, []);
  assert.ok(r.status === 0 || r.status === 3, `promtool exit ${r.status}`);
});

test('/clusters shows endpoints with open upstream connections; Prometheus exports them', async () => {
  const res = await request(`${m.url}/`, { headers: { host: 'stats-svc' } });
  await res.body.text();
  // Workers report gauges once a second; there is no event to wait on from outside, so poll (bounded).
  let endpoint: { address: string; connections: number } | undefined;
  for (let i = 0; i < 40 && (endpoint?.connections ?? 0) === 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const body = JSON.parse(await admin('/clusters')) as { clusters: { subset: string | null; endpoints: { address: string; connections: number }[] }[] };
    endpoint = body.clusters.find((c) => c.subset === 'v1')?.endpoints[0];
  }
  assert.equal(endpoint?.address, `127.0.0.1:${up.port}`);
  assert.ok((endpoint?.connections ?? 0) >= 1, 'an idle keep-alive connection is counted');
  const prom = await admin('/stats/prometheus');
  assert.match(prom, new RegExp(`meshlet_upstream_connections\\{endpoint="127\\.0\\.0\\.1:${up.port}"\\} [1-9]`));
  assert.match(prom, /^meshlet_active_requests \d+$/m);
});
