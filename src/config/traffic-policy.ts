// Istio's merge of DestinationRule traffic policies for one cluster: top level, then its
// portLevelSettings for the port, then the subset's policy, then the subset's port settings.
// Each component (loadBalancer, connectionPool, outlierDetection) is replaced whole by a later
// level that sets it: port-level settings never inherit fields of the level above.
import type { LbModel, OutlierModel, PoolModel, TrafficPolicyModel } from './model.js';
import { UNLIMITED } from './validate/traffic-policy.js';

export interface EffectivePolicy {
  lb: LbModel;
  pool: PoolModel;
  outlier: OutlierModel | null;
}

export const DEFAULT_LB: LbModel = { simple: 'LEAST_REQUEST', hash: null, warmupMs: 0 };
const PEAK_EWMA_LB: LbModel = { simple: 'PEAK_EWMA', hash: null, warmupMs: 0 };
export const DEFAULT_POOL: PoolModel = {
  maxConnections: UNLIMITED,
  connectTimeoutMs: 0,
  maxPendingRequests: UNLIMITED,
  maxRequests: UNLIMITED,
  maxRequestsPerConnection: 0,
  maxRetries: UNLIMITED,
  idleTimeoutMs: 0,
  h2Upgrade: false,
  maxConcurrentStreams: 0,
  useClientProtocol: false,
};

/** `levels` from least to most specific (DestinationRule, subset); nulls are skipped. */
export function effectivePolicy(levels: readonly (TrafficPolicyModel | null)[], port: number, peakEwma = false): EffectivePolicy {
  const out: EffectivePolicy = { lb: peakEwma ? PEAK_EWMA_LB : DEFAULT_LB, pool: DEFAULT_POOL, outlier: null };
  for (const level of levels) {
    if (level === null) continue;
    apply(out, level);
    const atPort = level.ports.find((p) => p.port === port);
    if (atPort !== undefined) apply(out, atPort.policy);
  }
  return out;
}

function apply(out: EffectivePolicy, p: TrafficPolicyModel): void {
  if (p.lb !== null) out.lb = p.lb;
  if (p.pool !== null) out.pool = p.pool;
  if (p.outlier !== null) out.outlier = p.outlier;
}
