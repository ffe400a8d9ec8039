// Telemetry pieces without a sidecar: the access-log filter's CEL subset (parse, types, evaluation),
// which Telemetry resources apply to a workload and how they combine, and metric overrides as
// rendered (a disabled metric, removed labels merging series, a literal label).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TelemetrySpec } from '../../../src/config/telemetry-spec.js';
import { connectionLabels, istioLabels } from '../../../src/stats/labels.js';
import { renderIstioMetrics, type IstioSeries } from '../../../src/stats/prometheus.js';
import { evaluateFilter, FilterParseError, parseFilter, type LogContext } from '../../../src/telemetry/filter-expr.js';
import { effectiveTelemetry } from '../../../src/telemetry/policy.js';
import { workloadLabels, type WorkloadMeta } from '../../../src/telemetry/workload.js';

const ctx = (over: Partial<LogContext> = {}): LogContext => ({
  responseCode: 200, responseSize: 10, requestSize: 0, durationMs: 5, method: 'GET', path: '/api/login', query: 'a=1', host: 'shop',
  scheme: 'http', requestId: 'r1', mtls: false, headers: ['x-user-type', 'dev', 'user-agent', 'curl/8'], ...over,
});

test('access-log filters: the common expressions evaluate as CEL would', () => {
  const cases: [string, Partial<LogContext>, boolean][] = [
    ['response.code >= 400', {}, false],
    ['response.code >= 400', { responseCode: 404 }, true],
    ['response.code == 503 || response.code == 504', { responseCode: 504 }, true],
    ["request.duration > duration('1s')", { durationMs: 1001 }, true],
    ["request.duration > duration('1.5s')", { durationMs: 1200 }, false],
    ["request.duration >= duration('250ms') && response.code < 300", { durationMs: 250 }, true],
    ["request.url_path.contains('login') && request.headers['X-User-Type'] == 'dev'", {}, true],
    ["request.path == '/api/login?a=1'", {}, true],
    ["!(request.method == 'GET')", {}, false],
    ['connection.mtls', { mtls: true }, true],
    ["request.useragent.startsWith('curl/')", {}, true],
    ["request.host.endsWith('op') && response.size > 5", {}, true],
  ];
  for (const [expr, over, want] of cases) assert.equal(evaluateFilter(parseFilter(expr), ctx(over)), want, expr);
});

test('access-log filters beyond the subset are refused with the reason', () => {
  const bad: [string, RegExp][] = [
    ["request.url_path.matches('^/x')", /unsupported method matches/],
    ['response.code >= "400"', /cannot compare int with string/],
    ["request.duration > 1000", /cannot compare duration with int/],
    ['xds.cluster_name == "x"', /attribute xds.cluster_name is not supported/],
    ['response.code', /must be a condition/],
    ["request.method < 'G'", /needs numbers or durations/],
    ["duration('soon') > request.duration", /bad duration/],
    ['response.code >= 400 &&', /unexpected end/],
    ["'unterminated", /unterminated string/],
  ];
  for (const [expr, why] of bad) assert.throws(() => parseFilter(expr), (e: Error) => e instanceof FilterParseError && why.test(e.message), expr);
});

const T = (name: string, namespace: string, selector: Record<string, string> | null, rest: Partial<TelemetrySpec>): TelemetrySpec => ({
  name: `${namespace}/${name}`, namespace, selector, tracing: [], accessLogging: [], metrics: [], ...rest,
});

test('which Telemetry applies: mesh, then namespace, then workload selector; the more specific overrides', () => {
  const w: WorkloadMeta = { name: 'reviews-v1', namespace: 'shop', instance: '', labels: { app: 'reviews' }, serviceAccount: '', cluster: '' };
  const specs = [
    T('wl', 'shop', { app: 'reviews' }, { tracing: [{ mode: 'SERVER', samplingPercent: 50, disableSpanReporting: null }], accessLogging: [{ mode: 'CLIENT_AND_SERVER', disabled: true, filter: null }] }),
    T('other-wl', 'shop', { app: 'ratings' }, { tracing: [{ mode: 'CLIENT_AND_SERVER', samplingPercent: 1, disableSpanReporting: null }] }),
    T('other-ns', 'web', null, { accessLogging: [{ mode: 'CLIENT_AND_SERVER', disabled: false, filter: null }] }),
    T('ns', 'shop', null, { accessLogging: [{ mode: 'CLIENT', disabled: false, filter: null }] }),
    T('mesh', 'istio-system', null, { tracing: [{ mode: 'CLIENT_AND_SERVER', samplingPercent: 10, disableSpanReporting: true }], metrics: [{ metric: 'ALL_METRICS', mode: 'CLIENT_AND_SERVER', disabled: false, tags: [['a', null]] }] }),
  ];
  const e = effectiveTelemetry(specs, w);
  assert.deepEqual(e.applied, ['istio-system/mesh', 'shop/ns', 'shop/wl']);
  assert.deepEqual(e.tracing, [{ samplingPercent: 10, disableSpanReporting: true }, { samplingPercent: 50, disableSpanReporting: true }]);
  assert.deepEqual(e.accessLog, [{ enabled: false, filter: null }, { enabled: false, filter: null }], 'the workload level replaces the namespace level');
  assert.equal(e.metrics.length, 1);
  // a workload in another namespace sees only the mesh-wide one and its own namespace's
  const web = effectiveTelemetry(specs, { ...w, namespace: 'web' });
  assert.deepEqual(web.applied, ['istio-system/mesh', 'web/other-ns']);
  assert.deepEqual(effectiveTelemetry(undefined, w).accessLog, [null, null]);
});

test('metric overrides when rendering: disabled per reporter, removed labels merge series, literal labels', () => {
  const self = workloadLabels({ name: 'client', namespace: 'shop', instance: '', labels: {}, serviceAccount: '', cluster: '' });
  const series = (version: string, requests: number): IstioSeries => {
    const peer = workloadLabels({ name: `reviews-${version}`, namespace: 'shop', instance: '', labels: { app: 'reviews', version }, serviceAccount: '', cluster: '' });
    const labels = istioLabels(connectionLabels({ reporter: 'source', self, selfPrincipal: '', peer: { workload: peer, principal: '' }, service: { host: 'reviews', name: 'reviews' }, mtls: null }), 'http', 200, -1, '-');
    const z = (n: number): number[] => new Array<number>(n).fill(0);
    return { key: { direction: 'outbound', service: 'reviews', version, responseCode: 200, responseFlags: '-', labels }, requests, durationSumUs: 1000 * requests,
      durationBuckets: [requests, ...z(19)], requestBytesSum: 0, requestBytesBuckets: [requests, ...z(8)], responseBytesSum: 0, responseBytesBuckets: [requests, ...z(8)] };
  };
  const text = renderIstioMetrics([series('v1', 3), series('v2', 4)], { overrides: [
    { metric: 'REQUEST_SIZE', mode: 'CLIENT', disabled: true, tags: [] },
    { metric: 'RESPONSE_SIZE', mode: 'SERVER', disabled: true, tags: [] },
    { metric: 'ALL_METRICS', mode: 'CLIENT_AND_SERVER', disabled: false, tags: [['destination_version', null], ['destination_workload', null], ['destination_canonical_revision', null], ['team', 'blue']] },
  ] });
  const lines = text.split('\n');
  assert.equal(lines.filter((l) => l.startsWith('istio_request_bytes')).length, 0, 'disabled for CLIENT');
  assert.ok(lines.some((l) => l.startsWith('istio_response_bytes_bucket')), 'SERVER-only override does not touch a client series');
  const requests = lines.filter((l) => l.startsWith('istio_requests_total{'));
  assert.equal(requests.length, 1);
  assert.match(requests[0] as string, /,team="blue"\} 7$/);
  assert.match(text, /istio_request_duration_milliseconds_count\{[^}]*team="blue"\} 7/);
  assert.match(text, /istio_request_duration_milliseconds_sum\{[^}]*\} 7\n/);
});
