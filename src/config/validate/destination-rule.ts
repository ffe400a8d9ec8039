// DestinationRule: host, subsets (unique names, label selectors) and the load-balancer policy at
// rule and subset level. Other traffic-policy blocks are type-checked and accepted.
import type { DestinationRuleModel, SubsetModel } from '../model.js';
import { Fields } from './fields.js';
import { PEAK_EWMA_ANNOTATION, readTrafficPolicy } from './traffic-policy.js';
import { hostProblem, isDnsLabel, readLabels } from './values.js';

export const DESTINATION_RULE_FIELDS = ['host', 'trafficPolicy', 'subsets', 'exportTo', 'workloadSelector'];
export function parseDestinationRule(spec: Fields, annotations: Record<string, string> = {}): DestinationRuleModel {
  const peakEwma = readPeakEwma(spec, annotations);
  const host = spec.string('host', true) ?? '';
  if (host !== '') {
    const problem = hostProblem(host, { wildcard: true, star: false, ip: false });
    if (problem !== null) spec.ck.error(spec.at('host'), problem);
  }
  const policy = readTrafficPolicy(spec, peakEwma);
  spec.strings('exportTo');
  spec.object('workloadSelector', ['matchLabels'])?.entries('matchLabels');
  const subsets: SubsetModel[] = [];
  const names = new Set<string>();
  for (const item of spec.list('subsets') ?? []) {
    const s = Fields.of(spec.ck, item.value, item.path, ['name', 'labels', 'trafficPolicy'], true);
    if (s === null) continue;
    const name = s.string('name', true);
    if (name !== null && !isDnsLabel(name)) s.ck.error(s.at('name'), `invalid subset name "${name}" (lowercase letters, digits and '-')`);
    if (name !== null && names.has(name)) s.ck.error(s.at('name'), `duplicate subset name ${name}`);
    const labels = readLabels(s, 'labels') ?? {};
    const subsetPolicy = readTrafficPolicy(s, peakEwma);
    if (name !== null && !names.has(name)) subsets.push({ name, labels, policy: subsetPolicy, path: item.path });
    if (name !== null) names.add(name);
  }
  return { kind: 'DestinationRule', host, policy, peakEwma, subsets };
}

/** meshlet extension: `metadata.annotations["meshlet.io/load-balancer"]: peak-ewma`. */
function readPeakEwma(spec: Fields, annotations: Record<string, string>): boolean {
  const v = annotations[PEAK_EWMA_ANNOTATION];
  if (v === undefined) return false;
  if (v === 'peak-ewma') return true;
  spec.ck.warn(`metadata.annotations.${PEAK_EWMA_ANNOTATION}`, `unknown load balancer "${v}" (meshlet knows peak-ewma); ignored`);
  return false;
}
