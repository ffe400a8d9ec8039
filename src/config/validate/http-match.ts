// VirtualService `http[].match[]` (HTTPMatchRequest): uri/scheme/method/authority StringMatches,
// header, withoutHeaders and queryParams maps (`{}` = presence), ignoreUriCase and port.
import type { HeaderMatchSpec, MatchSpec } from '../snapshot.js';
import { describe } from './checker.js';
import { Fields } from './fields.js';
import { readStringMatch } from './string-match.js';
import { readPort } from './values.js';

const MATCH_FIELDS = [
  'name', 'uri', 'scheme', 'method', 'authority', 'headers', 'withoutHeaders', 'queryParams',
  'ignoreUriCase', 'port', 'sourceLabels', 'gateways', 'sourceNamespace', 'statPrefix',
];
const HEADER_NAME = /^[-_A-Za-z0-9]+$/;

/** `rule.match`; [] when absent (the rule matches every request). */
export function readMatches(rule: Fields): MatchSpec[] {
  const out: MatchSpec[] = [];
  for (const item of rule.list('match') ?? []) {
    const m = Fields.of(rule.ck, item.value, item.path, MATCH_FIELDS, true);
    if (m !== null) out.push(readMatch(m));
  }
  return out;
}

function readMatch(m: Fields): MatchSpec {
  m.unsupported(['sourceLabels', 'sourceNamespace'], 'not supported by meshlet, ignored: this match is broader than written');
  m.unsupported(['statPrefix']);
  const gateways = m.strings('gateways');
  if (gateways.length > 0 && !gateways.some((g) => g.value === 'mesh')) {
    m.ck.warn(m.at('gateways'), 'match applies to gateways only in Istio; meshlet (a sidecar) applies it anyway');
  }
  const sm = (key: string) => (m.has(key) ? readStringMatch(m.ck, m.get(key), m.at(key)) : null);
  const uri = sm('uri');
  const ignoreUriCase = m.bool('ignoreUriCase') ?? false;
  if (ignoreUriCase && uri !== null && uri.kind === 'regex') {
    m.ck.warn(m.at('ignoreUriCase'), 'Istio ignores case for exact and prefix uris only: this regex stays case-sensitive (write (?i) in it)');
  }
  return {
    name: m.string('name'),
    uri,
    scheme: sm('scheme'),
    method: sm('method'),
    authority: sm('authority'),
    headers: readHeaderMatches(m, 'headers', true),
    withoutHeaders: readHeaderMatches(m, 'withoutHeaders', true),
    queryParams: readHeaderMatches(m, 'queryParams', false),
    ignoreUriCase,
    port: readPort(m, 'port') ?? 0,
  };
}

/** name → StringMatch map; `{}` means "present". Header names must be lowercase tokens. */
function readHeaderMatches(m: Fields, key: string, isHeader: boolean): HeaderMatchSpec[] {
  const out: HeaderMatchSpec[] = [];
  for (const e of m.entries(key) ?? []) {
    if (isHeader && !HEADER_NAME.test(e.key)) {
      m.ck.error(e.path, `"${e.key}" is not a valid header name (letters, digits, '-' and '_')`);
      continue;
    }
    if (isHeader && e.key !== e.key.toLowerCase()) {
      m.ck.error(e.path, `header name ${e.key} must be lowercase (write ${e.key.toLowerCase()})`);
      continue;
    }
    if (e.key === '') {
      m.ck.error(e.path, 'name must not be empty');
      continue;
    }
    if (e.value === null || e.value === undefined) {
      m.ck.error(e.path, `match cannot be null (write {} to require presence), got ${describe(e.value)}`);
      continue;
    }
    if (typeof e.value === 'object' && !Array.isArray(e.value) && Object.keys(e.value).length === 0) {
      out.push({ name: e.key, match: null });
      continue;
    }
    const match = readStringMatch(m.ck, e.value, e.path);
    if (match !== null) out.push({ name: e.key, match });
  }
  return out;
}
