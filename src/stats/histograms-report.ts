// The /stats/histograms document: per series, latency and meshlet-overhead percentiles (ms, µs
// precision) and each histogram as standard compressed base64 (HISTFAAA…, values in µs), for
// the cumulative or the interval view. Plain data; the admin endpoint serialises it.
import { encodeIntoCompressedBase64, type Histogram } from 'hdr-histogram-js';
import type { StatsAggregator } from './aggregator.js';
import { compareSeriesKeys, type StatsDirection, type StatsView } from './series.js';

export interface DistributionSummary {
  count: number;
  /** in `unit` of the report section (ms for latencies, bytes for sizes) */
  min: number;
  max: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  p9999: number;
  /** encodeIntoCompressedBase64 of the histogram (µs or bytes); absent when encoding was not asked for */
  histogram?: string;
}

export interface HistogramsReportSeries {
  direction: StatsDirection;
  service: string;
  version: string;
  responseCode: number;
  responseFlags: string;
  /** gRPC series with a status: the status (0..16) */
  grpcStatus?: number;
  requests: number;
  /** total request latency, ms */
  duration: DistributionSummary;
  /** meshlet's own time (total − upstream), ms; count 0 when no request reached an upstream */
  overhead: DistributionSummary;
  /** sizes in bytes, when `includeBytes` */
  requestBytes?: DistributionSummary;
  responseBytes?: DistributionSummary;
}

export interface HistogramsReport {
  view: StatsView;
  /** the view covers [startMs, endMs] (epoch ms) */
  startMs: number;
  endMs: number;
  /** unit of duration/overhead summaries */
  unit: 'ms';
  /** unit of the values inside the encoded duration/overhead histograms */
  histogramUnit: 'us';
  significantDigits: 3;
  series: HistogramsReportSeries[];
}

export interface HistogramsReportOptions {
  /** include the compressed base64 histograms (default true) */
  encode?: boolean;
  /** include request/response size distributions (default false) */
  includeBytes?: boolean;
}

const round3 = (v: number): number => Math.round(v * 1000) / 1000;

/** Summary of `h`, values divided by `scale` (1000: µs → ms), rounded to 3 decimals. */
export function summarize(h: Histogram, scale: number, encode: boolean): DistributionSummary {
  const count = h.totalCount;
  const at = (p: number): number => (count === 0 ? 0 : round3(h.getValueAtPercentile(p) / scale));
  const out: DistributionSummary = {
    count,
    min: at(0),
    max: count === 0 ? 0 : round3(h.maxValue / scale),
    mean: count === 0 ? 0 : round3(h.mean / scale),
    p50: at(50),
    p90: at(90),
    p99: at(99),
    p999: at(99.9),
    p9999: at(99.99),
  };
  if (encode) out.histogram = encodeIntoCompressedBase64(h);
  return out;
}

/** Builds the report; encoding costs about 0.1–1 ms per histogram on the calling (control) thread. */
export function histogramsReport(agg: StatsAggregator, view: StatsView = 'cumulative', options: HistogramsReportOptions = {}): HistogramsReport {
  const encode = options.encode ?? true;
  const series: HistogramsReportSeries[] = [];
  agg.forEachSeries(view, (s) => {
    const entry: HistogramsReportSeries = {
      direction: s.key.direction,
      service: s.key.service,
      version: s.key.version,
      responseCode: s.key.responseCode,
      responseFlags: s.key.responseFlags,
      ...(s.key.labels === undefined || s.key.labels.grpc_response_status === '' ? {} : { grpcStatus: Number(s.key.labels.grpc_response_status) }),
      requests: s.requests,
      duration: summarize(s.histogram('duration'), 1000, encode),
      overhead: summarize(s.histogram('overhead'), 1000, encode),
    };
    if (options.includeBytes === true) {
      entry.requestBytes = summarize(s.histogram('requestBytes'), 1, encode);
      entry.responseBytes = summarize(s.histogram('responseBytes'), 1, encode);
    }
    series.push(entry);
  });
  series.sort((a, b) => compareSeriesKeys(
    { direction: a.direction, service: a.service, version: a.version, responseCode: a.responseCode, responseFlags: a.responseFlags },
    { direction: b.direction, service: b.service, version: b.version, responseCode: b.responseCode, responseFlags: b.responseFlags },
  ) || (a.grpcStatus ?? -1) - (b.grpcStatus ?? -1));
  return {
    view,
    startMs: view === 'interval' ? agg.intervalStartMs : agg.cumulativeStartMs,
    endMs: Date.now(),
    unit: 'ms',
    histogramUnit: 'us',
    significantDigits: 3,
    series,
  };
}
