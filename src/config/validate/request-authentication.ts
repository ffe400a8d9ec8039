// RequestAuthentication (security.istio.io): jwtRules with Istio's validation and defaults —
// issuer required; keys from jwksUri (HTTPS, or HTTP on loopback only), inline jwks (checked key by
// key) or, with neither, OpenID discovery at the issuer; token locations (fromHeaders with prefix,
// fromParams, fromCookies; default Authorization "Bearer " and access_token); forwardOriginalToken,
// outputPayloadToHeader, outputClaimToHeaders; timeout of the JWKS fetch (default 5 s).
import { createPublicKey } from 'node:crypto';
import type { JwtLocation, JwtRuleSpec } from '../security-spec.js';
import type { Resource } from '../resource.js';
import { describe, isMap, type Item } from './checker.js';
import { Fields } from './fields.js';
import { isToken, readDurationMs } from './values.js';
import { readWorkloadSelector } from './workload-selector.js';

export const REQUEST_AUTHENTICATION_FIELDS = ['selector', 'targetRef', 'targetRefs', 'jwtRules'];
const RULE_FIELDS = ['issuer', 'audiences', 'jwksUri', 'jwks', 'fromHeaders', 'fromParams', 'fromCookies', 'outputPayloadToHeader',
  'forwardOriginalToken', 'outputClaimToHeaders', 'timeout'];
export const DEFAULT_JWKS_TIMEOUT_MS = 5000;
/** a JWKS (inline or fetched) larger than this is refused */
export const MAX_JWKS_BYTES = 1024 * 1024;
const RESERVED_OUTPUT = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'x-forwarded-client-cert', 'x-envoy-peer-metadata', 'x-envoy-peer-metadata-id']);

export interface RequestAuthenticationModel {
  kind: 'RequestAuthentication';
  /** null when the resource does not apply to a sidecar (targetRef) */
  rules: JwtRuleSpec[] | null;
}

export function parseRequestAuthentication(spec: Fields, res: Resource): RequestAuthenticationModel {
  const source = `${res.namespace}/${res.name}`;
  readWorkloadSelector(spec);
  const targeted = spec.has('targetRef') || (spec.list('targetRefs')?.length ?? 0) > 0;
  if (targeted) {
    spec.ck.warn(spec.at(spec.has('targetRef') ? 'targetRef' : 'targetRefs'), 'targetRef attaches the policy to a gateway or waypoint, not to a sidecar: ignored by meshlet');
  }
  const rules: JwtRuleSpec[] = [];
  for (const item of spec.list('jwtRules') ?? []) {
    const r = Fields.of(spec.ck, item.value, item.path, RULE_FIELDS, true);
    if (r !== null) {
      const rule = readRule(r, source);
      if (rule !== null) rules.push(rule);
    }
  }
  return { kind: 'RequestAuthentication', rules: targeted ? null : rules };
}

function readRule(r: Fields, source: string): JwtRuleSpec | null {
  const issuer = r.string('issuer', true);
  const audiences = r.strings('audiences').map((a) => a.value);
  const jwksUri = r.string('jwksUri');
  const jwksText = r.string('jwks');
  if (jwksUri !== null && jwksText !== null) r.ck.error(r.at('jwks'), 'set only one of jwks and jwksUri');
  if (jwksUri !== null) checkJwksUri(r, jwksUri);
  if (jwksText !== null) checkInlineJwks(r, jwksText);
  if (jwksUri === null && jwksText === null && issuer !== null) checkDiscovery(r, issuer);
  const locations = readLocations(r);
  const outputPayloadToHeader = r.string('outputPayloadToHeader');
  if (outputPayloadToHeader !== null) checkOutputHeader(r, r.at('outputPayloadToHeader'), outputPayloadToHeader);
  const outputClaimToHeaders: { header: string; claim: string }[] = [];
  for (const item of r.list('outputClaimToHeaders') ?? []) {
    const o = Fields.of(r.ck, item.value, item.path, ['header', 'claim'], true);
    const header = o?.string('header', true) ?? null;
    const claim = o?.string('claim', true) ?? null;
    if (o === null || header === null || claim === null) continue;
    if (checkOutputHeader(o, o.at('header'), header)) outputClaimToHeaders.push({ header: header.toLowerCase(), claim });
  }
  const timeoutMs = readDurationMs(r, 'timeout', { maxMs: 60_000, hint: 'a JWKS fetch longer than a minute is not waited for' }) ?? DEFAULT_JWKS_TIMEOUT_MS;
  if (issuer === null) return null;
  return {
    source, issuer, audiences,
    jwksUri: jwksUri ?? (jwksText === null ? `discovery:${issuer}` : null),
    jwks: jwksText,
    locations,
    forwardOriginalToken: r.bool('forwardOriginalToken') ?? false,
    outputPayloadToHeader: outputPayloadToHeader === null ? null : outputPayloadToHeader.toLowerCase(),
    outputClaimToHeaders,
    timeoutMs,
  };
}

/** HTTPS anywhere; plain HTTP only to a loopback address (a key set must not travel unprotected). */
function checkUrl(r: Fields, at: string, value: string, what: string): boolean {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    r.ck.error(at, `${what} "${value}" is not a URL`);
    return false;
  }
  if (u.protocol === 'https:') return true;
  if (u.protocol === 'http:') {
    const h = u.hostname;
    if (h === 'localhost' || h === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)) return true;
    r.ck.error(at, `${what} "${value}" must use https:// (plain http:// only to a loopback address: keys fetched in the clear could be replaced)`);
    return false;
  }
  r.ck.error(at, `${what} "${value}" must be an https:// URL`);
  return false;
}

function checkJwksUri(r: Fields, uri: string): void {
  checkUrl(r, r.at('jwksUri'), uri, 'jwksUri');
}

function checkDiscovery(r: Fields, issuer: string): void {
  if (!/^https?:\/\//.test(issuer)) {
    r.ck.error(r.at('issuer'), `without jwksUri or jwks the keys are found by OpenID discovery at the issuer, which must then be a URL (got "${issuer}"); set jwksUri or jwks`);
    return;
  }
  if (checkUrl(r, r.at('issuer'), issuer, 'issuer (used for OpenID discovery, as neither jwksUri nor jwks is set)')) {
    r.ck.warn(r.at('issuer'), `neither jwksUri nor jwks: the keys are found by OpenID discovery at ${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`);
  }
}

/** An inline JWKS: JSON {keys: [...]} whose every key Node can import as a public key. */
export function jwksProblem(text: string): string | null {
  if (Buffer.byteLength(text) > MAX_JWKS_BYTES) return `larger than ${MAX_JWKS_BYTES} bytes`;
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return `not JSON (${(err as Error).message})`;
  }
  if (!isMap(doc) || !Array.isArray(doc.keys)) return 'not a JWK set: expected {"keys": [...]}';
  if (doc.keys.length === 0) return 'the key set has no key';
  for (const [i, k] of doc.keys.entries()) {
    if (!isMap(k) || typeof k.kty !== 'string') return `keys[${i}] is not a JWK (no "kty")`;
    if ('d' in k) return `keys[${i}] is a private key: a JWKS holds public keys only`;
    let bits: number | undefined;
    try {
      bits = createPublicKey({ key: k as import('node:crypto').JsonWebKey, format: 'jwk' }).asymmetricKeyDetails?.modulusLength;
    } catch (err) {
      return `keys[${i}] (kty ${k.kty}) cannot be used: ${(err as Error).message}`;
    }
    // jose (and RFC 7518 §3.3) refuse shorter RSA keys for RS*/PS*
    if (k.kty === 'RSA' && (bits === undefined || bits < 2048)) return `keys[${i}] (kty RSA) is a ${bits ?? 0}-bit key: at least 2048 bits`;
  }
  return null;
}

function checkInlineJwks(r: Fields, text: string): void {
  const problem = jwksProblem(text);
  if (problem !== null) r.ck.error(r.at('jwks'), `bad JWKS: ${problem}`);
}

function readLocations(r: Fields): JwtLocation[] {
  const out: JwtLocation[] = [];
  for (const item of r.list('fromHeaders') ?? []) {
    const h = Fields.of(r.ck, item.value, item.path, ['name', 'prefix'], true);
    const name = h?.string('name', true) ?? null;
    if (h === null || name === null) continue;
    if (!isToken(name)) {
      h.ck.error(h.at('name'), `"${name}" is not a valid header name`);
      continue;
    }
    out.push({ kind: 'header', name: name.toLowerCase(), prefix: h.string('prefix') ?? '' });
  }
  for (const p of stringList(r, 'fromParams')) out.push({ kind: 'param', name: p });
  for (const c of stringList(r, 'fromCookies')) out.push({ kind: 'cookie', name: c });
  if (out.length === 0) out.push({ kind: 'header', name: 'authorization', prefix: 'Bearer ' }, { kind: 'param', name: 'access_token' });
  return out;
}

function stringList(r: Fields, key: string): string[] {
  const out: string[] = [];
  for (const item of r.list(key) ?? [] as Item[]) {
    if (typeof item.value === 'string' && item.value !== '') out.push(item.value);
    else r.ck.error(item.path, `expected a non-empty string, got ${describe(item.value)}`);
  }
  return out;
}

function checkOutputHeader(f: Fields, at: string, header: string): boolean {
  if (!isToken(header) || header.startsWith(':')) {
    f.ck.error(at, `"${header}" is not a valid header name`);
    return false;
  }
  if (RESERVED_OUTPUT.has(header.toLowerCase())) {
    f.ck.error(at, `"${header}" is set by the proxy itself and cannot carry a JWT output`);
    return false;
  }
  return true;
}
