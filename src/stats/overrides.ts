// Telemetry `metrics.overrides` applied to a series' standard labels when it is rendered: a
// matching override may disable the metric, remove labels or set them to a literal (Istio's
// tagOverrides REMOVE / UPSERT). Overrides apply in order (mesh, namespace, workload), the later
// winning, as Istio merges them. Used for HTTP and TCP metrics alike.
import { ISTIO_LABEL_NAMES, type IstioLabels } from './labels.js';

/** Istio's metric selectors (telemetry.istio.io MetricSelector.IstioMetric). */
export const ISTIO_METRICS = {
  REQUEST_COUNT: 'istio_requests_total',
  REQUEST_DURATION: 'istio_request_duration_milliseconds',
  REQUEST_SIZE: 'istio_request_bytes',
  RESPONSE_SIZE: 'istio_response_bytes',
  TCP_OPENED_CONNECTIONS: 'istio_tcp_connections_opened_total',
  TCP_CLOSED_CONNECTIONS: 'istio_tcp_connections_closed_total',
  TCP_SENT_BYTES: 'istio_tcp_sent_bytes_total',
  TCP_RECEIVED_BYTES: 'istio_tcp_received_bytes_total',
  GRPC_REQUEST_MESSAGES: 'istio_request_messages_total',
  GRPC_RESPONSE_MESSAGES: 'istio_response_messages_total',
} as const;
export type IstioMetric = keyof typeof ISTIO_METRICS | 'ALL_METRICS';
export type WorkloadMode = 'CLIENT_AND_SERVER' | 'CLIENT' | 'SERVER';

export interface MetricOverrideSpec {
  metric: IstioMetric;
  mode: WorkloadMode;
  disabled: boolean;
  /** [label, value]: value null removes the label, a string sets it */
  tags: [string, string | null][];
}

/** The rendered label pairs of one series for `metric`, or null when the metric is disabled for it. */
export function applyOverrides(overrides: readonly MetricOverrideSpec[], metric: IstioMetric, labels: IstioLabels): [string, string][] | null {
  let pairs: [string, string][] | null = null;
  const client = labels.reporter === 'source';
  for (const o of overrides) {
    if (o.metric !== 'ALL_METRICS' && o.metric !== metric) continue;
    if (o.mode === 'CLIENT' ? !client : o.mode === 'SERVER' ? client : false) continue;
    if (o.disabled) return null;
    pairs ??= ISTIO_LABEL_NAMES.map((n): [string, string] => [n, labels[n]]);
    for (const [name, value] of o.tags) {
      const i = pairs.findIndex((p) => p[0] === name);
      if (value === null) {
        if (i >= 0) pairs.splice(i, 1);
      } else if (i >= 0) (pairs[i] as [string, string])[1] = value;
      else pairs.push([name, value]);
    }
  }
  return pairs ?? ISTIO_LABEL_NAMES.map((n): [string, string] => [n, labels[n]]);
}
