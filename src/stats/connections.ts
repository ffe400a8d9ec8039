// Connection-level counters (Istio's istio_tcp_* metrics), folded from the connection records of
// the workers' stats rings (ring.ts KIND_CONN_*): connections opened and closed, bytes received
// from and sent to the downstream, per destination, protocol and response flags. Cumulative only.
import { flagNames } from './flags.js';
import { CONN_WEBSOCKET, KIND_CONN_CLOSE, KIND_CONN_OPEN } from './ring.js';
import type { StatsDirection } from './aggregator.js';

export type ConnectionProtocol = 'tcp' | 'websocket';

export interface ConnectionKey {
  readonly direction: StatsDirection;
  readonly service: string;
  readonly version: string;
  readonly protocol: ConnectionProtocol;
  /** flag names, '-' for none */
  readonly responseFlags: string;
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

/** A destination as the aggregator resolves it (direction, service, version). */
export interface ConnectionDestination {
  readonly direction: StatsDirection;
  readonly service: string;
  readonly version: string;
}

/** Flag sets are below 2^20 (flags.ts FLAG_LIMIT): protocol and flags share one map key. */
const PROTOCOL_STRIDE = 1 << 20;

export class ConnectionTable {
  private readonly byDestination = new Map<ConnectionDestination, Map<number, Series>>();
  private series: Series[] = [];

  /** One connection record (kind KIND_CONN_*). Byte counts are deltas since the connection's previous record. */
  record(dest: ConnectionDestination, kind: number, protocol: number, flags: number, bytesIn: number, bytesOut: number): void {
    let byOutcome = this.byDestination.get(dest);
    if (byOutcome === undefined) this.byDestination.set(dest, (byOutcome = new Map()));
    const id = (protocol === CONN_WEBSOCKET ? 1 : 0) * PROTOCOL_STRIDE + flags;
    let s = byOutcome.get(id);
    if (s === undefined) {
      s = new Series({
        direction: dest.direction, service: dest.service, version: dest.version,
        protocol: protocol === CONN_WEBSOCKET ? 'websocket' : 'tcp', responseFlags: flagNames(flags),
      });
      byOutcome.set(id, s);
      this.series.push(s);
    }
    if (kind === KIND_CONN_OPEN) s.opened++;
    else if (kind === KIND_CONN_CLOSE) s.closed++;
    if (bytesIn > 0) s.receivedBytes += bytesIn;
    if (bytesOut > 0) s.sentBytes += bytesOut;
  }

  /** Every series, in a stable order (direction, service, version, protocol, flags). */
  list(): ConnectionStats[] {
    return [...this.series].sort(compareKeys);
  }

  get size(): number {
    return this.series.length;
  }

  reset(): void {
    this.byDestination.clear();
    this.series = [];
  }
}

function compareKeys(x: ConnectionStats, y: ConnectionStats): number {
  const a = x.key;
  const b = y.key;
  if (a.direction !== b.direction) return a.direction < b.direction ? -1 : 1;
  if (a.service !== b.service) return a.service < b.service ? -1 : 1;
  if (a.version !== b.version) return a.version < b.version ? -1 : 1;
  if (a.protocol !== b.protocol) return a.protocol < b.protocol ? -1 : 1;
  if (a.responseFlags !== b.responseFlags) return a.responseFlags < b.responseFlags ? -1 : 1;
  return 0;
}
