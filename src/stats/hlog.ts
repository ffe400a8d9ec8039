// HdrHistogram's interval log format (.hlog) for meshlet's histogram reports, and reading it back:
// one interval line per series, tagged `direction|service|version|code|flags` (gRPC series add
// `|g<status>`), values in µs.
import { decodeFromCompressedBase64, HistogramLogReader, HistogramLogWriter, type Histogram } from 'hdr-histogram-js';
import type { HistogramsReport, HistogramsReportSeries } from './histograms-report.js';

/** The parts of a series key an hlog tag carries. */
export interface TagKey {
  direction: string;
  service: string;
  version: string;
  responseCode: number;
  responseFlags: string;
  /** gRPC series: their status (a sixth tag part `g<status>`) */
  grpcStatus?: number;
}

/** Tags may not hold commas, whitespace or '=' (HdrHistogram's readers split on them); '|' separates parts. */
const clean = (s: string): string => s.replace(/[,\s=|]/g, '_');

export function tagOf(k: TagKey): string {
  const parts = [k.direction, k.service, k.version, String(k.responseCode), k.responseFlags];
  if (k.grpcStatus !== undefined && k.grpcStatus >= -1) parts.push(`g${k.grpcStatus}`);
  return parts.map(clean).join('|');
}

/** The key inside a meshlet tag, or null for a tag written by someone else. */
export function keyOfTag(tag: string): TagKey | null {
  const p = tag.split('|');
  if ((p.length !== 5 && p.length !== 6) || !/^\d+$/.test(p[3] as string)) return null;
  const key: TagKey = { direction: p[0] as string, service: p[1] as string, version: p[2] as string, responseCode: Number(p[3]), responseFlags: p[4] as string };
  if (p.length === 6) {
    if (!/^g-?\d+$/.test(p[5] as string)) return null;
    key.grpcStatus = Number((p[5] as string).slice(1));
  }
  return key;
}

export interface HlogOptions {
  /** which histogram of each series (default duration) */
  kind?: 'duration' | 'overhead';
  filter?: (s: HistogramsReportSeries) => boolean;
}

/**
 * The report (with encoded histograms) as an interval log: BaseTime = the view's start, one line
 * per series covering [start, end]; Interval_Max in ms (values are µs, maxValueUnitRatio 1000).
 */
export function reportToHlog(report: HistogramsReport, options: HlogOptions = {}): string {
  const kind = options.kind ?? 'duration';
  const out: string[] = [];
  const w = new HistogramLogWriter((s) => { out.push(s); });
  const startSec = (report.startMs / 1000).toFixed(3);
  w.outputLogFormatVersion();
  w.outputComment(`[meshlet ${report.view} view, ${kind}; values in microseconds, Interval_Max in milliseconds; Tag=direction|service|version|code|flags]`);
  w.outputComment(`[StartTime: ${startSec} (seconds since epoch), ${new Date(report.startMs).toISOString()}]`);
  w.outputComment(`[BaseTime: ${startSec} (seconds since epoch)]`);
  w.outputLegend();
  const lengthSec = Math.max(0, report.endMs - report.startMs) / 1000;
  for (const s of report.series) {
    const encoded = s[kind].histogram;
    if (encoded === undefined || s[kind].count === 0 || (options.filter !== undefined && !options.filter(s))) continue;
    const h = decodeFromCompressedBase64(encoded);
    h.tag = tagOf(s);
    w.outputIntervalHistogram(h, 0, lengthSec, 1000);
  }
  return out.join('');
}

export interface TaggedHistogram {
  tag: string;
  histogram: Histogram;
}

/** Every interval of an hlog, summed per tag (JS histograms; untagged lines get tag ''). */
export function readHlog(text: string): TaggedHistogram[] {
  const reader = new HistogramLogReader(text, 64);
  const byTag = new Map<string, Histogram>();
  for (let h = reader.nextIntervalHistogram(); h !== null; h = reader.nextIntervalHistogram()) {
    const tag = h.tag === 'NO TAG' || h.tag === undefined ? '' : h.tag;
    const seen = byTag.get(tag);
    if (seen === undefined) byTag.set(tag, h);
    else seen.add(h);
  }
  return [...byTag].map(([tag, histogram]) => ({ tag, histogram }));
}
