// `selector.matchLabels` of the security kinds. meshlet is one workload whose labels it does not
// know, so a selector cannot be evaluated: the policy is taken as selecting this workload (warned).
import type { Fields } from './fields.js';
import { readLabels } from './values.js';

/** The matchLabels (null when there is no selector), with Istio's checks and meshlet's warning. */
export function readWorkloadSelector(spec: Fields): Record<string, string> | null {
  const s = spec.object('selector', ['matchLabels']);
  if (s === null) return null;
  const labels = readLabels(s, 'matchLabels') ?? {};
  if (Object.keys(labels).length === 0) {
    s.ck.warn(s.path, 'workload selector specified without labels: the policy applies as if it had no selector');
    return null;
  }
  s.ck.warn(s.at('matchLabels'), 'meshlet cannot check its own workload labels: this policy is applied to this workload (as a workload-specific policy)');
  return labels;
}
