// Istio's TCP metrics in the Prometheus text format: istio_tcp_connections_opened_total,
// istio_tcp_connections_closed_total, istio_tcp_received_bytes_total and istio_tcp_sent_bytes_total,
// with the labels of the istio_requests_* series (no response_code). request_protocol is "tcp" for
// proxied TCP and TLS connections and "websocket" for upgraded HTTP connections.
import type { ConnectionStats } from './connections.js';
import { escapeLabelValue, formatValue, header, labelPairs, RESERVED_LABELS, serviceName, type IstioRenderOptions } from './prometheus.js';

const METRICS: readonly [name: string, help: string, value: (s: ConnectionStats) => number][] = [
  ['istio_tcp_connections_opened_total', 'TCP connections opened, by destination.', (s) => s.opened],
  ['istio_tcp_connections_closed_total', 'TCP connections closed, by destination and response flags.', (s) => s.closed],
  ['istio_tcp_received_bytes_total', 'Bytes received from the downstream on TCP connections.', (s) => s.receivedBytes],
  ['istio_tcp_sent_bytes_total', 'Bytes sent to the downstream on TCP connections.', (s) => s.sentBytes],
];

export function renderIstioTcpMetrics(series: readonly ConnectionStats[], options: IstioRenderOptions = {}): string {
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
  const labels = series.map((s) => {
    const k = s.key;
    const outbound = k.direction === 'outbound';
    return `reporter="${outbound ? 'source' : 'destination'}"`
      + `,source_workload="${outbound ? escapeLabelValue(sourceWorkload) : 'unknown'}"`
      + `,destination_service="${escapeLabelValue(k.service)}"`
      + `,destination_service_name="${escapeLabelValue(serviceName(k))}"`
      + `,destination_version="${escapeLabelValue(k.version)}"`
      + `,request_protocol="${k.protocol}"`
      + `,response_flags="${escapeLabelValue(k.responseFlags)}"`
      + extra;
  });
  let out = '';
  for (const [name, help, value] of METRICS) {
    out += header(name, help, 'counter');
    for (let i = 0; i < series.length; i++) out += `${name}{${labels[i]}} ${formatValue(value(series[i] as ConnectionStats))}\n`;
  }
  return out;
}
