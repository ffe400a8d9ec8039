// Reads the shared upstream state for the admin endpoint and metrics (control thread): per
// cluster its limits' counters and ejections, per endpoint its ejection state and load.
import type { ClusterSpec, Snapshot } from '../../config/snapshot.js';
import type { MeshletMetric } from '../../stats/prometheus.js';
import {
  C_ACTIVE, C_EJECTED, C_EJECTIONS, C_OVERFLOW, C_PENDING, C_RETRIES, C_RETRY_OVERFLOW, E_ACTIVE, E_CONSECUTIVE_5XX,
  E_CONSECUTIVE_GATEWAY, E_EJECTED, E_EJECTIONS, E_MULTIPLIER, F_EJECTED_AT, type SharedUpstreamState,
} from './layout.js';

export interface ClusterCounters {
  active: number;
  pending: number;
  retriesActive: number;
  ejected: number;
  ejectionsTotal: number;
  overflowTotal: number;
  retryOverflowTotal: number;
}

export interface EndpointState {
  active: number;
  ejected: boolean;
  ejectedAt: string | null;
  ejectionsTotal: number;
  ejectionMultiplier: number;
  consecutive5xx: number;
  consecutiveGatewayErrors: number;
}

export function clusterCounters(state: SharedUpstreamState, c: ClusterSpec): ClusterCounters | null {
  if (c.slot < 0) return null;
  const b = state.cl(c.slot);
  const i = state.i32;
  return {
    active: Atomics.load(i, b + C_ACTIVE),
    pending: Atomics.load(i, b + C_PENDING),
    retriesActive: Atomics.load(i, b + C_RETRIES),
    ejected: Atomics.load(i, b + C_EJECTED),
    ejectionsTotal: Atomics.load(i, b + C_EJECTIONS),
    overflowTotal: Atomics.load(i, b + C_OVERFLOW),
    retryOverflowTotal: Atomics.load(i, b + C_RETRY_OVERFLOW),
  };
}

export function endpointState(state: SharedUpstreamState, slot: number): EndpointState | null {
  if (slot < 0) return null;
  const b = state.ep(slot);
  const i = state.i32;
  const ejected = Atomics.load(i, b + E_EJECTED) !== 0;
  return {
    active: Atomics.load(i, b + E_ACTIVE),
    ejected,
    ejectedAt: ejected ? new Date(state.f64[state.fp(slot) + F_EJECTED_AT] as number).toISOString() : null,
    ejectionsTotal: Atomics.load(i, b + E_EJECTIONS),
    ejectionMultiplier: Atomics.load(i, b + E_MULTIPLIER),
    consecutive5xx: Atomics.load(i, b + E_CONSECUTIVE_5XX),
    consecutiveGatewayErrors: Atomics.load(i, b + E_CONSECUTIVE_GATEWAY),
  };
}

/** Metric samples (name, help, type, labels, value) for every cluster with a slot. */
export function upstreamMetrics(state: SharedUpstreamState, snapshot: Snapshot | null): MeshletMetric[] {
  const out: MeshletMetric[] = [];
  if (snapshot === null) return out;
  for (const c of snapshot.clusters) {
    const k = clusterCounters(state, c);
    if (k === null) continue;
    const labels = { cluster: c.name };
    out.push({ name: 'meshlet_upstream_overflow_total', help: 'Requests refused with 503 UO by a DestinationRule connectionPool limit.', type: 'counter', labels, value: k.overflowTotal });
    out.push({ name: 'meshlet_upstream_retry_overflow_total', help: 'Retries not taken because connectionPool.http.maxRetries were in flight.', type: 'counter', labels, value: k.retryOverflowTotal });
    out.push({ name: 'meshlet_upstream_pending_requests', help: 'Requests waiting for an upstream connection (connectionPool limits).', type: 'gauge', labels, value: k.pending });
    if (c.outlier !== null) {
      out.push({ name: 'meshlet_outlier_ejections_total', help: 'Endpoints ejected by outlier detection.', type: 'counter', labels, value: k.ejectionsTotal });
      out.push({ name: 'meshlet_outlier_ejected_endpoints', help: 'Endpoints currently ejected by outlier detection.', type: 'gauge', labels, value: k.ejected });
    }
  }
  return out;
}
