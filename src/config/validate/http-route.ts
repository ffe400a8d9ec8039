// The actions of a VirtualService http rule: weighted `route[]` destinations (Istio weight rules),
// `redirect`, `rewrite` and `directResponse`.
import type { DestinationModel } from '../model.js';
import type { DirectResponseSpec, RedirectSpec, RewriteSpec } from '../snapshot.js';
import { Fields } from './fields.js';
import { readHeaders } from './header-ops.js';
import { hostProblem, isDnsLabel, readPort } from './values.js';
import { authorityProblem, uriProblem } from './wire-text.js';

const REDIRECT_CODES = [301, 302, 303, 307, 308];
const KB = 1024;

/** `route[]` with Istio's weight defaults; null when absent or empty. `l4`: a tcp/tls rule's (no `headers`). */
export function readRoute(rule: Fields, l4 = false): DestinationModel[] | null {
  const items = rule.list('route');
  if (items === null || items.length === 0) return null;
  const out: DestinationModel[] = [];
  const weights: (number | null)[] = [];
  let weightsOk = true;
  for (const item of items) {
    const r = Fields.of(rule.ck, item.value, item.path, l4 ? ['destination', 'weight'] : ['destination', 'weight', 'headers'], true);
    if (r === null) {
      weightsOk = false;
      continue;
    }
    const explicit = r.has('weight');
    const weight = explicit ? r.number('weight', { integer: true, min: 0 }) : null;
    if (explicit && weight === null) weightsOk = false;
    weights.push(weight);
    const dest = readDestination(r, 'destination');
    const headers = l4 ? null : readHeaders(r, 'headers');
    if (dest !== null) out.push({ ...dest, weight: weight ?? 0, headers, path: item.path });
  }
  if (!weightsOk) return out;
  // Istio: a lone destination without weight takes everything; with several, an omitted weight is 0.
  if (weights.length === 1 && weights[0] === null && out[0] !== undefined) out[0].weight = 100;
  const total = weights.length === 1 && weights[0] === null ? 100 : weights.reduce<number>((s, w) => s + (w ?? 0), 0);
  if (total === 0) {
    rule.ck.error(rule.at('route'), 'destination weights sum to 0: no destination can receive traffic');
  } else if (total !== 100) {
    rule.ck.warn(rule.at('route'), `destination weights sum to ${total}, not 100; meshlet applies them as relative weights (as Istio >= 1.15)`);
  }
  return out;
}

/** An Istio `Destination` block (host, subset, port.number) at `key`, required; null when unusable. */
export function readDestination(r: Fields, key: string): Pick<DestinationModel, 'host' | 'subset' | 'port'> | null {
  const d = r.object(key, ['host', 'subset', 'port'], true);
  if (d === null) return null;
  const host = d.string('host', true);
  if (host !== null) {
    const problem = host === '*' ? 'destination host * is not allowed' : hostProblem(host, { wildcard: true, star: false, ip: false });
    if (problem !== null) d.ck.error(d.at('host'), problem);
  }
  const subset = d.string('subset');
  if (subset !== null && !isDnsLabel(subset)) d.ck.error(d.at('subset'), `invalid subset name "${subset}"`);
  const port = d.object('port', ['number']);
  const number = port === null ? null : readPort(port, 'number', true);
  return host === null ? null : { host, subset, port: number };
}

export function readRedirect(rule: Fields): RedirectSpec | null {
  const r = rule.object('redirect', ['uri', 'authority', 'port', 'derivePort', 'scheme', 'redirectCode']);
  if (r === null) return null;
  r.unsupported(['derivePort']);
  const scheme = r.string('scheme');
  if (scheme !== null && scheme !== 'http' && scheme !== 'https') r.ck.error(r.at('scheme'), `invalid redirect scheme "${scheme}": must be http or https`);
  const code = r.number('redirectCode', { integer: true });
  if (code !== null && !REDIRECT_CODES.includes(code)) {
    r.ck.error(r.at('redirectCode'), `${code} is not a valid redirect code (one of ${REDIRECT_CODES.join(', ')})`);
  }
  const spec: RedirectSpec = {
    uri: wireString(r, 'uri', (u) => uriProblem(u, true)),
    authority: wireString(r, 'authority', authorityProblem),
    scheme: scheme || null,
    port: readPort(r, 'port') ?? 0,
    code: code ?? 301,
  };
  if (spec.uri === null && spec.authority === null && spec.scheme === null && spec.port === 0 && !r.has('port')) {
    r.ck.error(r.path, 'redirect must specify uri, authority, scheme or port');
  }
  return spec;
}

/** A non-empty string field sent on the wire as it is, checked by `problem`; null when absent, empty or refused. */
function wireString(r: Fields, key: string, problem: (s: string) => string | null): string | null {
  const s = r.string(key);
  if (s === null || s === '') return null;
  const why = problem(s);
  if (why !== null) r.ck.error(r.at(key), why);
  return s;
}

export function readRewrite(rule: Fields): RewriteSpec | null {
  const r = rule.object('rewrite', ['uri', 'authority', 'uriRegexRewrite']);
  if (r === null) return null;
  if (r.has('uriRegexRewrite')) r.ck.error(r.at('uriRegexRewrite'), 'uriRegexRewrite is not supported by meshlet');
  const spec: RewriteSpec = { uri: wireString(r, 'uri', (u) => uriProblem(u, false)), authority: wireString(r, 'authority', authorityProblem) };
  if (spec.uri === null && spec.authority === null && !r.has('uriRegexRewrite')) r.ck.error(r.path, 'rewrite must specify uri or authority');
  return spec;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The body as text: meshlet answers direct responses as `text/plain; charset=utf-8`, so `bytes`
 * must decode to UTF-8 and `string` must be valid Unicode; anything else would be silently replaced
 * by U+FFFD on the way out, so it is refused.
 */
function readBody(b: Fields): string {
  const s = b.string('string');
  if (s !== null) {
    if (/\p{Cs}/u.test(s)) b.ck.error(b.at('string'), 'body contains an unpaired surrogate (\\uD800-\\uDFFF), which is not text and cannot be sent as UTF-8');
    return s;
  }
  const bytes = b.string('bytes');
  if (bytes === null) return '';
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(bytes)) {
    b.ck.error(b.at('bytes'), 'bytes must be base64');
    return '';
  }
  try {
    return UTF8.decode(Buffer.from(bytes, 'base64'));
  } catch {
    b.ck.error(b.at('bytes'), 'bytes do not decode to UTF-8 text: meshlet sends direct response bodies as text/plain; charset=utf-8 and cannot send other bytes unchanged');
    return '';
  }
}

export function readDirectResponse(rule: Fields): DirectResponseSpec | null {
  const r = rule.object('directResponse', ['status', 'body']);
  if (r === null) return null;
  const status = r.number('status', { required: true, integer: true, min: 200, max: 599 });
  const b = r.object('body', ['string', 'bytes']);
  let body = '';
  if (b !== null) {
    if (b.has('string') && b.has('bytes')) b.ck.error(b.path, 'body must set only one of string, bytes');
    body = readBody(b);
    const size = Buffer.byteLength(body);
    if (size > 1024 * KB) b.ck.error(b.path, 'direct response body must be smaller than 1MB');
    else if (size > 100 * KB) b.ck.warn(b.path, 'large direct response bodies are kept in every worker');
  }
  return { status: status ?? 200, body };
}
