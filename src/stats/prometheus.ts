// Prometheus text exposition (format 0.0.4) of the aggregated request stats under Istio's
// standard metric names and labels, plus meshlet's own meshlet_* gauges and counters.
import { compareSeriesKeys, type SeriesKey, type StatsAggregator } from './aggregator.js';
import { BYTES_BUCKETS, DURATION_BUCKETS_MS } from './buckets.js';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** One series' cumulative numbers, as rendered (plain data). Bucket arrays are per-bucket, not cumulative, last = above all. */
export interface IstioSeries {
  readonly key: SeriesKey;
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
  /**
   * This proxy's workload name: `source_workload` of outbound (reporter="source") series (default
   * "unknown"). Inbound series get "unknown": the caller is not known without peer metadata.
   */
  sourceWorkload?: string;
  /** more labels on every istio_* series (e.g. source_workload_namespace), after the standard ones */
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
const RESERVED_LABELS = new Set([
  'reporter', 'source_workload', 'destination_service', 'destination_service_name', 'destination_version',
  'request_protocol', 'response_code', 'grpc_response_status', 'response_flags', 'le',
]);

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

function header(name: string, help: string, type: string): string {
  return `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`;
}

/** `destination_service_name`: the first DNS label of an outbound host; inbound names are kept whole. */
export function serviceName(key: SeriesKey): string {
  if (key.direction === 'inbound') return key.service;
  const dot = key.service.indexOf('.');
  return dot > 0 ? key.service.slice(0, dot) : key.service;
}

/** A gRPC request's series (Istio: request_protocol="grpc", grpc_response_status set when known). */
function isGrpc(key: SeriesKey): boolean {
  return key.grpcStatus !== undefined && key.grpcStatus >= -1;
}

/** The standard label set of one series (without `le`), rendered. */
function istioLabels(key: SeriesKey, sourceWorkload: string, extra: string): string {
  const outbound = key.direction === 'outbound';
  return `reporter="${outbound ? 'source' : 'destination'}"`
    + `,source_workload="${outbound ? escapeLabelValue(sourceWorkload) : 'unknown'}"`
    + `,destination_service="${escapeLabelValue(key.service)}"`
    + `,destination_service_name="${escapeLabelValue(serviceName(key))}"`
    + `,destination_version="${escapeLabelValue(key.version)}"`
    + `,request_protocol="${isGrpc(key) ? 'grpc' : 'http'}"`
    + `,response_code="${key.responseCode}"`
    + `,grpc_response_status="${isGrpc(key) && (key.grpcStatus as number) >= 0 ? key.grpcStatus : ''}"`
    + `,response_flags="${escapeLabelValue(key.responseFlags)}"`
    + extra;
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
    out.push({
      key: s.key,
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

/**
 * istio_requests_total, istio_request_duration_milliseconds, istio_request_bytes,
 * istio_response_bytes, and for gRPC series istio_request_messages_total / istio_response_messages_total.
 */
export function renderIstioMetrics(series: readonly IstioSeries[], options: IstioRenderOptions = {}): string {
  if (series.length === 0) return '';
  const sourceWorkload = options.sourceWorkload ?? 'unknown';
  let extra = '';
  if (options.constLabels !== undefined) {
    for (const name of Object.keys(options.constLabels)) {
      if (RESERVED_LABELS.has(name)) throw new Error(`constLabels cannot redefine "${name}"`);
    }
    const pairs = labelPairs(options.constLabels);
    if (pairs !== '') extra = `,${pairs}`;
  }
  const labels = series.map((s) => istioLabels(s.key, sourceWorkload, extra));

  let out = header('istio_requests_total', 'Requests handled, by destination and response.', 'counter');
  for (let i = 0; i < series.length; i++) out += `istio_requests_total{${labels[i]}} ${formatValue((series[i] as IstioSeries).requests)}\n`;

  out += header('istio_request_duration_milliseconds', 'Request duration, from the first request byte to the last response byte, in milliseconds.', 'histogram');
  for (let i = 0; i < series.length; i++) {
    const s = series[i] as IstioSeries;
    out += histogramLines('istio_request_duration_milliseconds', labels[i] as string, DURATION_BUCKETS_MS, s.durationBuckets, s.durationSumUs / 1000, s.requests);
  }
  out += header('istio_request_bytes', 'Request sizes in bytes.', 'histogram');
  for (let i = 0; i < series.length; i++) {
    const s = series[i] as IstioSeries;
    out += histogramLines('istio_request_bytes', labels[i] as string, BYTES_BUCKETS, s.requestBytesBuckets, s.requestBytesSum, s.requests);
  }
  out += header('istio_response_bytes', 'Response sizes in bytes.', 'histogram');
  for (let i = 0; i < series.length; i++) {
    const s = series[i] as IstioSeries;
    out += histogramLines('istio_response_bytes', labels[i] as string, BYTES_BUCKETS, s.responseBytesBuckets, s.responseBytesSum, s.requests);
  }
  // gRPC streaming: messages each way, on gRPC series only (as Istio's stats plugin)
  const grpc = series.flatMap((s, i) => (isGrpc(s.key) ? [i] : []));
  if (grpc.length > 0) {
    out += header('istio_request_messages_total', 'gRPC messages received from the client.', 'counter');
    for (const i of grpc) out += `istio_request_messages_total{${labels[i]}} ${formatValue((series[i] as IstioSeries).requestMessages ?? 0)}\n`;
    out += header('istio_response_messages_total', 'gRPC messages sent to the client.', 'counter');
    for (const i of grpc) out += `istio_response_messages_total{${labels[i]}} ${formatValue((series[i] as IstioSeries).responseMessages ?? 0)}\n`;
  }
  return out;
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
  return renderIstioMetrics(collectIstioSeries(agg), options) + renderMeshletMetrics({
    ...meshlet,
    ringDropped: meshlet.ringDropped ?? agg.droppedTotal,
    recordsDrained: meshlet.recordsDrained ?? agg.recordsDrained,
  });
}
