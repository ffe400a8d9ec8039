// AuthorizationPolicy (security.istio.io): action, rules (from.source, to.operation, when) with
// Istio's validation, compiled here into the snapshot's predicate form. CUSTOM cannot be enforced
// by meshlet and is refused; targetRef policies are not for sidecars. Request principals and the
// request.auth.* keys read what the JWT filter verified (RequestAuthentication).
import type { AuthorizationPolicyModel } from '../model.js';
import type { Resource } from '../resource.js';
import type { AuthzAction, AuthzAttribute, AuthzPredicate, AuthzRuleSpec } from '../security-spec.js';
import { describe, type Item, type StringItem } from './checker.js';
import { fillPredicate, predicate } from './authz-values.js';
import { Fields } from './fields.js';
import { isToken } from './values.js';
import { readWorkloadSelector } from './workload-selector.js';

export const AUTHORIZATION_POLICY_FIELDS = ['selector', 'targetRef', 'targetRefs', 'action', 'provider', 'rules'];
const ACTIONS = ['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'];
/** Source / Operation field → attribute; `not<Field>` is the negation. */
const SOURCE: Record<string, AuthzAttribute> = {
  principals: 'principal', requestPrincipals: 'requestPrincipal', namespaces: 'namespace', serviceAccounts: 'serviceAccount',
  ipBlocks: 'sourceIp', remoteIpBlocks: 'remoteIp',
};
const OPERATION: Record<string, AuthzAttribute> = { hosts: 'host', ports: 'port', methods: 'method', paths: 'path' };
const negated = (m: Record<string, AuthzAttribute>) => Object.keys(m).flatMap((k) => [k, `not${k[0]?.toUpperCase()}${k.slice(1)}`]);
const SOURCE_FIELDS = negated(SOURCE);
const OPERATION_FIELDS = negated(OPERATION);
/** `when` keys meshlet evaluates; request.headers[<name>] is handled apart. */
const WHEN_KEYS: Record<string, AuthzAttribute> = {
  'source.ip': 'sourceIp', 'remote.ip': 'remoteIp', 'source.namespace': 'namespace', 'source.principal': 'principal',
  'source.serviceAccount': 'serviceAccount', 'destination.port': 'port',
  'request.auth.principal': 'requestPrincipal', 'request.auth.audiences': 'requestAudience', 'request.auth.presenter': 'requestPresenter',
};

export function parseAuthorizationPolicy(spec: Fields, res: Resource): AuthorizationPolicyModel {
  const name = `${res.namespace}/${res.name}`;
  const selector = spec.has('selector');
  readWorkloadSelector(spec);
  const targeted = spec.has('targetRef') || (spec.list('targetRefs')?.length ?? 0) > 0;
  spec.entries('targetRef');
  if (selector && targeted) spec.ck.error(spec.at('selector'), 'only one of targetRefs or workloadSelector can be set');
  else if (targeted) spec.ck.warn(spec.at(spec.has('targetRef') ? 'targetRef' : 'targetRefs'), 'targetRef attaches the policy to a gateway or waypoint, not to a sidecar: ignored by meshlet');
  const action = readAction(spec);
  const rules: AuthzRuleSpec[] = [];
  const items = spec.list('rules');
  if (action === 'DENY' && (items === null || items.length === 0)) {
    spec.ck.error(spec.at('rules'), 'DENY action without `rules` is meaningless as it will never be triggered; add an empty rule `{}` to deny every request');
  }
  for (const item of items ?? []) {
    const r = Fields.of(spec.ck, item.value, item.path, ['from', 'to', 'when'], true);
    if (r !== null) rules.push(readRule(r, res.namespace));
  }
  return { kind: 'AuthorizationPolicy', action: targeted ? null : action, policy: { name, rules } };
}

function readAction(spec: Fields): AuthzAction | null {
  const action = spec.string('action') ?? 'ALLOW';
  if (!ACTIONS.includes(action)) {
    spec.ck.error(spec.at('action'), `unknown action ${action} (one of ALLOW, DENY, AUDIT)`);
    return null;
  }
  if (action === 'CUSTOM') {
    spec.ck.error(spec.at('action'), 'action CUSTOM (external authorization) is not supported by meshlet');
    return null;
  }
  if (spec.has('provider')) spec.ck.error(spec.at('provider'), `\`provider\` must not be set with action ${action} (only with CUSTOM)`);
  return action as AuthzAction;
}

function readRule(r: Fields, ns: string): AuthzRuleSpec {
  return {
    from: readClauses(r, 'from', 'source', SOURCE, SOURCE_FIELDS, ns),
    to: readClauses(r, 'to', 'operation', OPERATION, OPERATION_FIELDS, ns),
    when: (r.list('when') ?? []).flatMap((item) => readCondition(r, item, ns)),
  };
}

/** `from` / `to`: a list of entries, each one `source` / `operation` block of ANDed fields. */
function readClauses(
  r: Fields, key: string, inner: string, attrs: Record<string, AuthzAttribute>, fields: string[], ns: string,
): AuthzPredicate[][] | null {
  const items = r.list(key);
  if (items === null) return null;
  if (items.length === 0) r.ck.error(r.at(key), `\`${key}\` must not be empty`);
  const out: AuthzPredicate[][] = [];
  for (const item of items) {
    const entry = Fields.of(r.ck, item.value, item.path, [inner], true);
    const block = entry?.object(inner, fields, true) ?? null;
    if (block === null) continue;
    const preds: AuthzPredicate[] = [];
    for (const field of fields) {
      const not = field.startsWith('not') && attrs[field] === undefined;
      const attr = attrs[not ? `${field[3]?.toLowerCase()}${field.slice(4)}` : field] as AuthzAttribute;
      const values = readValues(block, field, attr === 'port');
      if (values === null) continue;
      const p = predicate(attr, not);
      fillPredicate(block.ck, p, values, ns);
      preds.push(p);
    }
    if (preds.length === 0) r.ck.error(block.path, `\`${key}.${inner}\` must not be empty`);
    const has = (a: AuthzAttribute) => preds.some((p) => p.attr === a);
    if (has('serviceAccount') && (has('principal') || has('namespace'))) {
      r.ck.error(block.path, 'cannot set serviceAccounts with namespaces or principals');
    }
    out.push(preds);
  }
  return out;
}

/** A list of non-empty strings at `key` (ports may be written as numbers); null when absent. */
function readValues(f: Fields, key: string, numbersToo: boolean): StringItem[] | null {
  const items = f.list(key);
  if (items === null) return null;
  const out: StringItem[] = [];
  for (const item of items) {
    const v = numbersToo && typeof item.value === 'number' ? String(item.value) : item.value;
    if (typeof v === 'string' && v !== '') out.push({ value: v, path: item.path });
    else f.ck.error(item.path, `expected a non-empty string, got ${describe(item.value)}`);
  }
  return out;
}

/** One `when` entry: key (an attribute meshlet can read), values and/or notValues. */
function readCondition(r: Fields, item: Item, ns: string): AuthzPredicate[] {
  const c = Fields.of(r.ck, item.value, item.path, ['key', 'values', 'notValues'], true);
  if (c === null) return [];
  const key = c.string('key', true);
  const values = readValues(c, 'values', true);
  const notValues = readValues(c, 'notValues', true);
  if (key === null) return [];
  if ((values?.length ?? 0) + (notValues?.length ?? 0) === 0) {
    c.ck.error(c.path, `at least one of \`values\` or \`notValues\` must be set for key ${key}`);
  }
  const attr = whenAttribute(c, key);
  if (attr === null) return [];
  const out: AuthzPredicate[] = [];
  for (const [list, not] of [[values, false], [notValues, true]] as const) {
    if (list === null || list.length === 0) continue;
    const p = predicate(attr.attr, not, attr.header);
    if (attr.claim !== undefined) p.claim = attr.claim;
    fillPredicate(c.ck, p, list, ns);
    out.push(p);
  }
  return out;
}

function whenAttribute(c: Fields, key: string): { attr: AuthzAttribute; header: string | null; claim?: string[] } | null {
  const at = c.at('key');
  const claims = /^request\.auth\.claims((?:\[[^[\]]+\])+)$/.exec(key);
  if (claims !== null) {
    // request.auth.claims[groups], nested: request.auth.claims[realm_access][roles]
    const path = [...(claims[1] as string).matchAll(/\[([^[\]]+)\]/g)].map((m) => m[1] as string);
    return { attr: 'requestClaim', header: null, claim: path };
  }
  const header = /^request\.headers\[(.*)\]$/.exec(key);
  if (header !== null) {
    const name = header[1] ?? '';
    if (!isToken(name)) {
      c.ck.error(at, `bad key ${key}: the header name must be a valid HTTP header name (request.headers[x-user])`);
      return null;
    }
    return { attr: 'header', header: name.toLowerCase() };
  }
  const attr = WHEN_KEYS[key];
  if (attr !== undefined) return { attr, header: null };
  if (key.startsWith('request.auth.')) c.ck.error(at, `unknown key ${key} (request.auth.principal, request.auth.audiences, request.auth.presenter, request.auth.claims[name] or nested claims[a][b])`);
  else if (['destination.ip', 'connection.sni'].includes(key) || key.startsWith('experimental.') || key.startsWith('request.experimental.')) {
    c.ck.error(at, `key ${key} is not supported by meshlet`);
  } else c.ck.error(at, `unknown attribute key ${key} (meshlet supports request.headers[<name>], ${Object.keys(WHEN_KEYS).join(', ')})`);
  return null;
}
