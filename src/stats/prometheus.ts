// Prometheus text exposition (format 0.0.4) of the aggregated request stats under Istio's
// standard metric names and labels, plus meshlet's own meshlet_* gauges and counters.
import type { StatsAggregator } from './aggregator.js';
import { compareSeriesKeys, type SeriesKey } from './series.js';
import { BYTES_BUCKETS, DURATION_BUCKETS_MS } from './buckets.js';
import { ISTIO_LABEL_NAMES, type IstioLabels } from './labels.js';
import { applyOverrides, type IstioMetric, type MetricOverrideSpec } from './overrides.js';
import { renderIstioTcpMetrics } from './prometheus-tcp.js';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** One series' cumulative numbers, as rendered (plain data). Bucket arrays are per-bucket, not cumulative, last = above all. */
export interface IstioSeries {
  readonly key: SeriesKey & { readonly labels: IstioLabels };
  readonly requests: number;
  readonly durationSumUs: number;
  /** length DURATION_BUCKETS_MS.length + 1 */
  readonly durationBuckets: ArrayLike<number>;
  readonly requestBytesSum: number;
  /** length BYTES_BUCKETS.length + 1 */
  readonly requestBytesBuckets: ArrayLike<number>;
  readonly responseBytesSum: number;
  readonly responseBytesBuckets: ArrayLike<number>;
  /** gRPC messages received / sent (gRPC series; absent counts as 0) */
  readonly requestMessages?: number;
  readonly responseMessages?: number;
}

export interface IstioRenderOptions {
  /** Telemetry metric overrides in effect (disabled metrics, tag overrides), applied in order */
  overrides?: readonly MetricOverrideSpec[];
  /** more labels on every istio_* series, after the standard ones */
  constLabels?: Readonly<Record<string, string>>;
}

export interface MeshletMetric {
  /** full metric name; counters should end in `_total` */
  name: string;
  help: string;
  type: 'gauge' | 'counter';
  labels?: Readonly<Record<string, string>>;
  value: number;
}

export interface MeshletMetricsInput {
  /** data-plane worker threads running */
  workers: number;
  /** configuration generation the workers serve */
  configGeneration: number;
  /** records lost to full rings (default in renderPrometheus: aggregator.droppedTotal) */
  ringDropped?: number;
  /** records read from the rings (default in renderPrometheus: aggregator.recordsDrained) */
  recordsDrained?: number;
  activeConnections?: number;
  upstreamPoolSizes?: readonly { cluster: string; connections: number }[];
  /** anything else; series of one name are grouped under one HELP/TYPE */
  metrics?: readonly MeshletMetric[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const RESERVED_LABELS = new Set<string>([...ISTIO_LABEL_NAMES, 'le']);

/** Label value escaping of the text format: backslash, double quote, line feed. */
export function escapeLabelValue(v: string): string {
  return /[\\"\n]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v;
}

/** HELP text escaping: backslash, line feed. */
export function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** A sample value as Go's ParseFloat reads it. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function labelPairs(labels: Readonly<Record<string, string>>): string {
  let out = '';
  for (const name of Object.keys(labels)) {
    if (!LABEL_NAME.test(name) || name.startsWith('__')) throw new Error(`invalid label name "${name}"`);
    out += `${out === '' ? '' : ','}${name}="${escapeLabelValue(labels[name] as string)}"`;
  }
  return out;
}

export function header(name: string, help: string, type: string): string {
  return `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`;
}

function renderPairs(pairs: readonly [string, string][]): string {
  let out = '';
  for (const [name, value] of pairs) out += `${out === '' ? '' : ','}${name}="${escapeLabelValue(value)}"`;
  return out;
}

function histogramLines(name: string, labels: string, boundaries: readonly number[], counts: ArrayLike<number>, sum: number, count: number): string {
  let out = '';
  let cumulative = 0;
  for (let i = 0; i < boundaries.length; i++) {
    cumulative += counts[i] ?? 0;
    out += `${name}_bucket{${labels},le="${formatValue(boundaries[i] as number)}"} ${formatValue(cumulative)}\n`;
  }
  out += `${name}_bucket{${labels},le="+Inf"} ${formatValue(count)}\n`;
  out += `${name}_sum{${labels}} ${formatValue(sum)}\n`;
  out += `${name}_count{${labels}} ${formatValue(count)}\n`;
  return out;
}

/** The cumulative numbers of every series of `agg`, sorted by key. Cheap: no histogram is touched. */
export function collectIstioSeries(agg: StatsAggregator): IstioSeries[] {
  const out: IstioSeries[] = [];
  agg.forEachSeries('cumulative', (s) => {
    if (s.key.labels === undefined) return;
    out.push({
      key: s.key as IstioSeries['key'],
      requests: s.requests,
      durationSumUs: s.durationSumUs,
      durationBuckets: Array.from(s.durationBuckets),
      requestBytesSum: s.requestBytesSum,
      requestBytesBuckets: Array.from(s.requestBytesBuckets),
      responseBytesSum: s.responseBytesSum,
      responseBytesBuckets: Array.from(s.responseBytesBuckets),
      requestMessages: s.requestMessages,
      responseMessages: s.responseMessages,
    });
  });
  return out.sort((a, b) => compareSeriesKeys(a.key, b.key));
}

function isGrpc(s: IstioSeries): boolean {
  return s.key.labels.request_protocol === 'grpc';
}

/** Series summed under one rendered label set (overrides can make several collapse into one). */
interface Group {
  labels: string;
  requests: number;
  sum: number;
  buckets: number[];
}

/** `metric`'s series by rendered labels; `value` reads the bucket array and the sum of a series. */
function groups(series: readonly IstioSeries[], metric: IstioMetric, overrides: readonly MetricOverrideSpec[], extra: string,
  value: (s: IstioSeries) => [ArrayLike<number>, number]): Group[] {
  const byLabels = new Map<string, Group>();
  for (const s of series) {
    const pairs = applyOverrides(overrides, metric, s.key.labels);
    if (pairs === null) continue;
    const labels = renderPairs(pairs) + extra;
    const [buckets, sum] = value(s);
    let g = byLabels.get(labels);
    if (g === undefined) byLabels.set(labels, (g = { labels, requests: 0, sum: 0, buckets: new Array<number>(buckets.length).fill(0) }));
    g.requests += s.requests;
    g.sum += sum;
    for (let i = 0; i < buckets.length; i++) g.buckets[i] = (g.buckets[i] as number) + (buckets[i] ?? 0);
  }
  return [...byLabels.values()];
}

/**
 * istio_requests_total, istio_request_duration_milliseconds, istio_request_bytes,
 * istio_response_bytes, and on gRPC series istio_request_messages_total / istio_response_messages_total.
 */
export function renderIstioMetrics(series: readonly IstioSeries[], options: IstioRenderOptions = {}): string {
  if (series.length === 0) return '';
  const extra = constLabelText(options);
  const overrides = options.overrides ?? [];
  let out = '';
  const requests = groups(series, 'REQUEST_COUNT', overrides, extra, (s) => [[], s.requests]);
  if (requests.length > 0) {
    out += header('istio_requests_total', 'Requests handled, by destination and response.', 'counter');
    for (const g of requests) out += `istio_requests_total{${g.labels}} ${formatValue(g.requests)}\n`;
  }
  const histograms: [IstioMetric, string, string, readonly number[], (s: IstioSeries) => [ArrayLike<number>, number]][] = [
    ['REQUEST_DURATION', 'istio_request_duration_milliseconds', 'Request duration, from the first request byte to the last response byte, in milliseconds.',
      DURATION_BUCKETS_MS, (s) => [s.durationBuckets, s.durationSumUs / 1000]],
    ['REQUEST_SIZE', 'istio_request_bytes', 'Request sizes in bytes.', BYTES_BUCKETS, (s) => [s.requestBytesBuckets, s.requestBytesSum]],
    ['RESPONSE_SIZE', 'istio_response_bytes', 'Response sizes in bytes.', BYTES_BUCKETS, (s) => [s.responseBytesBuckets, s.responseBytesSum]],
  ];
  for (const [metric, name, help, bounds, value] of histograms) {
    const gs = groups(series, metric, overrides, extra, value);
    if (gs.length === 0) continue;
    out += header(name, help, 'histogram');
    for (const g of gs) out += histogramLines(name, g.labels, bounds, g.buckets, g.sum, g.requests);
  }
  // gRPC streaming: messages each way, on gRPC series only (as Istio's stats plugin)
  const grpc = series.filter(isGrpc);
  const counters: [IstioMetric, string, string, (s: IstioSeries) => number][] = [
    ['GRPC_REQUEST_MESSAGES', 'istio_request_messages_total', 'gRPC messages received from the client.', (s) => s.requestMessages ?? 0],
    ['GRPC_RESPONSE_MESSAGES', 'istio_response_messages_total', 'gRPC messages sent to the client.', (s) => s.responseMessages ?? 0],
  ];
  for (const [metric, name, help, value] of counters) {
    const gs = groups(grpc, metric, overrides, extra, (s) => [[], value(s)]);
    if (gs.length === 0) continue;
    out += header(name, help, 'counter');
    for (const g of gs) out += `${name}{${g.labels}} ${formatValue(g.sum)}\n`;
  }
  return out;
}

/** The constant labels as rendered after the standard ones (",name=\"value\"…"), '' for none. */
function constLabelText(options: IstioRenderOptions): string {
  if (options.constLabels === undefined) return '';
  for (const name of Object.keys(options.constLabels)) {
    if (RESERVED_LABELS.has(name)) throw new Error(`constLabels cannot redefine "${name}"`);
  }
  const pairs = labelPairs(options.constLabels);
  return pairs === '' ? '' : `,${pairs}`;
}

/** The meshlet_* metrics of `input`, one HELP/TYPE per name, in first-seen order. */
export function renderMeshletMetrics(input: MeshletMetricsInput): string {
  const metrics: MeshletMetric[] = [
    { name: 'meshlet_workers', help: 'Data-plane worker threads running.', type: 'gauge', value: input.workers },
    { name: 'meshlet_config_generation', help: 'Configuration generation served by the workers.', type: 'gauge', value: input.configGeneration },
  ];
  if (input.ringDropped !== undefined) {
    metrics.push({ name: 'meshlet_stats_ring_dropped_total', help: 'Request records lost because a worker stats ring was full.', type: 'counter', value: input.ringDropped });
  }
  if (input.recordsDrained !== undefined) {
    metrics.push({ name: 'meshlet_stats_records_drained_total', help: 'Request records read from the worker stats rings.', type: 'counter', value: input.recordsDrained });
  }
  if (input.activeConnections !== undefined) {
    metrics.push({ name: 'meshlet_active_connections', help: 'Downstream connections open.', type: 'gauge', value: input.activeConnections });
  }
  for (const p of input.upstreamPoolSizes ?? []) {
    metrics.push({ name: 'meshlet_upstream_pool_connections', help: 'Upstream connections held, by cluster.', type: 'gauge', labels: { cluster: p.cluster }, value: p.connections });
  }
  if (input.metrics !== undefined) metrics.push(...input.metrics);

  const families = new Map<string, MeshletMetric[]>();
  for (const m of metrics) {
    if (!METRIC_NAME.test(m.name)) throw new Error(`invalid metric name "${m.name}"`);
    const family = families.get(m.name);
    if (family === undefined) families.set(m.name, [m]);
    else {
      const first = family[0] as MeshletMetric;
      if (first.type !== m.type) throw new Error(`metric ${m.name} given as both ${first.type} and ${m.type}`);
      family.push(m);
    }
  }
  let out = '';
  for (const [name, family] of families) {
    const first = family[0] as MeshletMetric;
    out += header(name, first.help, first.type);
    const seen = new Set<string>();
    for (const m of family) {
      const pairs = m.labels === undefined ? '' : labelPairs(m.labels);
      if (seen.has(pairs)) throw new Error(`metric ${name}{${pairs}} given twice`);
      seen.add(pairs);
      out += `${name}${pairs === '' ? '' : `{${pairs}}`} ${formatValue(m.value)}\n`;
    }
  }
  return out;
}

/** The whole /stats/prometheus body: istio_* from `agg` (cumulative) and meshlet_* from `meshlet`. */
export function renderPrometheus(agg: StatsAggregator, meshlet: MeshletMetricsInput, options: IstioRenderOptions = {}): string {
  return renderIstioMetrics(collectIstioSeries(agg), options)
    + renderIstioTcpMetrics(agg.connectionSeries(), options.overrides ?? [], constLabelText(options)) + renderMeshletMetrics({
    ...meshlet,
    ringDropped: meshlet.ringDropped ?? agg.droppedTotal,
    recordsDrained: meshlet.recordsDrained ?? agg.recordsDrained,
  });
}
