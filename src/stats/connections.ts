// Connection-level counters (Istio's istio_tcp_* metrics), folded from the connection records of
// the workers' stats rings (ring.ts KIND_CONN_*): connections opened and closed, bytes received
// from and sent to the downstream, per (reporter, peer, service) — the aggregator's connection and
// its labels (labels.ts) — and per protocol and response flags. Cumulative only.
import { flagNames } from './flags.js';
import { istioLabels, type IstioLabels, type connectionLabels } from './labels.js';
import { CONN_WEBSOCKET, KIND_CONN_CLOSE, KIND_CONN_OPEN } from './ring.js';
import type { StatsDirection } from './series.js';

export type ConnectionProtocol = 'tcp' | 'websocket';

export interface ConnectionKey {
  readonly direction: StatsDirection;
  readonly protocol: ConnectionProtocol;
  /** flag names, '-' for none */
  readonly responseFlags: string;
  /** Istio's labels (request_protocol "tcp"; response_code and grpc_response_status are not TCP labels, rendered without) */
  readonly labels: IstioLabels;
}

export interface ConnectionStats {
  readonly key: ConnectionKey;
  readonly opened: number;
  readonly closed: number;
  /** bytes received from the downstream (Istio's istio_tcp_received_bytes_total) */
  readonly receivedBytes: number;
  /** bytes sent to the downstream (istio_tcp_sent_bytes_total) */
  readonly sentBytes: number;
}

class Series implements ConnectionStats {
  opened = 0;
  closed = 0;
  receivedBytes = 0;
  sentBytes = 0;
  constructor(readonly key: ConnectionKey) {}
}

/** The aggregator's (reporter, peer, service) with its labels. */
export interface ConnectionPeer {
  readonly direction: StatsDirection;
  readonly labels: ReturnType<typeof connectionLabels>;
}

/** Flag sets are below 2^20 (flags.ts FLAG_LIMIT): protocol and flags share one map key. */
const PROTOCOL_STRIDE = 1 << 20;

export class ConnectionTable {
  private readonly byPeer = new Map<ConnectionPeer, Map<number, Series>>();
  private series: Series[] = [];

  /** One connection record (kind KIND_CONN_*). Byte counts are deltas since the connection's previous record. */
  record(peer: ConnectionPeer, kind: number, protocol: number, flags: number, bytesIn: number, bytesOut: number): void {
    let byOutcome = this.byPeer.get(peer);
    if (byOutcome === undefined) this.byPeer.set(peer, (byOutcome = new Map()));
    const websocket = protocol === CONN_WEBSOCKET;
    const id = (websocket ? 1 : 0) * PROTOCOL_STRIDE + flags;
    let s = byOutcome.get(id);
    if (s === undefined) {
      const responseFlags = flagNames(flags);
      // Istio's TCP metrics say request_protocol "tcp"; a relayed WebSocket says "websocket"
      const labels = istioLabels(peer.labels, 'tcp', 0, -1, responseFlags);
      if (websocket) labels.request_protocol = 'websocket';
      s = new Series({ direction: peer.direction, protocol: websocket ? 'websocket' : 'tcp', responseFlags, labels });
      byOutcome.set(id, s);
      this.series.push(s);
    }
    if (kind === KIND_CONN_OPEN) s.opened++;
    else if (kind === KIND_CONN_CLOSE) s.closed++;
    if (bytesIn > 0) s.receivedBytes += bytesIn;
    if (bytesOut > 0) s.sentBytes += bytesOut;
  }

  /** Every series, in a stable order (direction, service, peer workload, protocol, flags). */
  list(): ConnectionStats[] {
    return [...this.series].sort(compareKeys);
  }

  get size(): number {
    return this.series.length;
  }

  reset(): void {
    this.byPeer.clear();
    this.series = [];
  }
}

function compareKeys(x: ConnectionStats, y: ConnectionStats): number {
  const a = x.key;
  const b = y.key;
  if (a.direction !== b.direction) return a.direction < b.direction ? -1 : 1;
  for (const k of ['destination_service', 'source_workload', 'destination_workload', 'destination_version'] as const) {
    if (a.labels[k] !== b.labels[k]) return a.labels[k] < b.labels[k] ? -1 : 1;
  }
  if (a.protocol !== b.protocol) return a.protocol < b.protocol ? -1 : 1;
  if (a.responseFlags !== b.responseFlags) return a.responseFlags < b.responseFlags ? -1 : 1;
  return 0;
}
