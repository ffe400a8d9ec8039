// Istio's default Prometheus histogram boundaries, and counting values against them: exactly,
// as records arrive (the aggregator does this), or after the fact from an HDR histogram.
import jsHistogram from 'hdr-histogram-js/dist/JsHistogram.js';
import type { Histogram } from './hdr.js';

/** `istio_request_duration_milliseconds` boundaries (ms). */
export const DURATION_BUCKETS_MS: readonly number[] = Object.freeze([
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
]);
/** The same boundaries in µs, the unit records and histograms use. */
export const DURATION_BUCKETS_US: readonly number[] = Object.freeze(DURATION_BUCKETS_MS.map((ms) => Math.round(ms * 1000)));
/** `istio_request_bytes` / `istio_response_bytes` boundaries. */
export const BYTES_BUCKETS: readonly number[] = Object.freeze([1, 10, 100, 1000, 10000, 100000, 1000000, 10000000]);

/** The boundaries as typed arrays, for bucketIndex on the drain path. */
export const DURATION_BOUNDS_US = Float64Array.from(DURATION_BUCKETS_US);
export const BYTES_BOUNDS = Float64Array.from(BYTES_BUCKETS);

/**
 * Index of the first boundary ≥ value (Prometheus `le`), or boundaries.length when above all.
 * Linear: most values fall in the first few buckets.
 */
export function bucketIndex(boundaries: Float64Array, value: number): number {
  const n = boundaries.length;
  let i = 0;
  while (i < n && value > (boundaries[i] as number)) i++;
  return i;
}

/**
 * Per-bucket (not cumulative) counts of an HDR histogram against `boundaries` (same unit as the
 * recorded values); the last element counts values above every boundary. A histogram slot is
 * counted in the first bucket whose boundary is ≥ the slot's lowest equivalent value, so a value
 * up to one slot width (< 0.1 % at 3 significant digits) above a boundary can land below it.
 * Only JS histograms (meshlet records no other kind): exact counters are the way on hot paths.
 */
export function bucketCountsFromHistogram(h: Histogram, boundaries: readonly number[]): Float64Array {
  const out = new Float64Array(boundaries.length + 1);
  if (h.totalCount === 0) return out;
  if (!(h instanceof jsHistogram.JsHistogram)) throw new TypeError('bucketCountsFromHistogram: a JS histogram is needed');
  const js = h;
  const last = js.countsArrayIndex(js.maxValue);
  let b = 0;
  for (let i = 0; i <= last; i++) {
    const count = js.getCountAtIndex(i);
    if (count === 0) continue;
    const low = js.lowestEquivalentValue(js.valueFromIndex(i));
    while (b < boundaries.length && low > (boundaries[b] as number)) b++;
    out[b] = (out[b] as number) + count;
  }
  return out;
}
