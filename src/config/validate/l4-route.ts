// VirtualService `tcp[]` and `tls[]` rules (Istio TCPRoute, TLSRoute): match entries (port; for
// tls the required sniHosts, each covered by one of the VirtualService's hosts) and weighted
// `route[]` destinations. Conditions meshlet cannot evaluate (sourceLabels, sourceNamespace,
// destinationSubnets) are warned about: the match is then broader than written.
import type { L4MatchModel, L4RuleModel } from '../model.js';
import { hostCovers } from '../hosts.js';
import type { Item } from './checker.js';
import { Fields } from './fields.js';
import { readRoute } from './http-route.js';
import { hostProblem, readPort } from './values.js';

const RULE_FIELDS = ['match', 'route'];
const TCP_MATCH_FIELDS = ['destinationSubnets', 'port', 'sourceLabels', 'gateways', 'sourceNamespace', 'sourceSubnet'];
const TLS_MATCH_FIELDS = ['sniHosts', ...TCP_MATCH_FIELDS];

export function readL4Rules(spec: Fields, key: 'tcp' | 'tls', hosts: readonly string[]): L4RuleModel[] {
  const out: L4RuleModel[] = [];
  for (const item of spec.list(key) ?? []) {
    const rule = readRule(spec, item, key === 'tls', hosts);
    if (rule !== null) out.push(rule);
  }
  return out;
}

function readRule(spec: Fields, item: Item, tls: boolean, hosts: readonly string[]): L4RuleModel | null {
  const f = Fields.of(spec.ck, item.value, item.path, RULE_FIELDS, true);
  if (f === null) return null;
  const matches: L4MatchModel[] = [];
  for (const m of f.list('match', tls) ?? []) {
    const mf = Fields.of(f.ck, m.value, m.path, tls ? TLS_MATCH_FIELDS : TCP_MATCH_FIELDS, true);
    if (mf !== null) matches.push(readMatch(mf, tls, hosts));
  }
  const route = readRoute(f, true);
  if (route === null) {
    f.ck.error(f.at('route'), 'a tcp or tls rule needs at least one route destination');
    return null;
  }
  return { path: f.path, matches, route };
}

function readMatch(m: Fields, tls: boolean, hosts: readonly string[]): L4MatchModel {
  m.unsupported(['sourceLabels', 'sourceNamespace', 'destinationSubnets', 'sourceSubnet'],
    'not supported by meshlet, ignored: this match is broader than written');
  const gateways = m.strings('gateways');
  if (gateways.length > 0 && !gateways.some((g) => g.value === 'mesh')) {
    m.ck.warn(m.at('gateways'), 'match applies to gateways only in Istio; meshlet (a sidecar) applies it anyway');
  }
  const sniHosts: string[] = [];
  if (tls) {
    for (const h of m.strings('sniHosts', true)) {
      const name = h.value.toLowerCase();
      const problem = name === '*' ? null : hostProblem(name, { wildcard: true, star: false, ip: false });
      if (problem !== null) m.ck.error(h.path, problem);
      else if (!hosts.some((v) => sniCovered(v, name))) m.ck.error(h.path, `SNI host ${h.value} is not one of the VirtualService's hosts (${hosts.join(', ')})`);
      else sniHosts.push(name);
    }
  }
  return { port: readPort(m, 'port') ?? 0, sniHosts };
}

/** Istio: each sniHost must match a VirtualService host (a wildcard host covers the names under it). */
function sniCovered(host: string, sni: string): boolean {
  const h = host.toLowerCase();
  return hostCovers(h, sni) || (sni.startsWith('*.') && hostCovers(h, sni.slice(2)));
}
