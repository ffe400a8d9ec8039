// Istio's TCP metrics in the Prometheus text format: istio_tcp_connections_opened_total,
// istio_tcp_connections_closed_total, istio_tcp_received_bytes_total and istio_tcp_sent_bytes_total,
// with Istio's standard labels but response_code and grpc_response_status (labels.ts), Telemetry
// overrides applied as for the HTTP metrics. request_protocol is "tcp" for proxied TCP and TLS
// connections and "websocket" for upgraded HTTP connections.
import type { ConnectionStats } from './connections.js';
import { applyOverrides, type IstioMetric, type MetricOverrideSpec } from './overrides.js';
import { escapeLabelValue, formatValue, header } from './prometheus.js';

const METRICS: readonly [metric: IstioMetric, name: string, help: string, value: (s: ConnectionStats) => number][] = [
  ['TCP_OPENED_CONNECTIONS', 'istio_tcp_connections_opened_total', 'TCP connections opened, by destination.', (s) => s.opened],
  ['TCP_CLOSED_CONNECTIONS', 'istio_tcp_connections_closed_total', 'TCP connections closed, by destination and response flags.', (s) => s.closed],
  ['TCP_RECEIVED_BYTES', 'istio_tcp_received_bytes_total', 'Bytes received from the downstream on TCP connections.', (s) => s.receivedBytes],
  ['TCP_SENT_BYTES', 'istio_tcp_sent_bytes_total', 'Bytes sent to the downstream on TCP connections.', (s) => s.sentBytes],
];

const NOT_TCP = new Set(['response_code', 'grpc_response_status']);

/** `extra`: the rendered constant labels (",a=\"b\"") or ''. */
export function renderIstioTcpMetrics(series: readonly ConnectionStats[], overrides: readonly MetricOverrideSpec[], extra: string): string {
  if (series.length === 0) return '';
  let out = '';
  for (const [metric, name, help, value] of METRICS) {
    // series that overrides make alike are summed under one label set
    const sums = new Map<string, number>();
    for (const s of series) {
      const pairs = applyOverrides(overrides, metric, s.key.labels);
      if (pairs === null) continue;
      let labels = '';
      for (const [n, v] of pairs) if (!NOT_TCP.has(n)) labels += `${labels === '' ? '' : ','}${n}="${escapeLabelValue(v)}"`;
      labels += extra;
      sums.set(labels, (sums.get(labels) ?? 0) + value(s));
    }
    if (sums.size === 0) continue;
    out += header(name, help, 'counter');
    for (const [labels, v] of sums) out += `${name}{${labels}} ${formatValue(v)}\n`;
  }
  return out;
}
