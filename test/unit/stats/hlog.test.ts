// The .hlog export: HdrHistogram's interval log header, one tagged line per series, and
// hdr-histogram-js's HistogramLogReader reads back the same histograms, tags and times.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HistogramLogReader, listTags } from 'hdr-histogram-js';
import { StatsAggregator } from '../../../src/stats/aggregator.js';
import { histogramsReport } from '../../../src/stats/histograms-report.js';
import { keyOfTag, readHlog, reportToHlog, tagOf } from '../../../src/stats/hlog.js';
import { createRing, RingWriter } from '../../../src/stats/ring.js';
import { cluster, listener, put, snapshot } from './helpers.js';

function report(): ReturnType<typeof histogramsReport> {
  const agg = new StatsAggregator();
  agg.registerSnapshot(snapshot(1, [cluster(0, 'reviews.shop.svc.cluster.local', 'v1'), cluster(1, 'ratings', null)], [listener('out', 'outbound', 9080)]));
  const ring = createRing(8192);
  agg.addRing('w0', ring);
  const w = new RingWriter(ring);
  for (let i = 0; i < 3000; i++) put(w, { gen: 1, cluster: i % 3 === 0 ? 1 : 0, status: i % 100 === 0 ? 503 : 200, flag: 0, totalUs: 200 + (i * 37) % 50_000 });
  agg.drainAll();
  return histogramsReport(agg, 'cumulative');
}

test('header lines, legend and one Tag= line per series', () => {
  const r = report();
  const text = reportToHlog(r);
  const lines = text.split('\n');
  assert.match(lines[0] as string, /^#\[Histogram log format version 1\.3\]$/);
  assert.ok(lines.some((l) => /^#\[StartTime: \d+\.\d{3} \(seconds since epoch\), /.test(l)));
  assert.ok(lines.some((l) => /^#\[BaseTime: \d+\.\d{3} \(seconds since epoch\)\]$/.test(l)));
  assert.ok(lines.includes('"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"'));
  const data = lines.filter((l) => l.startsWith('Tag='));
  assert.equal(data.length, r.series.length);
  for (const l of data) assert.match(l, /^Tag=[^,\s]+,0\.000,\d+\.\d{3},\d+\.\d{3},HISTF/);
  assert.deepEqual(lines.slice(0, -1).filter((l) => l === ''), [], 'no blank lines (the Java reader would choke on them)');
  assert.deepEqual(listTags(text).sort(), r.series.map((s) => tagOf(s)).sort());
});

test('HistogramLogReader reads back counts, percentiles, max and times', () => {
  const r = report();
  const reader = new HistogramLogReader(reportToHlog(r));
  let n = 0;
  for (let h = reader.nextIntervalHistogram(); h !== null; h = reader.nextIntervalHistogram()) {
    const key = keyOfTag(h.tag);
    assert.ok(key !== null, h.tag);
    const s = r.series.find((x) => tagOf(x) === h.tag);
    assert.ok(s !== undefined);
    assert.equal(key.responseCode, s.responseCode);
    assert.equal(h.totalCount, s.duration.count);
    // equal to HDR resolution: the decoded max is its bucket's highest equivalent value, not the exact max
    const near = (us: number, ms: number, what: string): void => assert.ok(Math.abs(us / 1000 - ms) <= Math.max(0.001, ms / 1000), `${what}: ${us / 1000} vs ${ms}`);
    near(h.getValueAtPercentile(50), s.duration.p50, 'p50');
    near(h.getValueAtPercentile(99), s.duration.p99, 'p99');
    near(h.getValueAtPercentile(99.9), s.duration.p999, 'p99.9');
    near(h.maxValue, s.duration.max, 'max');
    assert.ok(Math.abs(h.startTimeStampMsec - r.startMs) < 1, 'BaseTime + 0 = the view start');
    assert.ok(Math.abs(h.endTimeStampMsec - r.endMs) < 1);
    n++;
  }
  assert.equal(n, r.series.length);
});

test('readHlog sums intervals per tag; odd characters in tags are replaced', () => {
  const r = report();
  const text = reportToHlog(r);
  const body = text.split('\n').filter((l) => l.startsWith('Tag=')).join('\n');
  const twice = readHlog(`${text}${body}\n`);
  for (const { tag, histogram } of twice) {
    const s = r.series.find((x) => tagOf(x) === tag);
    assert.equal(histogram.totalCount, 2 * (s?.duration.count ?? NaN));
  }
  assert.equal(tagOf({ direction: 'inbound', service: 'a b,c=d|e', version: 'v1', responseCode: 200, responseFlags: '-' }), 'inbound|a_b_c_d_e|v1|200|-');
  assert.equal(keyOfTag('some-other-tool'), null);
});
