// DestinationRule: host, subsets (unique names, label selectors) and the load-balancer policy at
// rule and subset level. Other traffic-policy blocks are type-checked and accepted.
import type { DestinationRuleModel, SubsetModel } from '../model.js';
import type { LbPolicy } from '../snapshot.js';
import { Fields } from './fields.js';
import { hostProblem, isDnsLabel, readLabels } from './values.js';

export const DESTINATION_RULE_FIELDS = ['host', 'trafficPolicy', 'subsets', 'exportTo', 'workloadSelector'];
const POLICY_FIELDS = ['loadBalancer', 'connectionPool', 'outlierDetection', 'tls', 'portLevelSettings', 'tunnel', 'proxyProtocol'];
const LB_FIELDS = ['simple', 'consistentHash', 'localityLbSetting', 'warmupDurationSecs', 'warmup'];
const SIMPLE: Record<string, LbPolicy> = {
  UNSPECIFIED: 'LEAST_REQUEST',
  LEAST_REQUEST: 'LEAST_REQUEST',
  LEAST_CONN: 'LEAST_REQUEST',
  ROUND_ROBIN: 'ROUND_ROBIN',
  RANDOM: 'RANDOM',
  PASSTHROUGH: 'PASSTHROUGH',
};

export function parseDestinationRule(spec: Fields): DestinationRuleModel {
  const host = spec.string('host', true) ?? '';
  if (host !== '') {
    const problem = hostProblem(host, { wildcard: true, star: false, ip: false });
    if (problem !== null) spec.ck.error(spec.at('host'), problem);
  }
  const lb = readPolicy(spec);
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
    const subsetLb = readPolicy(s);
    if (name !== null && !names.has(name)) subsets.push({ name, labels, lb: subsetLb, path: item.path });
    if (name !== null) names.add(name);
  }
  return { kind: 'DestinationRule', host, lb, subsets };
}

/** `trafficPolicy` at `f`: the simple LB policy it sets, or null. */
function readPolicy(f: Fields): LbPolicy | null {
  const p = f.object('trafficPolicy', POLICY_FIELDS);
  if (p === null) return null;
  if (Object.keys(p.raw).length === 0) p.ck.error(p.path, 'traffic policy must have at least one field');
  for (const block of ['connectionPool', 'outlierDetection', 'tls', 'tunnel', 'proxyProtocol']) p.entries(block);
  p.list('portLevelSettings');
  const lb = p.object('loadBalancer', LB_FIELDS);
  if (lb === null) return null;
  lb.unsupported(['consistentHash', 'localityLbSetting'], 'not yet enforced by meshlet, ignored');
  const simple = lb.string('simple');
  if (simple === null) return null;
  const policy = SIMPLE[simple];
  if (policy === undefined) {
    lb.ck.error(lb.at('simple'), `unknown load balancer ${simple} (one of ${Object.keys(SIMPLE).join(', ')})`);
    return null;
  }
  if (simple === 'LEAST_CONN') lb.ck.warn(lb.at('simple'), 'LEAST_CONN is deprecated; it means LEAST_REQUEST');
  return policy;
}
