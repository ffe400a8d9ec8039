// Plot lines: histograms added under (run, label) are merged into one histogram per line, then
// turned into percentile curves. Labels name a route (direction service version) or a series.
import { build, type Histogram } from 'hdr-histogram-js';
import { percentileCurve, type Curve } from './curve.js';
import type { TagKey } from '../hlog.js';

export type PlotGrouping = 'route' | 'series';

export interface PlotLine {
  /** the run (input file) the line comes from; '' for live data */
  run: string;
  label: string;
  curve: Curve;
}

/** "outbound reviews v1" per route; "outbound reviews v1 503 UF" per series. */
export function lineLabel(k: TagKey, by: PlotGrouping): string {
  const base = `${k.direction} ${k.service}${k.version === 'unknown' ? '' : ` ${k.version}`}`;
  if (by === 'route') return base;
  return `${base} ${k.responseCode}${k.responseFlags === '-' ? '' : ` ${k.responseFlags}`}`;
}

interface Group {
  run: string;
  label: string;
  histogram: Histogram;
}

export class LineBuilder {
  private readonly groups = new Map<string, Group>();

  add(run: string, label: string, h: Histogram): void {
    if (h.totalCount === 0) return;
    const id = `${run}\n${label}`;
    let g = this.groups.get(id);
    if (g === undefined) {
      const histogram = build({
        bitBucketSize: 64, autoResize: true,
        lowestDiscernibleValue: 1, highestTrackableValue: 1 << 16, numberOfSignificantValueDigits: 3,
      });
      g = { run, label, histogram };
      this.groups.set(id, g);
    }
    g.histogram.add(h);
  }

  /** The curves (values ÷ scale), runs in the order first added, labels sorted within a run; frees the merged histograms. */
  finish(scale = 1000): PlotLine[] {
    const runs: string[] = [];
    const out: PlotLine[] = [];
    for (const g of this.groups.values()) {
      if (!runs.includes(g.run)) runs.push(g.run);
      out.push({ run: g.run, label: g.label, curve: percentileCurve(g.histogram, scale) });
      g.histogram.destroy();
    }
    this.groups.clear();
    return out.sort((a, b) => runs.indexOf(a.run) - runs.indexOf(b.run) || (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
  }
}
