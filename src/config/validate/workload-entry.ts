// WorkloadEntry, and the same workload shape used by ServiceEntry `endpoints[]`: address,
// named ports, labels, weight, network, locality, serviceAccount.
import type { WorkloadEntryModel, WorkloadModel } from '../model.js';
import { checkNumber } from './checker.js';
import type { Fields } from './fields.js';
import { UNIX_UNSUPPORTED, hostProblem, isDnsLabel, isDnsSubdomain, isIp, isUnixAddress, readLabels } from './values.js';

export const WORKLOAD_FIELDS = ['address', 'ports', 'labels', 'network', 'locality', 'weight', 'serviceAccount'];

export interface WorkloadRules {
  /** STATIC (and NONE) resolution: the address must be an IP */
  requireIp: boolean;
  /** the ServiceEntry's port names, which `ports` keys must be one of; null = unchecked */
  portNames: Set<string> | null;
}

export function readWorkload(f: Fields, rules: WorkloadRules): WorkloadModel | null {
  const address = f.string('address', true);
  if (address !== null) {
    if (isUnixAddress(address)) f.ck.error(f.at('address'), UNIX_UNSUPPORTED);
    else if (!isIp(address)) {
      if (rules.requireIp) {
        f.ck.error(f.at('address'), `"${address}" is not an IP address (resolution STATIC/NONE needs IPs; use resolution: DNS for host names)`);
      } else {
        const problem = hostProblem(address, { wildcard: false, star: false, ip: false });
        if (problem !== null) f.ck.error(f.at('address'), `not an IP address or host name: ${problem}`);
      }
    }
  }
  const ports: Record<string, number> = {};
  for (const e of f.entries('ports') ?? []) {
    if (!isDnsLabel(e.key)) f.ck.error(e.path, `invalid port name "${e.key}"`);
    else if (rules.portNames !== null && !rules.portNames.has(e.key)) f.ck.error(e.path, `port name ${e.key} is not defined in the ServiceEntry's ports`);
    const n = checkNumber(f.ck, e.value, e.path, { integer: true, min: 1, max: 65535 });
    if (n !== null) ports[e.key] = n;
  }
  const labels = readLabels(f, 'labels') ?? {};
  const weight = f.number('weight', { integer: true, min: 0, max: 2 ** 32 - 1 });
  const network = f.string('network');
  const locality = f.string('locality');
  const serviceAccount = f.string('serviceAccount');
  if (serviceAccount !== null && !isDnsSubdomain(serviceAccount)) {
    f.ck.error(f.at('serviceAccount'), `invalid service account name "${serviceAccount}" (lowercase letters, digits, '-' and '.')`);
  }
  if (address === null) return null;
  // Istio: weight 0 is "unset", which Envoy treats as 1.
  return { address, ports, labels, weight: weight || 1, serviceAccount: serviceAccount || null, network: network || null, locality: locality || null };
}

export function parseWorkloadEntry(spec: Fields): WorkloadEntryModel {
  const w = readWorkload(spec, { requireIp: false, portNames: null });
  return { kind: 'WorkloadEntry', address: '', ports: {}, labels: {}, weight: 1, serviceAccount: null, ...w };
}
