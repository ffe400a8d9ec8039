// ServiceEntry: hosts, ports (unique names and numbers), resolution, and where the endpoints come
// from: listed `endpoints[]` or WorkloadEntries picked by `workloadSelector` (never both).
import type { ResolutionMode, ServiceEntryModel, ServicePortModel, WorkloadModel } from '../model.js';
import { Fields } from './fields.js';
import { hostProblem, isIp, readLabels, readPort, readPortName, readProtocol } from './values.js';
import { WORKLOAD_FIELDS, readWorkload } from './workload-entry.js';

export const SERVICE_ENTRY_FIELDS = [
  'hosts', 'addresses', 'ports', 'location', 'resolution', 'endpoints', 'workloadSelector', 'exportTo', 'subjectAltNames',
];
const RESOLUTIONS: readonly ResolutionMode[] = ['NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN'];

export function parseServiceEntry(spec: Fields): ServiceEntryModel {
  const hosts = spec.strings('hosts', true);
  for (const h of hosts) {
    const problem = h.value === '*' ? 'host * is not allowed in a ServiceEntry' : hostProblem(h.value, { wildcard: true, star: false, ip: false });
    if (problem !== null) spec.ck.error(h.path, problem);
  }
  const addresses: string[] = [];
  for (const a of spec.strings('addresses')) {
    const [ip, bits, extra] = a.value.split('/');
    const max = isIp(ip ?? '') === false ? -1 : ip?.includes(':') ? 128 : 32;
    if (max < 0 || extra !== undefined || (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= max))) {
      spec.ck.error(a.path, `"${a.value}" is not an IP address or CIDR range`);
    } else addresses.push(a.value);
  }
  const ports = readPorts(spec);
  spec.string('location');
  spec.strings('exportTo');
  spec.strings('subjectAltNames');
  const resolution = readResolution(spec);
  const selector = readSelector(spec);
  if (selector !== null && spec.has('endpoints')) spec.ck.error(spec.at('workloadSelector'), 'only one of workloadSelector or endpoints is allowed');
  const portNames = new Set(ports.flatMap((p) => (p.name === null ? [] : [p.name])));
  const requireIp = resolution === 'STATIC' || resolution === 'NONE';
  const endpoints: WorkloadModel[] = [];
  for (const item of spec.list('endpoints') ?? []) {
    const f = Fields.of(spec.ck, item.value, item.path, WORKLOAD_FIELDS, true);
    const w = f === null ? null : readWorkload(f, { requireIp, portNames });
    if (w !== null) endpoints.push(w);
  }
  checkResolution(spec, resolution, hosts.map((h) => h.value), endpoints.length, selector !== null);
  return { kind: 'ServiceEntry', hosts: hosts.map((h) => h.value), addresses, ports, resolution, endpoints, selector };
}

function readPorts(spec: Fields): ServicePortModel[] {
  const ports: ServicePortModel[] = [];
  const names = new Set<string>();
  const numbers = new Set<number>();
  for (const item of spec.list('ports') ?? []) {
    const p = Fields.of(spec.ck, item.value, item.path, ['number', 'protocol', 'name', 'targetPort'], true);
    if (p === null) continue;
    const number = readPort(p, 'number', true);
    const name = readPortName(p, 'name');
    const port = { number: number ?? 0, name, protocol: readProtocol(p, 'protocol'), targetPort: readPort(p, 'targetPort') };
    if (name !== null && names.has(name)) p.ck.error(p.at('name'), `duplicate port name ${name}`);
    if (number !== null && numbers.has(number)) p.ck.error(p.at('number'), `port ${number} is already defined`);
    if (name !== null) names.add(name);
    if (number !== null) numbers.add(number);
    if (number !== null) ports.push(port);
  }
  return ports;
}

function readResolution(spec: Fields): ResolutionMode {
  const r = spec.string('resolution');
  if (r === null) return 'NONE';
  if (!(RESOLUTIONS as readonly string[]).includes(r)) {
    spec.ck.error(spec.at('resolution'), `unknown resolution ${r} (one of ${RESOLUTIONS.join(', ')})`);
    return 'NONE';
  }
  return r as ResolutionMode;
}

function readSelector(spec: Fields): Record<string, string> | null {
  const s = spec.object('workloadSelector', ['labels']);
  if (s === null) return null;
  const labels = readLabels(s, 'labels') ?? {};
  if (Object.keys(labels).length === 0) s.ck.warn(s.path, 'workloadSelector without labels selects every WorkloadEntry in the namespace');
  return labels;
}

function checkResolution(spec: Fields, r: ResolutionMode, hosts: string[], endpoints: number, selector: boolean): void {
  const at = spec.at('resolution');
  if (r === 'NONE' && endpoints > 0) spec.ck.warn(at, 'Istio rejects endpoints with resolution NONE; meshlet treats this ServiceEntry as STATIC');
  if (r === 'NONE' && selector) spec.ck.warn(at, 'Istio expects resolution STATIC with a workloadSelector; meshlet treats it as STATIC');
  if ((r === 'DNS' || r === 'DNS_ROUND_ROBIN') && selector) spec.ck.warn(at, `workloadSelector should not be set with resolution ${r}`);
  if (r === 'DNS_ROUND_ROBIN' && endpoints > 1) spec.ck.error(spec.at('endpoints'), 'resolution DNS_ROUND_ROBIN allows at most one endpoint');
  if ((r === 'DNS' || r === 'DNS_ROUND_ROBIN') && endpoints === 0 && !selector) {
    for (const h of hosts) {
      if (h.startsWith('*')) spec.ck.error(spec.at('hosts'), `host ${h}: hosts must be names, not wildcards, when resolution ${r} has no endpoints`);
    }
  }
}
