// Tracing settings: chosen once on the command line, passed to every data-plane worker
// (inside DataPlaneSettings); null there means tracing is off and costs one null check.

export type TraceExporterKind = 'otlp' | 'zipkin';

export interface TracingSettings {
  /** OTLP/HTTP JSON (`POST …/v1/traces`) or Zipkin v2 JSON (`POST …/api/v2/spans`) */
  exporter: TraceExporterKind;
  /** the collector URL, http:// or https:// */
  endpoint: string;
  /** service.name (OTLP resource) / localEndpoint.serviceName (Zipkin) */
  serviceName: string;
  /** node_id attribute on every span (meshlet~host~pid by default) */
  nodeId: string;
  /** share of new traces recorded, 0..100; an incoming sampled flag always wins */
  samplingPercent: number;
  /** a span waits at most this long before it is exported */
  batchDelayMs: number;
  /** spans per export request */
  maxBatch: number;
  /** spans held per worker waiting for export; more are dropped (and counted) */
  maxQueue: number;
  /** one export request gives up (its spans count as dropped) after this long */
  exportTimeoutMs: number;
}

export const TRACING_DEFAULTS = {
  samplingPercent: 1,
  batchDelayMs: 1000,
  maxBatch: 512,
  maxQueue: 2048,
  exportTimeoutMs: 10_000,
} as const;
