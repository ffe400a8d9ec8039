// Request heads for the h1 codec: validates method, path and header names/values (undici's rules)
// and builds the request line + headers as one latin1 string. Framing headers are meshlet's own:
// the caller's content-length / transfer-encoding are dropped and one of the suffixes below ends the head.
import { headColon, headCrlf, headField, headLength, headStart, headTake, headText, headTextIf } from '../../http/head-writer.js';
import { isTokenString, isValidHeaderValue, isValidPath, TOKEN, VALUE_CHAR } from './chars.js';

/** Why the last buildHead() returned null. */
let headError = '';
/** Where the last buildHead() wrote the headers from index `mxFrom` on ([headMxFrom, headMxTo); -1: not asked). */
export let headMxFrom = -1;
export let headMxTo = -1;
/**
 * The last long header value found valid: the same value again (Istio's metadata exchange sends
 * ~330 bytes of the same base64 with every mesh request; a cookie or token repeats on a connection)
 * is copied without checking it again. Sound: an equal string is exactly as valid.
 */
let validLong = '';
const LONG_VALUE = 64;
export function lastHeadError(): string {
  return headError;
}

/** Methods whose requests carry a body by definition: they get `content-length: 0` when empty (as undici does). */
export function expectsPayload(method: string): boolean {
  return method === 'POST' || method === 'PUT' || method === 'PATCH' || method === 'QUERY' || method === 'PROPFIND' || method === 'PROPPATCH';
}

/** Ends a head for a request without body. */
export function noBodySuffix(method: string): string {
  return expectsPayload(method) ? 'content-length: 0\r\n\r\n' : '\r\n';
}

export const CHUNKED_SUFFIX = 'transfer-encoding: chunked\r\n\r\n';

export function lengthSuffix(length: number): string {
  return `content-length: ${length}\r\n\r\n`;
}

/**
 * "METHOD path HTTP/1.1\r\n" + "name: value\r\n"... + `suffix` (a framing suffix ends the head; ''
 * when the caller adds it later), or null when something cannot be written safely (see
 * lastHeadError). Adds `host: defaultHost` when the headers carry no host. Built in the worker's
 * head writer: one flat string, no rope of small ones. `mxFrom`: the index of this sidecar's
 * metadata headers (the last ones), whose place in the head is noted (headMxFrom, headMxTo), or
 * which are left out (`mxLeftOut`: the connection has exchanged them, telemetry/mx-once.ts).
 */
export function buildHead(method: string, path: string, headers: string[], defaultHost: string, suffix = '', mxFrom = -1, mxLeftOut = false): string | null {
  if (!isTokenString(method)) return invalid(`invalid request method "${method}"`);
  if (!isValidPath(path)) return invalid('invalid request path');
  headStart();
  headText(method);
  headText(' ');
  headText(path);
  headText(' HTTP/1.1\r\n');
  let host = false;
  headMxFrom = -1;
  headMxTo = -1;
  // `mxLeftOut`: the headers from mxFrom on (this sidecar's metadata) are not written
  const count = mxLeftOut && mxFrom >= 0 ? mxFrom : headers.length;
  for (let i = 0; i < count; i += 2) {
    if (i === mxFrom) headMxFrom = headLength();
    const name = headers[i] as string;
    const value = headers[i + 1] as string;
    const len = name.length;
    if ((len === 14 || len === 17) && isFraming(name)) {
      // meshlet frames the request itself: checked, not written
      if (!isValidHeaderValue(value)) return invalid(`invalid request header ${name} value`);
      continue;
    }
    // checked while copied into the head writer
    if (len === 0 || !headTextIf(name, TOKEN)) return invalid(`invalid request header name "${name}"`);
    headColon();
    if (value.length >= LONG_VALUE && value === validLong) headText(value);
    else if (!headTextIf(value, VALUE_CHAR)) return invalid(`invalid request header ${name} value`);
    else if (value.length >= LONG_VALUE) validLong = value;
    headCrlf();
    if (len === 4 && (name === 'host' || equalsLower(name, 'host'))) {
      if (host) return invalid('duplicate host header');
      host = true;
    }
  }
  if (headMxFrom >= 0) headMxTo = headLength();
  if (!host) headField('host', defaultHost);
  if (suffix !== '') headText(suffix);
  return headTake();
}

function isFraming(name: string): boolean {
  if (name === 'content-length' || name === 'transfer-encoding') return true;
  return equalsLower(name, 'content-length') || equalsLower(name, 'transfer-encoding');
}

/**
 * `name` in any case is `lower` (lowercase letters, digits and '-'): compared without making a
 * lower-cased copy (x-forwarded-proto, which every request carries, has transfer-encoding's length).
 */
function equalsLower(name: string, lower: string): boolean {
  if (name.length !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    const c = name.charCodeAt(i);
    if ((c >= 65 && c <= 90 ? c + 32 : c) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

function invalid(detail: string): null {
  headError = detail;
  return null;
}
