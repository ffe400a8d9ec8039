// Header rules for forwarding: hop-by-hop removal, x-forwarded-*, x-request-id, and the
// CR/LF/NUL check for values meshlet writes out.
import { lowerHeaderName } from './header-names.js';

/** Hop-by-hop headers (RFC 9110 §7.6.1 plus the legacy ones proxies strip). Lowercase. */
export const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate',
  'te', 'trailer', 'transfer-encoding', 'upgrade',
]);

/** Headers meshlet frames itself on the way back out (the listener writes its own Date, Content-Length). */
export const RESPONSE_FRAMING = new Set(['content-length', 'date']);

const FORBIDDEN_VALUE = /[\r\n\0]/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** HOP_BY_HOP.has(lowerName), as a switch on the length and compares (no hashing of the name per header). */
export function isHopByHop(lowerName: string): boolean {
  switch (lowerName.length) {
    case 2: return lowerName === 'te';
    case 7: return lowerName === 'trailer' || lowerName === 'upgrade';
    case 10: return lowerName === 'connection' || lowerName === 'keep-alive';
    case 16: return lowerName === 'proxy-connection';
    case 17: return lowerName === 'transfer-encoding';
    case 18: return lowerName === 'proxy-authenticate';
    case 19: return lowerName === 'proxy-authorization';
    default: return false;
  }
}

export function hasForbiddenChar(value: string): boolean {
  return FORBIDDEN_VALUE.test(value);
}

export function isToken(name: string): boolean {
  return TOKEN.test(name);
}

/**
 * Names listed in a Connection header value ("close", "keep-alive" and "upgrade" are common and
 * already hop-by-hop). Returns null when nothing extra must be dropped: the usual case. `host` is
 * never one of them: it names the request's target, not the connection, and `Connection: host`
 * must not take it away from the app.
 */
export function connectionListed(value: string): Set<string> | null {
  if (value === '' || value === 'keep-alive' || value === 'close' || value === 'Keep-Alive' || value === 'Close') return null;
  let extra: Set<string> | null = null;
  for (const part of value.split(',')) {
    const name = part.trim().toLowerCase();
    if (name === '' || name === 'host' || isHopByHop(name)) continue;
    (extra ??= new Set()).add(name);
  }
  return extra;
}

/** A Content-Length value meshlet accepts: 1–15 decimal digits, nothing else. */
export function isDecimalLength(value: string): boolean {
  return decimalLength(value) >= 0;
}

/** filterResponseHeaders' answer when a header name or value carries CR, LF or NUL. */
export const BAD_HEADER_VALUE = -2;

// lower-cased names of the headers being filtered and what to do with each (scratch: the filtering is synchronous)
const lowered: string[] = [];
const kinds: number[] = [];
export const KEEP = 0;
export const DROP = 1;
export const CONNECTION = 2;
export const CONTENT_LENGTH = 3;
/**
 * What filterResponseHeaders does with a (lowercase) response header: the hop-by-hop names and the
 * framing ones are dropped, Connection is read for the names it lists, Content-Length read. A
 * switch on the length and compares: no hashing of each name (a Map lookup per header was ~0.6%
 * of the worker's time under load).
 */
export function responseHeaderKind(name: string): number {
  switch (name.length) {
    case 2: return name === 'te' ? DROP : KEEP;
    case 4: return name === 'date' ? DROP : KEEP;
    case 7: return name === 'trailer' || name === 'upgrade' ? DROP : KEEP;
    case 10: return name === 'connection' ? CONNECTION : name === 'keep-alive' ? DROP : KEEP;
    case 14: return name === 'content-length' ? CONTENT_LENGTH : KEEP;
    case 16: return name === 'proxy-connection' ? DROP : KEEP;
    case 17: return name === 'transfer-encoding' ? DROP : KEEP;
    case 18: return name === 'proxy-authenticate' ? DROP : KEEP;
    case 19: return name === 'proxy-authorization' ? DROP : KEEP;
    default: return KEEP;
  }
}

/** A Content-Length value as a number: 1–15 decimal digits, else -1. */
function decimalLength(value: string): number {
  const len = value.length;
  if (len === 0 || len > 15) return -1;
  let n = 0;
  for (let i = 0; i < len; i++) {
    const d = value.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/**
 * Turns upstream response headers (flat [name, value, ...], any case; an array the codec made for
 * this response) into the client's, in place: names lower-cased, hop-by-hop and framing headers
 * dropped, no second array per response. Returns the Content-Length (-1 when absent or not a
 * plain number), or BAD_HEADER_VALUE (the array untouched) when a name or value carries CR, LF or
 * NUL (`validated`: the codec already refused those, as the h1 parser does).
 */
export function filterResponseHeaders(raw: string[], validated = false): number {
  let listed: Set<string> | null = null;
  let length = -1;
  // first pass: validate (unless the codec did), and learn what Connection lists before anything is copied
  for (let i = 0; i < raw.length; i += 2) {
    const name = lowerHeaderName(raw[i] as string);
    const value = raw[i + 1] as string;
    if (!validated && (FORBIDDEN_VALUE.test(value) || FORBIDDEN_VALUE.test(name))) return BAD_HEADER_VALUE;
    const kind = responseHeaderKind(name);
    lowered[i >> 1] = name; // indexed: no resizing per response
    kinds[i >> 1] = kind;
    if (kind === CONNECTION) listed = connectionListed(value);
    else if (kind === CONTENT_LENGTH) length = decimalLength(value);
  }
  let w = 0; // w ≤ i: what is written was read already
  for (let i = 0; i < raw.length; i += 2) {
    if (kinds[i >> 1] !== KEEP) continue; // hop-by-hop and framing headers
    const name = lowered[i >> 1] as string;
    if (listed !== null && listed.has(name)) continue;
    raw[w] = name;
    raw[w + 1] = raw[i + 1] as string;
    w += 2;
  }
  raw.length = w;
  return length;
}

/** Index of the first value of `name` (lowercase) in a flat header list, or -1. */
export function findHeader(headers: string[], name: string): number {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] === name) return i + 1;
  }
  return -1;
}

export function getHeader(headers: string[], name: string): string | undefined {
  const i = findHeader(headers, name);
  return i < 0 ? undefined : headers[i];
}

/** Removes every occurrence of `name` in place. */
export function removeHeader(headers: string[], name: string): void {
  let w = 0;
  for (let r = 0; r < headers.length; r += 2) {
    if (headers[r] === name) continue;
    headers[w] = headers[r] as string;
    headers[w + 1] = headers[r + 1] as string;
    w += 2;
  }
  headers.length = w;
}
