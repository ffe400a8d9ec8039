// Snapshot shapes of the Telemetry kind (telemetry.istio.io): per resource its scope (namespace,
// selector) and what it sets; which resources apply to this workload, and how they combine, is
// decided where the workload is known (src/telemetry/policy.ts). Plain data only.
import type { MetricOverrideSpec, WorkloadMode } from '../stats/overrides.js';
import type { FilterNode } from '../telemetry/filter-expr.js';

export type { MetricOverrideSpec, WorkloadMode } from '../stats/overrides.js';

export interface TelemetryTracingSpec {
  mode: WorkloadMode;
  /** randomSamplingPercentage, 0..100; null: not set here */
  samplingPercent: number | null;
  /** disableSpanReporting; null: not set here */
  disableSpanReporting: boolean | null;
}

export interface TelemetryAccessLogSpec {
  mode: WorkloadMode;
  disabled: boolean;
  /** filter.expression compiled; null: every request */
  filter: FilterNode | null;
}

export interface TelemetrySpec {
  /** `<namespace>/<name>` */
  name: string;
  namespace: string;
  /** selector.matchLabels; null: namespace-wide (mesh-wide in the root namespace) */
  selector: Record<string, string> | null;
  tracing: TelemetryTracingSpec[];
  accessLogging: TelemetryAccessLogSpec[];
  metrics: MetricOverrideSpec[];
}
