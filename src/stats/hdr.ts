// The HDR histograms the control thread records into: hdr-histogram-js's pure-JS typed-array
// histograms, imported one class at a time. The package's index also loads its WebAssembly
// build, the log reader/writer and the codecs (≈ 15 MB RSS, and ≈ 8 MB more once the WebAssembly
// is instantiated): those load only when a report, a plot or an .hlog needs them (stats-service.ts).
// 32-bit counts for the windows records go into (folded into a 64-bit one long before a count
// could overflow: aggregator.ts), 64-bit counts for sums. The 'packed' bucket size would save
// memory only with many series, and records ~7× slower (≈ 1 µs vs ≈ 0.14 µs per value, measured).
// Precision is unchanged: 3 significant digits (Istio's Prometheus buckets are exact counters, not these).
// The index of a value's count is found with integer bit operations (Math.clz32, shifts) for the
// values requests give (below 2^32): the package computes it with Math.log2 and two Math.pow per
// value, which was half of the control thread's time under load (perf). Same index (unit tests).
import type { Histogram } from 'hdr-histogram-js';
import float64 from 'hdr-histogram-js/dist/Float64Histogram.js';
import int32 from 'hdr-histogram-js/dist/Int32Histogram.js';

export type { Histogram };
export type CountBits = 32 | 64;

export const SIGNIFICANT_DIGITS = 3;
/** Histograms start small and resize themselves as larger values arrive. */
const INITIAL_HIGHEST = 1 << 16;

const TWO_32 = 4294967296;

/**
 * The counts-array index of `value` (bucket = its highest set bit above the sub-bucket range,
 * sub-bucket = the value shifted down to it), as JsHistogram.countsArrayIndex computes it.
 */
function countsArrayIndex(h: InstanceType<typeof int32.default>, value: number): number {
  const v = value >>> 0;
  let bucket = 31 - Math.clz32(v) - h.subBucketHalfCountMagnitude - h.unitMagnitude;
  if (bucket < 0) bucket = 0;
  return ((bucket + 1) << h.subBucketHalfCountMagnitude) + (v >>> (bucket + h.unitMagnitude)) - h.subBucketHalfCount;
}

class Int32 extends int32.default {
  override countsArrayIndex(value: number): number {
    return value >= 0 && value < TWO_32 ? countsArrayIndex(this, value) : super.countsArrayIndex(value);
  }
}

class Float64 extends float64.default {
  override countsArrayIndex(value: number): number {
    return value >= 0 && value < TWO_32 ? countsArrayIndex(this, value) : super.countsArrayIndex(value);
  }
}

/** A histogram of values ≥ 1 with 3 significant digits, 32- or 64-bit counts, auto-resizing. */
export function newHistogram(bits: CountBits): Histogram {
  const Ctor = bits === 32 ? Int32 : Float64;
  const h = new Ctor(1, INITIAL_HIGHEST, SIGNIFICANT_DIGITS);
  h.autoResize = true;
  return h;
}
