// VirtualService: hosts, each http rule (match, one action, rewrite, headers, timeout, retries,
// fault, mirrors) and the tcp / tls rules (l4-route.ts); gateways and exportTo are accepted and
// ignored.
import type { HttpRuleModel, VirtualServiceModel } from '../model.js';
import type { Resource } from '../resource.js';
import { hostKey } from '../hosts.js';
import { isMap, type Item } from './checker.js';
import { Fields } from './fields.js';
import { readHeaders } from './header-ops.js';
import { readFault } from './http-fault.js';
import { readMatches } from './http-match.js';
import { readMirrors } from './http-mirror.js';
import { readL4Rules } from './l4-route.js';
import { readRetries } from './http-retries.js';
import { readDirectResponse, readRedirect, readRewrite, readRoute } from './http-route.js';
import { hostProblem, readDurationMs } from './values.js';

export const VIRTUAL_SERVICE_FIELDS = ['hosts', 'gateways', 'http', 'tls', 'tcp', 'exportTo'];
const RULE_FIELDS = [
  'name', 'match', 'route', 'redirect', 'directResponse', 'delegate', 'rewrite', 'timeout', 'retries', 'fault',
  'mirror', 'mirrors', 'mirrorPercent', 'mirrorPercentage', 'mirror_percent', 'corsPolicy', 'headers',
];
/** Only meaningful when the rule forwards (`route`); Istio drops them on redirect / directResponse rules. */
const FORWARDING_FIELDS = ['retries', 'mirror', 'mirrors', 'mirrorPercentage'];

export function parseVirtualService(spec: Fields, res: Resource): VirtualServiceModel {
  const hosts = spec.strings('hosts', true);
  const seen = new Map<string, string>();
  for (const h of hosts) {
    const problem = hostProblem(h.value, { wildcard: true, star: true, ip: true });
    if (problem !== null) spec.ck.error(h.path, problem);
    const key = hostKey(h.value, res.namespace);
    const first = seen.get(key);
    if (first !== undefined) spec.ck.error(h.path, `duplicate host ${h.value} (same as ${first})`);
    else seen.set(key, h.value);
  }
  const gateways = spec.strings('gateways');
  if (gateways.length > 0 && !gateways.some((g) => g.value === 'mesh')) {
    spec.ck.warn(spec.at('gateways'), 'bound to gateways only in Istio (no "mesh"); meshlet (a sidecar) applies it anyway');
  }
  spec.strings('exportTo');
  const items = spec.list('http');
  const names = hosts.map((h) => h.value);
  const tcp = readL4Rules(spec, 'tcp', names);
  const tls = readL4Rules(spec, 'tls', names);
  if ((items === null || items.length === 0) && tcp.length === 0 && tls.length === 0 && !spec.has('tcp') && !spec.has('tls')) {
    spec.ck.error(spec.at('http'), 'http, tcp or tls routes are required');
  }
  const http = (items ?? []).map((item) => readRule(spec, item));
  warnUnreachable(spec, http);
  return { kind: 'VirtualService', hosts, http, tcp, tls };
}

function readRule(spec: Fields, item: Item): HttpRuleModel {
  const f = Fields.of(spec.ck, item.value, item.path, RULE_FIELDS, true) ?? Fields.empty(spec.ck, item.path);
  const name = f.string('name');
  const matches = readMatches(f);
  f.unsupported(['corsPolicy']);
  if (f.has('delegate')) f.ck.error(f.at('delegate'), 'delegate VirtualServices are not supported by meshlet');
  const route = readRoute(f);
  const redirect = readRedirect(f);
  const directResponse = readDirectResponse(f);
  const rewrite = readRewrite(f);
  const rawRoute = f.get('route');
  const actions = [
    ['route', f.has('route') && !(Array.isArray(rawRoute) && rawRoute.length === 0)],
    ['redirect', f.has('redirect')],
    ['directResponse', f.has('directResponse')],
  ].filter(([, present]) => present).map(([action]) => action);
  if (actions.length === 0 && !f.has('delegate')) f.ck.error(f.path, 'a rule needs one of route, redirect or directResponse');
  if (actions.length > 1) f.ck.error(f.path, `a rule must have exactly one of route, redirect, directResponse (found ${actions.join(' and ')})`);
  if (redirect !== null && f.has('rewrite')) f.ck.error(f.at('rewrite'), 'rewrite cannot be used together with redirect');
  const answered = actions.find((a) => a !== 'route');
  if (answered !== undefined) {
    if (f.has('fault')) f.ck.error(f.at('fault'), `fault cannot be used together with ${answered}`);
    f.unsupported(FORWARDING_FIELDS, `has no effect on a ${answered} rule, ignored`);
  }
  const mirrors = readMirrors(f);
  const headers = readHeaders(f, 'headers');
  const setsHost = headers?.request?.set.some(([n]) => n === 'host') || headers?.request?.add.some(([n]) => n === 'host');
  if (rewrite?.authority && setsHost) f.ck.error(f.at('headers'), 'the authority is set twice (rewrite.authority and a host header)');
  return {
    name,
    path: f.path,
    matches,
    catchAll: isCatchAll(f.get('match')),
    route,
    redirect,
    directResponse,
    rewrite,
    requestHeaders: headers?.request ?? null,
    responseHeaders: headers?.response ?? null,
    timeoutMs: readDurationMs(f, 'timeout', { hint: 'omit timeout for none (Istio\'s default)' }) ?? 0,
    retries: readRetries(f),
    fault: readFault(f),
    mirrors: answered === undefined ? mirrors : [],
  };
}

/** No match block, an empty one, or a match entry without any condition: takes every request. */
function isCatchAll(rawMatch: unknown): boolean {
  if (rawMatch === undefined || rawMatch === null) return true;
  if (!Array.isArray(rawMatch)) return false;
  const conditionless = (m: unknown) => isMap(m) && Object.keys(m).every((k) => k === 'name' || k === 'statPrefix');
  return rawMatch.length === 0 || rawMatch.some(conditionless);
}

/** Rules after a catch-all rule never match (first match wins): warn, as Istio does. */
function warnUnreachable(spec: Fields, rules: HttpRuleModel[]): void {
  const first = rules.findIndex((r) => r.catchAll);
  if (first < 0) return;
  for (const r of rules.slice(first + 1)) {
    spec.ck.warn(r.path, `unreachable: ${rules[first]?.path} has no match conditions and takes every request first`);
  }
}
