// The latency plot: percentile curves sampled on HdrHistogram's log axis and a self-contained SVG
// (ticks 0%…99.999%, one polyline per line, a legend, escaped labels, no scripts or links).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { build } from 'hdr-histogram-js';
import { percentileCurve } from '../../../src/stats/plot/curve.js';
import { LineBuilder } from '../../../src/stats/plot/lines.js';
import { percentileTick, renderPlot } from '../../../src/stats/plot/svg.js';

function histogram(values: number[]): ReturnType<typeof build> {
  const h = build({ autoResize: true });
  for (const v of values) h.recordValue(v);
  return h;
}

test('curve: x runs 0 … log10(count) in 0.05 steps, y is non-decreasing and ends at the max', () => {
  const h = histogram(Array.from({ length: 10_000 }, (_, i) => 1000 + i));
  const c = percentileCurve(h);
  assert.equal(c.count, 10_000);
  assert.deepEqual(c.points[0], [0, 1]);
  const last = c.points[c.points.length - 1] as [number, number];
  assert.equal(last[0], 4);
  assert.equal(last[1], c.max);
  assert.ok(Math.abs(c.max - 10.999) < 0.01);
  for (let i = 1; i < c.points.length; i++) {
    assert.ok((c.points[i] as [number, number])[0] >= (c.points[i - 1] as [number, number])[0]);
    assert.ok((c.points[i] as [number, number])[1] >= (c.points[i - 1] as [number, number])[1]);
  }
  assert.ok(Math.abs(c.p50 - 6) < 0.01);
});

test('ticks read 0%, 90%, 99%, 99.9%, 99.99%, 99.999%', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5].map(percentileTick), ['0%', '90%', '99%', '99.9%', '99.99%', '99.999%']);
});

test('lines: histograms under one label merge; runs keep their order, labels sort within a run', () => {
  const b = new LineBuilder();
  b.add('b.hlog', 'outbound z', histogram([1000]));
  b.add('b.hlog', 'outbound a', histogram([1000, 2000]));
  b.add('b.hlog', 'outbound a', histogram([3000]));
  b.add('a.hlog', 'outbound a', histogram([5000]));
  const lines = b.finish();
  assert.deepEqual(lines.map((l) => `${l.run} ${l.label} ${l.curve.count}`), ['b.hlog outbound a 3', 'b.hlog outbound z 1', 'a.hlog outbound a 1']);
});

test('SVG: self-contained, one polyline per line, legend escaped, an empty plot says so', () => {
  const b = new LineBuilder();
  b.add('', 'outbound <reviews> & co', histogram(Array.from({ length: 500 }, (_, i) => 2000 + i * 10)));
  b.add('', 'outbound ratings', histogram(Array.from({ length: 500 }, (_, i) => 9000 + i * 10)));
  const svg = renderPlot(b.finish(), { title: 'T', subtitle: 'S' });
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="900" height="560"/);
  assert.equal(svg.match(/<polyline /g)?.length, 2);
  for (const t of ['0%', '90%', '99%', '99.9%', '99.99%', '99.999%']) assert.ok(svg.includes(`>${t}</text>`), t);
  assert.ok(svg.includes('outbound &#60;reviews&#62; &#38; co'));
  assert.doesNotMatch(svg, /<script|href=|@import|url\(|@font-face/);
  assert.match(renderPlot([], { title: 'empty' }), /no requests recorded/);
});
