// Which Telemetry resources apply to this workload, and what they add up to, as Istio resolves
// them: mesh-wide ones (root namespace, no selector), then the workload's namespace's, then those
// whose selector matches its labels; a more specific level overrides tracing fields and replaces
// access logging, and metric overrides apply in that order. Without a known workload every
// Telemetry is taken as applying (by the same precedence). Computed once per generation.
import { ROOT_NAMESPACE } from '../config/identity.js';
import type { TelemetrySpec } from '../config/telemetry-spec.js';
import type { MetricOverrideSpec, WorkloadMode } from '../stats/overrides.js';
import type { FilterNode } from './filter-expr.js';
import type { WorkloadMeta } from './workload.js';

export interface TracingPolicy {
  /** null: the command line's --trace-sampling */
  samplingPercent: number | null;
  disableSpanReporting: boolean;
}

export interface AccessLogPolicy {
  enabled: boolean;
  filter: FilterNode | null;
}

export interface EffectiveTelemetry {
  /** [outbound (CLIENT), inbound (SERVER)] */
  tracing: [TracingPolicy, TracingPolicy];
  /** [outbound, inbound]; null: no Telemetry decides, the command line's --access-log does */
  accessLog: [AccessLogPolicy | null, AccessLogPolicy | null];
  metrics: MetricOverrideSpec[];
  /** the applying resources, most general first (for logs) */
  applied: string[];
}

export const NO_TELEMETRY: EffectiveTelemetry = {
  tracing: [{ samplingPercent: null, disableSpanReporting: false }, { samplingPercent: null, disableSpanReporting: false }],
  accessLog: [null, null],
  metrics: [],
  applied: [],
};

function level(t: TelemetrySpec): number {
  if (t.selector !== null) return 2;
  return t.namespace === ROOT_NAMESPACE ? 0 : 1;
}

function applies(t: TelemetrySpec, w: WorkloadMeta | null): boolean {
  if (w === null || w.namespace === '') return true;
  if (t.selector === null) return t.namespace === ROOT_NAMESPACE || t.namespace === w.namespace;
  if (t.namespace !== w.namespace) return false;
  for (const k of Object.keys(t.selector)) if (w.labels[k] !== t.selector[k]) return false;
  return true;
}

function matches(mode: WorkloadMode, inbound: boolean): boolean {
  return mode === 'CLIENT_AND_SERVER' || (mode === 'SERVER') === inbound;
}

export function effectiveTelemetry(specs: readonly TelemetrySpec[] | undefined, workload: WorkloadMeta | null): EffectiveTelemetry {
  if (specs === undefined || specs.length === 0) return NO_TELEMETRY;
  const chosen = specs.filter((t) => applies(t, workload)).map((t, i) => [t, i] as const)
    .sort((a, b) => level(a[0]) - level(b[0]) || a[1] - b[1]).map(([t]) => t);
  const out: EffectiveTelemetry = {
    tracing: [{ samplingPercent: null, disableSpanReporting: false }, { samplingPercent: null, disableSpanReporting: false }],
    accessLog: [null, null],
    metrics: [],
    applied: chosen.map((t) => t.name),
  };
  for (const t of chosen) {
    for (const dir of [0, 1] as const) {
      const inbound = dir === 1;
      for (const tr of t.tracing) {
        if (!matches(tr.mode, inbound)) continue;
        if (tr.samplingPercent !== null) out.tracing[dir].samplingPercent = tr.samplingPercent;
        if (tr.disableSpanReporting !== null) out.tracing[dir].disableSpanReporting = tr.disableSpanReporting;
      }
      // a level's access logging replaces the less specific one (its last matching entry wins)
      for (const al of t.accessLogging) if (matches(al.mode, inbound)) out.accessLog[dir] = { enabled: !al.disabled, filter: al.filter };
    }
    out.metrics.push(...t.metrics);
  }
  return out;
}
