// A latency percentile curve the way HdrHistogram's plotter draws it: x = log10(1/(1-p)) (0 = 0%,
// 1 = 90%, 2 = 99%…), y = the value at that percentile, sampled every 0.05 decade, ending at max.
import type { Histogram } from 'hdr-histogram-js';

export interface Curve {
  count: number;
  /** in the plotted unit (values ÷ scale) */
  p50: number;
  p99: number;
  max: number;
  /** [x, value]; x ascending, last point is the max at the last resolvable percentile */
  points: [number, number][];
}

export const X_STEP = 0.05;
/** beyond 99.99999% a plot says nothing useful */
export const X_LIMIT = 7;

/** ~20 getValueAtPercentile calls per decade: cheap enough to run on demand on the control thread. */
export function percentileCurve(h: Histogram, scale = 1000): Curve {
  const count = h.totalCount;
  const max = h.maxValue / scale;
  const points: [number, number][] = [];
  if (count === 0) return { count, p50: 0, p99: 0, max: 0, points };
  // the last percentile the data resolves: 1/(1-p) = count
  const xEnd = Math.min(X_LIMIT, Math.log10(count));
  for (let i = 0; ; i++) {
    const x = Math.min(i * X_STEP, xEnd);
    points.push([x, h.getValueAtPercentile(100 * (1 - 10 ** -x)) / scale]);
    if (x >= xEnd) break;
  }
  const last = points[points.length - 1] as [number, number];
  if (last[1] !== max) points.push([xEnd, max]);
  return { count, p50: h.getValueAtPercentile(50) / scale, p99: h.getValueAtPercentile(99) / scale, max, points };
}
