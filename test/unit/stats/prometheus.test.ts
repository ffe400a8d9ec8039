// Prometheus exposition: exact rendering of a known input, strict format checks on aggregator
// output (bucket monotonicity, _count == istio_requests_total), escaping, and promtool when present.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { StatsAggregator } from '../../../src/stats/aggregator.js';
import { FLAG_UF } from '../../../src/stats/flags.js';
import {
  escapeLabelValue, PROMETHEUS_CONTENT_TYPE, renderIstioMetrics, renderMeshletMetrics, renderPrometheus, type IstioSeries,
} from '../../../src/stats/prometheus.js';
import { createRing, RingWriter } from '../../../src/stats/ring.js';
import { connectionLabels, istioLabels, serviceShortName } from '../../../src/stats/labels.js';
import { workloadLabels } from '../../../src/telemetry/workload.js';
import { cluster, listener, put, snapshot } from './helpers.js';
import { parseExposition, type Family } from './prom-format.js';

const zeros = (n: number): number[] => new Array<number>(n).fill(0);
const at = (n: number, i: number, v: number): number[] => zeros(n).map((x, j) => (j === i ? v : x));

const PRODUCTPAGE = workloadLabels({
  name: 'productpage-v1', namespace: 'shop', instance: 'pp-1', labels: { app: 'productpage', version: 'v1' }, serviceAccount: 'productpage', cluster: 'Kubernetes',
});
const REVIEWS = workloadLabels({
  name: 'reviews-v1', namespace: 'shop', instance: 'r-1', labels: { app: 'reviews', version: 'v1' }, serviceAccount: 'reviews', cluster: 'Kubernetes',
});
const LABELS_A = istioLabels(connectionLabels({
  reporter: 'source', self: PRODUCTPAGE, selfPrincipal: 'spiffe://cluster.local/ns/shop/sa/productpage',
  peer: { workload: REVIEWS, principal: 'spiffe://cluster.local/ns/shop/sa/reviews' },
  service: { host: 'reviews.shop.svc.cluster.local', name: 'reviews' }, mtls: null,
}), 'http', 200, -1, '-');
const LABELS_B = istioLabels(connectionLabels({
  reporter: 'destination', self: REVIEWS, selfPrincipal: '', peer: { workload: null, principal: '' },
  service: { host: '', name: '' }, mtls: false,
}), 'http', 503, -1, 'UF');

const SERIES_A: IstioSeries = {
  key: { direction: 'outbound', service: 'reviews.shop.svc.cluster.local', version: 'v1', responseCode: 200, responseFlags: '-', labels: LABELS_A },
  requests: 3,
  durationSumUs: 4500,
  durationBuckets: at(20, 2, 3), // 1.5 ms: le=5
  requestBytesSum: 30,
  requestBytesBuckets: at(9, 1, 3), // 10 bytes: le=10
  responseBytesSum: 6000,
  responseBytesBuckets: at(9, 4, 3), // 2000 bytes: le=10000
};
const SERIES_B: IstioSeries = {
  key: { direction: 'inbound', service: 'reviews', version: 'v1', responseCode: 503, responseFlags: 'UF', labels: LABELS_B },
  requests: 1,
  durationSumUs: 800,
  durationBuckets: at(20, 1, 1), // 0.8 ms: le=1
  requestBytesSum: 0,
  requestBytesBuckets: at(9, 0, 1),
  responseBytesSum: 0,
  responseBytesBuckets: at(9, 0, 1),
};

// Istio's labels, as its stats filter fills them: the client knows itself and (over mTLS, with the
// metadata exchange) the server; the server without metadata knows only itself
const LA = 'reporter="source",source_workload="productpage-v1",source_workload_namespace="shop",'
  + 'source_principal="spiffe://cluster.local/ns/shop/sa/productpage",source_app="productpage",source_version="v1",'
  + 'source_canonical_service="productpage",source_canonical_revision="v1",source_cluster="Kubernetes",'
  + 'destination_workload="reviews-v1",destination_workload_namespace="shop",destination_principal="spiffe://cluster.local/ns/shop/sa/reviews",'
  + 'destination_app="reviews",destination_version="v1",destination_service="reviews.shop.svc.cluster.local",destination_service_name="reviews",'
  + 'destination_service_namespace="shop",destination_canonical_service="reviews",destination_canonical_revision="v1",destination_cluster="Kubernetes",'
  + 'request_protocol="http",response_code="200",grpc_response_status="",response_flags="-",connection_security_policy="unknown"';
const LB = 'reporter="destination",source_workload="unknown",source_workload_namespace="unknown",source_principal="unknown",'
  + 'source_app="unknown",source_version="unknown",source_canonical_service="unknown",source_canonical_revision="latest",source_cluster="unknown",'
  + 'destination_workload="reviews-v1",destination_workload_namespace="shop",destination_principal="unknown",destination_app="reviews",'
  + 'destination_version="v1",destination_service="reviews",destination_service_name="reviews",destination_service_namespace="shop",'
  + 'destination_canonical_service="reviews",destination_canonical_revision="v1",destination_cluster="Kubernetes",'
  + 'request_protocol="http",response_code="503",grpc_response_status="",response_flags="UF",connection_security_policy="none"';

test('exact rendering of a small known input', () => {
  const text = renderIstioMetrics([SERIES_A, SERIES_B]);
  const requests = `# HELP istio_requests_total Requests handled, by destination and response.
# TYPE istio_requests_total counter
istio_requests_total{${LA}} 3
istio_requests_total{${LB}} 1
`;
  const durationA = `istio_request_duration_milliseconds_bucket{${LA},le="0.5"} 0
istio_request_duration_milliseconds_bucket{${LA},le="1"} 0
istio_request_duration_milliseconds_bucket{${LA},le="5"} 3
istio_request_duration_milliseconds_bucket{${LA},le="10"} 3
`;
  const durationATail = `istio_request_duration_milliseconds_bucket{${LA},le="1800000"} 3
istio_request_duration_milliseconds_bucket{${LA},le="3600000"} 3
istio_request_duration_milliseconds_bucket{${LA},le="+Inf"} 3
istio_request_duration_milliseconds_sum{${LA}} 4.5
istio_request_duration_milliseconds_count{${LA}} 3
istio_request_duration_milliseconds_bucket{${LB},le="0.5"} 0
istio_request_duration_milliseconds_bucket{${LB},le="1"} 1
`;
  const requestBytes = `# HELP istio_request_bytes Request sizes in bytes.
# TYPE istio_request_bytes histogram
istio_request_bytes_bucket{${LA},le="1"} 0
istio_request_bytes_bucket{${LA},le="10"} 3
istio_request_bytes_bucket{${LA},le="100"} 3
istio_request_bytes_bucket{${LA},le="1000"} 3
istio_request_bytes_bucket{${LA},le="10000"} 3
istio_request_bytes_bucket{${LA},le="100000"} 3
istio_request_bytes_bucket{${LA},le="1000000"} 3
istio_request_bytes_bucket{${LA},le="10000000"} 3
istio_request_bytes_bucket{${LA},le="+Inf"} 3
istio_request_bytes_sum{${LA}} 30
istio_request_bytes_count{${LA}} 3
istio_request_bytes_bucket{${LB},le="1"} 1
istio_request_bytes_bucket{${LB},le="10"} 1
istio_request_bytes_bucket{${LB},le="100"} 1
istio_request_bytes_bucket{${LB},le="1000"} 1
istio_request_bytes_bucket{${LB},le="10000"} 1
istio_request_bytes_bucket{${LB},le="100000"} 1
istio_request_bytes_bucket{${LB},le="1000000"} 1
istio_request_bytes_bucket{${LB},le="10000000"} 1
istio_request_bytes_bucket{${LB},le="+Inf"} 1
istio_request_bytes_sum{${LB}} 0
istio_request_bytes_count{${LB}} 1
# HELP istio_response_bytes Response sizes in bytes.
`;
  assert.ok(text.startsWith(`${requests}# HELP istio_request_duration_milliseconds Request duration, from the first request byte to the last response byte, in milliseconds.
# TYPE istio_request_duration_milliseconds histogram
${durationA}`), text.slice(0, 2000));
  assert.ok(text.includes(durationATail));
  assert.ok(text.includes(requestBytes));
  assert.ok(text.endsWith(`istio_response_bytes_bucket{${LB},le="+Inf"} 1
istio_response_bytes_sum{${LB}} 0
istio_response_bytes_count{${LB}} 1
`));
  assert.equal(text.split('\n').length - 1, 2 + 2 + 3 * 2 + 2 * (22 + 11 + 11));
  parseExposition(text);
});

test('exact rendering of meshlet metrics; one HELP/TYPE per name', () => {
  const text = renderMeshletMetrics({
    workers: 2,
    configGeneration: 7,
    ringDropped: 0,
    recordsDrained: 42,
    activeConnections: 5,
    upstreamPoolSizes: [{ cluster: 'outbound|9080|v1|reviews', connections: 4 }, { cluster: 'outbound|9080|v2|reviews', connections: 0 }],
    metrics: [
      { name: 'meshlet_custom_total', help: 'Custom \\ counter\nsecond line.', type: 'counter', labels: { k: 'a' }, value: 1 },
      { name: 'meshlet_custom_total', help: 'ignored', type: 'counter', labels: { k: 'b' }, value: 2.5 },
    ],
  });
  assert.equal(text, `# HELP meshlet_workers Data-plane worker threads running.
# TYPE meshlet_workers gauge
meshlet_workers 2
# HELP meshlet_config_generation Configuration generation served by the workers.
# TYPE meshlet_config_generation gauge
meshlet_config_generation 7
# HELP meshlet_stats_ring_dropped_total Request records lost because a worker stats ring was full.
# TYPE meshlet_stats_ring_dropped_total counter
meshlet_stats_ring_dropped_total 0
# HELP meshlet_stats_records_drained_total Request records read from the worker stats rings.
# TYPE meshlet_stats_records_drained_total counter
meshlet_stats_records_drained_total 42
# HELP meshlet_active_connections Downstream connections open.
# TYPE meshlet_active_connections gauge
meshlet_active_connections 5
# HELP meshlet_upstream_pool_connections Upstream connections held, by cluster.
# TYPE meshlet_upstream_pool_connections gauge
meshlet_upstream_pool_connections{cluster="outbound|9080|v1|reviews"} 4
meshlet_upstream_pool_connections{cluster="outbound|9080|v2|reviews"} 0
# HELP meshlet_custom_total Custom \\\\ counter\\nsecond line.
# TYPE meshlet_custom_total counter
meshlet_custom_total{k="a"} 1
meshlet_custom_total{k="b"} 2.5
`);
  const custom = parseExposition(text).find((f) => f.name === 'meshlet_custom_total');
  assert.equal(custom?.help, 'Custom \\ counter\nsecond line.');
});

test('bad input is refused: metric names, duplicate series, mixed types, redefined standard labels', () => {
  const base = { workers: 1, configGeneration: 1 };
  assert.throws(() => renderMeshletMetrics({ ...base, metrics: [{ name: 'bad-name', help: 'x', type: 'gauge', value: 1 }] }), /invalid metric name/);
  assert.throws(() => renderMeshletMetrics({ ...base, metrics: [{ name: 'm', help: 'x', type: 'gauge', labels: { '0x': 'a' }, value: 1 }] }), /invalid label name/);
  assert.throws(() => renderMeshletMetrics({ ...base, metrics: [{ name: 'meshlet_workers', help: 'x', type: 'gauge', value: 1 }] }), /given twice/);
  assert.throws(() => renderMeshletMetrics({ ...base, metrics: [{ name: 'meshlet_workers', help: 'x', type: 'counter', value: 1 }] }), /both gauge and counter/);
  assert.throws(() => renderIstioMetrics([SERIES_A], { constLabels: { response_code: 'x' } }), /cannot redefine/);
});

/** Records through a real aggregator: a spread of durations and sizes over several series. */
function populated(): StatsAggregator {
  const agg = new StatsAggregator();
  agg.registerSnapshot(snapshot(1, [
    cluster(0, 'reviews.shop.svc.cluster.local', 'v1'), cluster(1, 'ratings.shop.svc.cluster.local', null), cluster(2, 'local', null),
  ], [listener('outbound_0.0.0.0_9080', 'outbound', 9080), listener('inbound_0.0.0.0_15006', 'inbound', 15006, 2)]));
  const ring = createRing(4096);
  agg.addRing('w0', ring);
  const w = new RingWriter(ring);
  for (let i = 0; i < 3000; i++) {
    const totalUs = (i * 7919) % 2_000_000;
    put(w, {
      gen: 1, inbound: i % 5 === 0, listener: i % 5 === 0 ? 1 : 0, cluster: i % 3 === 2 ? 1 : 0,
      status: i % 17 === 0 ? 503 : 200, flag: i % 17 === 0 ? FLAG_UF : 0,
      totalUs, upstreamUs: totalUs / 2, bytesIn: (i * 31) % 50_000, bytesOut: (i * 104_729) % 20_000_000,
    });
    if (i === 1500) {
      agg.drainAll();
      agg.rotateInterval();
    }
  }
  agg.drainAll();
  return agg;
}

function family(families: Family[], name: string): Family {
  const f = families.find((x) => x.name === name);
  assert.ok(f, `family ${name}`);
  return f;
}

const labelKey = (labels: Record<string, string>): string => {
  const { le: _le, ...rest } = labels;
  return JSON.stringify(Object.entries(rest).sort());
};

test('aggregator output: strict format, monotonic buckets, _count equals istio_requests_total per label set', () => {
  const agg = populated();
  const text = renderPrometheus(agg, { workers: 2, configGeneration: 1 });
  const families = parseExposition(text);
  assert.deepEqual(families.map((f) => `${f.name}:${f.type}`), [
    'istio_requests_total:counter', 'istio_request_duration_milliseconds:histogram', 'istio_request_bytes:histogram',
    'istio_response_bytes:histogram', 'meshlet_workers:gauge', 'meshlet_config_generation:gauge',
    'meshlet_stats_ring_dropped_total:counter', 'meshlet_stats_records_drained_total:counter',
  ]);
  const requests = new Map(family(families, 'istio_requests_total').samples.map((s) => [labelKey(s.labels), s.value]));
  assert.equal([...requests.values()].reduce((a, b) => a + b, 0), 3000);
  assert.equal(family(families, 'meshlet_stats_records_drained_total').samples[0]?.value, 3000);
  for (const name of ['istio_request_duration_milliseconds', 'istio_request_bytes', 'istio_response_bytes']) {
    const f = family(families, name);
    const counts = f.samples.filter((s) => s.name === `${name}_count`);
    assert.equal(counts.length, requests.size);
    for (const c of counts) assert.equal(c.value, requests.get(labelKey(c.labels)), `${name}_count`);
    const buckets = f.samples.filter((s) => s.name === `${name}_bucket`);
    assert.equal(buckets.length, requests.size * (name.endsWith('milliseconds') ? 20 : 9));
  }
  // the duration sum is the exact sum of the records, in ms
  const sum = family(families, 'istio_request_duration_milliseconds').samples
    .filter((s) => s.name.endsWith('_sum')).reduce((a, s) => a + s.value, 0);
  let expected = 0;
  for (let i = 0; i < 3000; i++) expected += (i * 7919) % 2_000_000;
  assert.ok(Math.abs(sum - expected / 1000) < 1e-6, `${sum} vs ${expected / 1000}`);
  agg.destroy();
});

test('label values and HELP are escaped (backslash, quote, newline) and read back unchanged', () => {
  assert.equal(escapeLabelValue('plain'), 'plain');
  assert.equal(escapeLabelValue('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
  const odd = 'we"ird\\host\nname.ns';
  const labels = { ...LABELS_A, destination_service: odd, destination_service_name: serviceShortName(odd), destination_version: 'v"1', source_workload: 'w\\1' };
  const text = renderIstioMetrics([{ ...SERIES_A, key: { ...SERIES_A.key, labels } }], { constLabels: { mesh_zone: 'shop\n' } });
  assert.ok(text.includes('destination_service="we\\"ird\\\\host\\nname.ns",destination_service_name="we\\"ird\\\\host\\nname"'));
  const sample = family(parseExposition(text), 'istio_requests_total').samples[0];
  assert.equal(sample?.labels.destination_service, odd);
  assert.equal(sample?.labels.destination_version, 'v"1');
  assert.equal(sample?.labels.source_workload, 'w\\1');
  assert.equal(sample?.labels.mesh_zone, 'shop\n');
});

test('an empty aggregator renders only the meshlet metrics; content type is 0.0.4', () => {
  const agg = new StatsAggregator();
  const text = renderPrometheus(agg, { workers: 0, configGeneration: 0 });
  assert.deepEqual(parseExposition(text).map((f) => f.name), [
    'meshlet_workers', 'meshlet_config_generation', 'meshlet_stats_ring_dropped_total', 'meshlet_stats_records_drained_total',
  ]);
  assert.equal(PROMETHEUS_CONTENT_TYPE, 'text/plain; version=0.0.4; charset=utf-8');
  agg.destroy();
});

// Istio's metric name is fixed; promtool's only complaint about it is a naming lint, not a format error.
const ISTIO_NAME_LINT = 'istio_request_duration_milliseconds use base unit "seconds" instead of "milliseconds"';

test('promtool check metrics accepts the output', (t) => {
  const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) {
    t.skip('promtool not installed (apt-get install prometheus provides it)');
    return;
  }
  const agg = populated();
  const text = renderPrometheus(agg, {
    workers: 2, configGeneration: 1, activeConnections: 3,
    upstreamPoolSizes: [{ cluster: 'outbound|9080|v1|reviews.shop.svc.cluster.local', connections: 2 }],
  }, { constLabels: { mesh_zone: 'shop' } });
  agg.destroy();
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  const complaints = `${r.stdout}${r.stderr}`.split('\n').map((l) => l.trim()).filter((l) => l !== '' && l !== ISTIO_NAME_LINT);
  assert.deepEqual(complaints, []);
  // 0: clean; 3: lint findings only (the fixed Istio name above); 1: a format error
  assert.ok(r.status === 0 || r.status === 3, `promtool exit ${r.status}`);
});

test('the strict reader used above rejects broken text (so its passes mean something)', () => {
  const h = '# HELP h x\n# TYPE h histogram\n';
  const ok = `${h}h_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 2\n`;
  parseExposition(ok);
  assert.throws(() => parseExposition(`${h}h_bucket{le="1"} 3\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 2\n`), /decrease/);
  assert.throws(() => parseExposition(`${h}h_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 5\n`), /_count/);
  assert.throws(() => parseExposition(`${h}h_bucket{le="1"} 1\nh_sum 3\nh_count 1\n`), /\+Inf/);
  assert.throws(() => parseExposition('# HELP c x\n# TYPE c counter\nc 1\nc 2\n'), /duplicate/);
  assert.throws(() => parseExposition('# HELP c x\n# TYPE c counter\nc{a="x\\t"} 1\n'), /bad escape/);
  assert.throws(() => parseExposition('# TYPE c counter\n# HELP c x\nc 1\n# HELP c y\n'), /again/);
  assert.throws(() => parseExposition('# HELP c x\n# TYPE c counter\nd 1\n'), /does not belong/);
  assert.throws(() => parseExposition('# HELP c x\n# TYPE c counter\nc 1'), /line feed/);
});
