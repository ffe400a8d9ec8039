// /stats/histograms: percentiles in ms, and base64 histograms that decode back to the same data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeFromCompressedBase64 } from 'hdr-histogram-js';
import { StatsAggregator } from '../../../src/stats/aggregator.js';
import { histogramsReport } from '../../../src/stats/histograms-report.js';
import { FLAG_NR } from '../../../src/stats/flags.js';
import { createRing, RingWriter } from '../../../src/stats/ring.js';
import { createStringTable, StringTableWriter } from '../../../src/stats/strings.js';
import { cluster, listener, put, snapshot, versionPeer } from './helpers.js';

const HOST = 'reviews.shop.svc.cluster.local';

/** 20,000 requests: durations 100 µs .. ~2 s (skewed), upstream time 80 % of it; rotate after the first 12,000. */
function populated(): { agg: StatsAggregator; durations: number[]; overheads: number[] } {
  const agg = new StatsAggregator();
  agg.registerSnapshot(snapshot(4, [cluster(0, HOST, 'v1')], [listener('outbound_0.0.0.0_9080', 'outbound', 9080)]));
  const ring = createRing(32768);
  const strings = createStringTable(16, 1024);
  agg.addRing('w0', ring, strings);
  const w = new RingWriter(ring);
  const v1 = versionPeer(new StringTableWriter(strings), 'v1');
  const durations: number[] = [];
  const overheads: number[] = [];
  for (let i = 0; i < 20_000; i++) {
    const u = ((i * 7919) % 20_000) / 20_000;
    const totalUs = Math.round(100 + 2e6 * u ** 4);
    const upstreamUs = Math.round(totalUs * 0.8);
    durations.push(totalUs);
    overheads.push(totalUs - upstreamUs);
    put(w, { gen: 4, cluster: 0, totalUs, upstreamUs, bytesIn: i % 100, bytesOut: 1000 + i, peer: v1 });
    if (i === 11_999) {
      agg.drainAll();
      agg.rotateInterval();
    }
  }
  agg.drainAll();
  return { agg, durations, overheads };
}

/** The exact percentile of `values` (nearest rank), in µs. */
function exact(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

test('cumulative report: percentiles in ms within HDR precision; base64 decodes to the same histogram', () => {
  const { agg, durations, overheads } = populated();
  const report = histogramsReport(agg, 'cumulative', { includeBytes: true });
  assert.equal(report.view, 'cumulative');
  assert.equal(report.unit, 'ms');
  assert.equal(report.histogramUnit, 'us');
  assert.equal(report.series.length, 1);
  const s = report.series[0];
  assert.ok(s);
  assert.equal(s.service, HOST);
  assert.equal(s.version, 'v1');
  assert.equal(s.requests, 20_000);
  for (const [summary, values] of [[s.duration, durations], [s.overhead, overheads]] as const) {
    assert.equal(summary.count, 20_000);
    for (const [name, p] of [['p50', 50], ['p90', 90], ['p99', 99], ['p999', 99.9], ['p9999', 99.99]] as const) {
      const want = exact(values, p) / 1000;
      assert.ok(Math.abs(summary[name] - want) <= want * 0.001 + 0.001, `${name}: ${summary[name]} vs ${want}`);
    }
    assert.ok(Math.abs(summary.max - Math.max(...values) / 1000) <= (Math.max(...values) / 1000) * 0.001);
    assert.ok(Math.abs(summary.min - Math.min(...values) / 1000) <= 0.001);
    const mean = values.reduce((a, b) => a + b, 0) / values.length / 1000;
    assert.ok(Math.abs(summary.mean - mean) <= mean * 0.001);
    // millisecond values carry µs precision: at most 3 decimals
    assert.equal(Math.round(summary.p99 * 1000) / 1000, summary.p99);

    assert.ok(summary.histogram?.startsWith('HISTFAAA'));
    const decoded = decodeFromCompressedBase64(summary.histogram as string);
    assert.equal(decoded.totalCount, summary.count);
    for (const [name, p] of [['p50', 50], ['p99', 99], ['p9999', 99.99]] as const) {
      assert.equal(Math.round(decoded.getValueAtPercentile(p)) / 1000, summary[name], `decoded ${name}`);
    }
    // a decoded histogram knows its max only to the slot (3 significant digits)
    assert.ok(Math.abs(decoded.maxValue / 1000 - summary.max) <= summary.max * 0.001);
  }
  assert.equal(s.requestBytes?.count, 20_000);
  assert.equal(s.responseBytes?.max, 20_999);
  agg.destroy();
});

test('interval report covers only what came after the last rotate; encode: false leaves the base64 out', () => {
  const { agg, durations } = populated();
  const report = histogramsReport(agg, 'interval', { encode: false });
  const s = report.series[0];
  assert.ok(s);
  assert.equal(s.requests, 8000);
  assert.equal(s.duration.count, 8000);
  assert.equal(s.duration.histogram, undefined);
  assert.equal(s.requestBytes, undefined);
  const later = durations.slice(12_000);
  const want = exact(later, 99) / 1000;
  assert.ok(Math.abs(s.duration.p99 - want) <= want * 0.001 + 0.001);
  assert.ok(report.startMs <= report.endMs);
  agg.rotateInterval();
  assert.deepEqual(histogramsReport(agg, 'interval').series, []);
  agg.destroy();
});

test('a series without upstream time reports an empty overhead distribution', () => {
  const agg = new StatsAggregator();
  agg.registerSnapshot(snapshot(1, [], [listener('outbound_0.0.0.0_9080', 'outbound', 9080)]));
  const ring = createRing(16);
  agg.addRing('w0', ring);
  put(new RingWriter(ring), { gen: 1, status: 404, flag: FLAG_NR, totalUs: 42 });
  agg.drainAll();
  const s = histogramsReport(agg).series[0];
  assert.equal(s?.responseFlags, 'NR');
  assert.equal(s?.duration.p50, 0.042);
  assert.equal(s?.overhead.count, 0);
  assert.equal(s?.overhead.p99, 0);
  assert.equal(decodeFromCompressedBase64(s?.overhead.histogram as string).totalCount, 0);
  agg.destroy();
});
