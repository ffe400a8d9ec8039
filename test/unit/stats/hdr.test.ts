// meshlet's histograms find a value's count with bit operations; hdr-histogram-js's own classes
// (log2 and pow) are the reference: same index, same counts, same percentiles, both count widths,
// across resizes, fractions, powers of two and their neighbours, and values past 2^32.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import float64 from 'hdr-histogram-js/dist/Float64Histogram.js';
import int32 from 'hdr-histogram-js/dist/Int32Histogram.js';
import { newHistogram, SIGNIFICANT_DIGITS } from '../../../src/stats/hdr.js';

function reference(bits: 32 | 64): InstanceType<typeof int32.default> {
  const Ctor = bits === 32 ? int32.default : float64.default;
  const h = new Ctor(1, 1 << 16, SIGNIFICANT_DIGITS);
  h.autoResize = true;
  return h;
}

function values(): number[] {
  const out = [0, 0.4, 1, 1.5, 2, 3, 1023, 1024, 2047, 2048, 2049, 4095.5, 65535, 65536, 1e6 + 0.25, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 33 + 7, 1e12];
  for (let k = 1; k < 40; k++) out.push(2 ** k - 1, 2 ** k, 2 ** k + 1);
  let seed = 12345;
  for (let i = 0; i < 20000; i++) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    const magnitude = seed % 34;
    out.push((seed / 2147483648) * 2 ** magnitude);
  }
  return out;
}

for (const bits of [32, 64] as const) {
  test(`${bits}-bit counts: every value lands at the package's own index, and the histograms agree`, () => {
    const mine = newHistogram(bits) as InstanceType<typeof int32.default>;
    const ref = reference(bits);
    for (const v of values()) {
      mine.recordValue(v);
      ref.recordValue(v);
      assert.equal(mine.countsArrayIndex(v), ref.countsArrayIndex(v), `value ${v}`);
    }
    assert.equal(mine.totalCount, ref.totalCount);
    assert.equal(mine.maxValue, ref.maxValue);
    assert.equal(mine.countsArrayLength, ref.countsArrayLength);
    for (let i = 0; i < ref.countsArrayLength; i++) assert.equal(mine.getCountAtIndex(i), ref.getCountAtIndex(i), `index ${i}`);
    for (const p of [50, 90, 99, 99.9, 100]) assert.equal(mine.getValueAtPercentile(p), ref.getValueAtPercentile(p));
  });
}

test('a negative value is refused as the package refuses it', () => {
  assert.throws(() => newHistogram(32).recordValue(-1), /negative/);
});
