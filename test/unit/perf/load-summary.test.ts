// The load runner's pure parts: merging meshlet's /stats/histograms series for a route, the
// scenario checks computed from what was observed, and the printed verdict.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { build, encodeIntoCompressedBase64 } from 'hdr-histogram-js';
import { routeStats } from '../../../load/meshlet-stats.js';
import { SCENARIOS } from '../../../load/scenarios.js';
import { failed, minus, renderSummary, shareCheck, type ClientStats, type Observed } from '../../../load/summary.js';
import type { HistogramsReport, HistogramsReportSeries } from '../../../src/stats/histograms-report.js';

function series(service: string, version: string, code: number, flags: string, valuesUs: number[], direction: 'outbound' | 'inbound' = 'outbound'): HistogramsReportSeries {
  const h = build({ numberOfSignificantValueDigits: 3, useWebAssembly: false });
  for (const v of valuesUs) h.recordValue(v);
  const summary = { count: valuesUs.length, min: 0, max: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, p9999: 0, histogram: encodeIntoCompressedBase64(h) };
  return { direction, service, version, responseCode: code, responseFlags: flags, requests: valuesUs.length, duration: summary, overhead: { ...summary, count: 0 } };
}

function report(s: HistogramsReportSeries[]): HistogramsReport {
  return { view: 'cumulative', startMs: 0, endMs: 1, unit: 'ms', histogramUnit: 'us', significantDigits: 3, series: s };
}

function client(statusCounts: Record<string, number>, errors = 0, slow = 0): ClientStats {
  const requests = Object.values(statusCounts).reduce((a, b) => a + b, 0) + errors;
  return { tool: 'autocannon', requests, statusCounts, errors, p50Ms: 1, p99Ms: 2, p999Ms: 3, slowMs: 100, slow };
}

function observed(o: Partial<Observed>): Observed {
  return { client: null, meshlet: null, upstreams: {}, upstreamsBeforeAction: null, action: null, ...o };
}

const scenario = (name: string) => SCENARIOS.find((s) => s.name === name) ?? assert.fail(`no scenario ${name}`);

test('routeStats merges every outbound series of the host (all versions, codes, flags) into one histogram', () => {
  const r = routeStats(report([
    series('product-service', 'v1', 200, '-', Array.from({ length: 90 }, () => 1000)),
    series('product-service.default.svc.cluster.local', 'v2', 200, '-', Array.from({ length: 9 }, () => 2000)),
    series('product-service', 'v1', 503, 'FI', [100_000]),
    series('product-service', 'v1', 200, '-', [500_000], 'inbound'),
    series('productpage', 'v1', 200, '-', [900_000]),
  ]), 'product-service');
  assert.equal(r.requests, 100);
  assert.deepEqual(r.byVersion, { v1: 91, v2: 9 });
  assert.deepEqual(r.byCode, { 200: 99, 503: 1 });
  assert.deepEqual(r.byFlags, { '-': 99, FI: 1 });
  assert.ok(Math.abs(r.p50Ms - 1) < 0.01, `p50 ${r.p50Ms}`);
  assert.ok(Math.abs(r.p99Ms - 2) < 0.01, `p99 ${r.p99Ms}`);
  assert.ok(Math.abs(r.p999Ms - 100) < 0.1, `p99.9 ${r.p999Ms}`);
});

test('failed counts non-2xx answers and requests without one, except the statuses given', () => {
  const c = client({ 200: 90, 503: 8, 404: 1 }, 1);
  assert.equal(failed(c), 10);
  assert.equal(failed(c, [503]), 2);
  assert.deepEqual(minus({ A: 10, B: 5 }, { A: 4 }), { A: 6, B: 5 });
  assert.equal(shareCheck('x', 1, 0, 0, 100).pass, false, 'no requests: never a pass');
});

test('canary: the v2 share from the upstream counts must be 7–13%', () => {
  const pass = scenario('canary').checks(observed({ client: client({ 200: 1000 }), upstreams: { V1: 900, V2: 100 } }));
  assert.ok(pass.every((c) => c.pass), JSON.stringify(pass));
  const fail = scenario('canary').checks(observed({ client: client({ 200: 1000 }), upstreams: { V1: 500, V2: 500 } }));
  assert.deepEqual(fail.map((c) => c.pass), [false, true]);
});

test('reload: zero failed requests, the apply ok, v2 share ≈ 10% before and ≈ 50% after', () => {
  const action = { what: 'meshlet apply', atS: 5, ok: true, output: '' };
  const o = observed({ client: client({ 200: 2000 }), action, upstreamsBeforeAction: { V1: 900, V2: 100 }, upstreams: { V1: 1400, V2: 600 } });
  assert.ok(scenario('reload').checks(o).every((c) => c.pass));
  const oneFailure = observed({ ...o, client: client({ 200: 1999 }, 1) });
  assert.deepEqual(scenario('reload').checks(oneFailure).filter((c) => !c.pass).map((c) => c.name), ['failed requests']);
  const notApplied = observed({ ...o, upstreams: { V1: 1800, V2: 200 } });
  assert.deepEqual(scenario('reload').checks(notApplied).filter((c) => !c.pass).map((c) => c.name), ['v2 share after the apply']);
});

test('fault: abort share from the client, delay share from meshlet\'s DI flag, the delays seen by the client', () => {
  const meshlet = { requests: 1000, p50Ms: 1, p99Ms: 100, p999Ms: 101, byVersion: {}, byCode: {}, byFlags: { '-': 810, DI: 90, FI: 100 } };
  const ok = scenario('fault').checks(observed({ client: client({ 200: 900, 503: 100 }, 0, 95), meshlet }));
  assert.ok(ok.every((c) => c.pass), JSON.stringify(ok));
  const noDelaySeen = scenario('fault').checks(observed({ client: client({ 200: 900, 503: 100 }, 0, 10), meshlet }));
  assert.deepEqual(noDelaySeen.filter((c) => !c.pass).map((c) => c.name), ['client saw the delays (≥ 100 ms)']);
});

test('renderSummary prints both latency views, the checks and the verdict', () => {
  const o = observed({ client: client({ 200: 10 }), upstreams: { V1: 9, V2: 1 } });
  const out = renderSummary('scenario canary', 'product-service', o, scenario('canary').checks(o));
  assert.match(out, /autocannon \(client\)\s+10\s+1\.00\s+2\.00\s+3\.00/);
  assert.match(out, /upstream requests: V1 9 · V2 1/);
  assert.match(out, /\nPASS\n$/);
  const failing = renderSummary('t', 'h', o, [{ name: 'n', value: 'v', want: 'w', pass: false }]);
  assert.match(failing, /FAIL {2}n {2}v {2}\(want w\)\n\nFAIL\n$/);
});
