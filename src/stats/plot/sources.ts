// Where plot lines come from: the live aggregator (admin page), a histograms report (the CLI asks
// the control socket), a saved report JSON or an .hlog file (`--from`, one run per file).
import { decodeFromCompressedBase64 } from 'hdr-histogram-js';
import type { StatsAggregator, StatsView } from '../aggregator.js';
import type { HistogramsReport } from '../histograms-report.js';
import { keyOfTag, readHlog } from '../hlog.js';
import { lineLabel, type LineBuilder, type PlotGrouping } from './lines.js';

/** Duration histograms of every series in `view`; the builder must use the aggregator's WebAssembly flag. */
export function addAggregator(b: LineBuilder, agg: StatsAggregator, view: StatsView, by: PlotGrouping): void {
  agg.forEachSeries(view, (s) => b.add('', lineLabel(s.key, by), s.histogram('duration')));
}

/** A report with encoded histograms (`/stats/histograms`, `meshlet stats --histograms --json`). */
export function addReport(b: LineBuilder, run: string, report: HistogramsReport, by: PlotGrouping, filter?: (service: string) => boolean): void {
  for (const s of report.series) {
    const encoded = s.duration.histogram;
    if (encoded === undefined || (filter !== undefined && !filter(s.service))) continue;
    b.add(run, lineLabel(s, by), decodeFromCompressedBase64(encoded));
  }
}

/** An interval log; meshlet tags become route/series labels, other tags are kept as they are. */
export function addHlog(b: LineBuilder, run: string, text: string, by: PlotGrouping, filter?: (service: string) => boolean): void {
  for (const { tag, histogram } of readHlog(text)) {
    const key = keyOfTag(tag);
    if (filter !== undefined && !filter(key?.service ?? tag)) continue;
    b.add(run, key === null ? (tag === '' ? 'untagged' : tag) : lineLabel(key, by), histogram);
  }
}

/** A saved file: report JSON when it starts with '{', an interval log otherwise. */
export function addFile(b: LineBuilder, run: string, text: string, by: PlotGrouping, filter?: (service: string) => boolean): void {
  if (text.trimStart().startsWith('{')) {
    const report = JSON.parse(text) as HistogramsReport | { report: HistogramsReport };
    addReport(b, run, 'report' in report ? report.report : report, by, filter);
  } else {
    addHlog(b, run, text, by, filter);
  }
}

/** Title and subtitle of a plot of live data. */
export function liveTitles(view: StatsView, startMs: number, endMs: number): { title: string; subtitle: string } {
  return {
    title: `meshlet latency by percentile (${view} view)`,
    subtitle: `${new Date(startMs).toISOString()} – ${new Date(endMs).toISOString()}`,
  };
}
