// The ratio sampler: 0 and 100 are exact, other rates are about right over random ids, and the
// decision for one trace id is the same every time (so sidecars with one rate agree).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newSpanId, newTraceId } from '../../../src/tracing/ids.js';
import { RatioSampler } from '../../../src/tracing/sampler.js';

test('0% never and 100% always', () => {
  const never = new RatioSampler(0);
  const always = new RatioSampler(100);
  for (let i = 0; i < 1000; i++) {
    const id = newTraceId();
    assert.equal(never.sampled(id), false);
    assert.equal(always.sampled(id), true);
  }
});

test('a rate samples about that share of new traces', () => {
  for (const pct of [1, 10, 50]) {
    const s = new RatioSampler(pct);
    let n = 0;
    const N = 40_000;
    for (let i = 0; i < N; i++) if (s.sampled(newTraceId())) n++;
    const expected = (N * pct) / 100;
    assert.ok(Math.abs(n - expected) < 5 * Math.sqrt(expected) + 5, `${pct}%: ${n} of ${N}`);
  }
});

test('deterministic per trace id, for 128- and 64-bit ids', () => {
  const s = new RatioSampler(50);
  assert.equal(s.sampled('00000000000000000000000000000000'.slice(0, 24) + '00000001'), true);
  assert.equal(s.sampled('0000000000000000ffffffff'.slice(0, 8) + 'ffffffff'), false);
  for (let i = 0; i < 100; i++) {
    const id = newTraceId();
    assert.equal(s.sampled(id), s.sampled(id));
  }
});

test('out-of-range rates are refused', () => {
  assert.throws(() => new RatioSampler(-1), RangeError);
  assert.throws(() => new RatioSampler(101), RangeError);
  assert.throws(() => new RatioSampler(Number.NaN), RangeError);
});

test('ids: lower-case hex of the right length, not repeated, across pool refills', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const t = newTraceId();
    const s = newSpanId();
    assert.match(t, /^[0-9a-f]{32}$/);
    assert.match(s, /^[0-9a-f]{16}$/);
    assert.ok(!seen.has(t) && !seen.has(s));
    seen.add(t);
    seen.add(s);
  }
});
