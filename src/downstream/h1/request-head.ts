// Parses one HTTP/1.1 (or 1.0) request head, RFC 9112, strictly: what a proxy forwards must mean
// the same thing to every server behind it, so anything ambiguous is refused rather than guessed
// (obs-fold, bare CR or LF, controls, whitespace before a colon, conflicting or malformed
// Content-Length, Transfer-Encoding other than a lone `chunked`, two Host headers). The input is
// the head as one latin1 string without its final CRLF CRLF; the result is written into a
// reused RequestHead. Errors are typed ProxyErrors (status + flag), see src/http/errors.ts.
import {
  badRequest, expectationFailed, headersTooLarge, notImplemented, versionNotSupported, type ProxyError,
} from '../../http/errors.js';
import { isValidHeaderValue } from '../../upstream/h1/chars.js';

export const NO_BODY = 0;
export const LENGTH_BODY = 1;
export const CHUNKED_BODY = 2;

/** Envoy's defaults: max_request_headers_kb 60, max_headers_count 100. */
export const MAX_HEAD_BYTES = 60 * 1024;
export const MAX_HEADERS = 100;

export class RequestHead {
  method = '';
  /** path without query or fragment ('*' for OPTIONS *) */
  path = '';
  /** query without '?', '' when none */
  query = '';
  /** the target had a '?' (an empty query is forwarded as sent: `/p?`) */
  hasQuery = false;
  /** 11 or 10 */
  version = 11;
  /** flat [lowercase name, value, ...] as received (Host rewritten from an absolute-form target) */
  headers: string[] = [];
  /** Host (or the absolute-form target's authority); '' when absent */
  authority = '';
  /** the authority of an absolute-form target (`GET http://host/p`), '' otherwise */
  absoluteAuthority = '';
  bodyKind = NO_BODY;
  contentLength = -1;
  /** false when the client asked to close (or HTTP/1.0 without keep-alive) */
  keepAlive = true;
  /** `Expect: 100-continue` on a request with a body */
  expectContinue = false;
  /**
   * 'websocket' for an HTTP/1.1 request without a body asking to switch to WebSocket (`Connection:
   * upgrade` and `Upgrade: websocket`); '' otherwise (other upgrades are dropped as hop-by-hop)
   */
  upgrade = '';

  reset(): void {
    this.method = '';
    this.path = '';
    this.query = '';
    this.hasQuery = false;
    this.version = 11;
    this.headers = [];
    this.authority = '';
    this.absoluteAuthority = '';
    this.bodyKind = NO_BODY;
    this.contentLength = -1;
    this.keepAlive = true;
    this.expectContinue = false;
    this.upgrade = '';
  }
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** request-target characters: visible ASCII and obs-text (no controls, no space) */
const BAD_TARGET = /[\x00-\x20\x7f]/;
const DIGITS = /^\d{1,15}$/;
const HTTP_VERSION = /^HTTP\/\d\.\d$/;

/** Request header names clients commonly send, in their usual spellings → the lowercase constant. */
const REQUEST_NAMES = new Map<string, string>();
for (const name of [
  'Host', 'User-Agent', 'Accept', 'Accept-Encoding', 'Accept-Language', 'Content-Type', 'Content-Length', 'Connection',
  'Transfer-Encoding', 'Expect', 'Upgrade', 'TE', 'Authorization', 'Cookie', 'Origin', 'Referer', 'Cache-Control', 'Pragma',
  'If-None-Match', 'If-Modified-Since', 'X-Request-Id', 'X-Forwarded-For', 'X-Forwarded-Proto', 'X-Forwarded-Host',
  'X-Forwarded-Client-Cert', 'Traceparent', 'Tracestate', 'B3', 'X-B3-TraceId', 'X-B3-SpanId', 'X-B3-ParentSpanId',
  'X-B3-Sampled', 'X-B3-Flags', 'Keep-Alive', 'Proxy-Connection',
]) {
  REQUEST_NAMES.set(name, name.toLowerCase());
  REQUEST_NAMES.set(name.toLowerCase(), name.toLowerCase());
}

/** The header fields being parsed (lowercase name, value, ...) and the names as sent, reused from head to head. */
const SCRATCH: string[] = [];
const SCRATCH_RAW: string[] = [];

/** Method names interned: the common ones are compared, not re-validated. */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE']);

/**
 * Parses `s` (the head without its final CRLF CRLF; leading empty lines already skipped) into
 * `head`. Returns null, or the error to answer with (the connection is closed after it).
 */
export function parseRequestHead(s: string, head: RequestHead, maxHeaders = MAX_HEADERS): ProxyError | null {
  // No control other than HTAB, no DEL, no CR or LF outside a CRLF pair, anywhere in the head:
  // checked part by part rather than in one pass over the whole head. The request line's parts
  // are a token method, a target without controls or spaces and an exact version; a header name
  // is a token, the OWS around a value is SP and HTAB, and a value is checked when it is not the
  // one at the same place in the previous head (already checked: keep-alive clients and peer
  // sidecars repeat theirs, Istio's metadata exchange ~330 bytes of it).
  let lineEnd = s.indexOf('\r\n');
  if (lineEnd < 0) lineEnd = s.length;
  const err = parseRequestLine(s, lineEnd, head);
  if (err !== null) return err;

  // fields go to the worker's scratch list first and leave as one exact-size array (a list grown
  // by push() is over-allocated); a name or value equal to the one at the same position in the
  // previous head (keep-alive clients repeat theirs) reuses that string instead of a new slice
  const headers = SCRATCH;
  const raws = SCRATCH_RAW;
  let n = 0;
  let hosts = 0;
  let te = '';
  let tes = 0;
  let cl = '';
  let connection = '';
  let expect = '';
  let upgrade = '';
  let p = lineEnd + 2;
  while (p < s.length) {
    let le = s.indexOf('\r\n', p);
    if (le < 0) le = s.length;
    const c0 = s.charCodeAt(p);
    if (c0 === 32 || c0 === 9) return badRequest('obsolete line folding in a header');
    const colon = s.indexOf(':', p);
    if (colon < 0 || colon >= le) return badRequest('header line without a colon');
    let name: string;
    let raw = raws[n];
    if (raw !== undefined && raw.length === colon - p && s.startsWith(raw, p)) {
      name = headers[n] as string;
    } else {
      raw = s.slice(p, colon);
      const known = REQUEST_NAMES.get(raw);
      if (known === undefined) {
        if (!TOKEN.test(raw)) return badRequest(colon === p ? 'empty header name' : `invalid header name "${printable(raw)}"`);
        name = raw.toLowerCase();
      } else {
        name = known;
      }
    }
    let vs = colon + 1;
    let ve = le;
    while (vs < ve && isOws(s.charCodeAt(vs))) vs++;
    while (ve > vs && isOws(s.charCodeAt(ve - 1))) ve--;
    if ((n >> 1) >= maxHeaders) return headersTooLarge(`more than ${maxHeaders} headers`);
    const prev = headers[n + 1];
    let value: string;
    if (prev !== undefined && prev.length === ve - vs && s.startsWith(prev, vs)) value = prev;
    else {
      value = s.slice(vs, ve);
      // (isValidHeaderValue: HTAB and 0x20-0xff but DEL, which is every char but a control for the
      // latin1 head; a CR or LF in a value is never part of a CRLF: lines end at the first)
      if (!isValidHeaderValue(value)) return badRequest('control character, bare CR or bare LF in the request head');
    }
    raws[n] = raw;
    headers[n] = name;
    headers[n + 1] = value;
    n += 2;
    switch (name.length) {
      case 4:
        if (name === 'host') {
          hosts++;
          head.authority = value;
        }
        break;
      case 6:
        if (name === 'expect') expect = value;
        break;
      case 7:
        if (name === 'upgrade') upgrade = upgrade === '' ? value : `${upgrade}, ${value}`;
        break;
      case 10:
        if (name === 'connection') connection = connection === '' ? value : `${connection}, ${value}`;
        break;
      case 14:
        if (name === 'content-length') {
          if (cl !== '' && cl !== value) return badRequest('conflicting Content-Length headers');
          cl = value;
        }
        break;
      case 17:
        if (name === 'transfer-encoding') {
          tes++;
          te = value;
        }
        break;
    }
    p = le + 2;
  }

  head.headers = headers.slice(0, n);
  if (hosts > 1) return badRequest('more than one Host header');
  if (head.absoluteAuthority !== '') setHost(head);
  else if (hosts === 0 && head.version === 11) return badRequest('missing Host header');

  if (tes > 0) {
    if (head.version === 10) return badRequest('Transfer-Encoding in an HTTP/1.0 request');
    if (cl !== '') return badRequest('both Transfer-Encoding and Content-Length');
    if (tes > 1 || te.toLowerCase() !== 'chunked') return notImplemented(`Transfer-Encoding "${printable(te)}" (only chunked is supported)`);
    head.bodyKind = CHUNKED_BODY;
  } else if (cl !== '') {
    if (!DIGITS.test(cl)) return badRequest(`invalid Content-Length "${printable(cl)}"`);
    head.contentLength = Number(cl);
    if (head.contentLength > 0) head.bodyKind = LENGTH_BODY;
  }

  if (connection !== '') {
    if (readConnection(connection, head) && upgrade !== '' && head.version === 11 && head.bodyKind === NO_BODY && isWebSocket(upgrade)) head.upgrade = 'websocket';
  } else if (head.version === 10) head.keepAlive = false;
  if (expect !== '') {
    if (expect.toLowerCase() !== '100-continue') return expectationFailed(`unsupported expectation "${printable(expect)}"`);
    head.expectContinue = head.version === 11 && head.bodyKind !== NO_BODY;
  }
  return null;
}

function parseRequestLine(s: string, lineEnd: number, head: RequestHead): ProxyError | null {
  const sp1 = s.indexOf(' ');
  if (sp1 <= 0 || sp1 >= lineEnd) return badRequest('malformed request line');
  const sp2 = s.indexOf(' ', sp1 + 1);
  if (sp2 < 0 || sp2 >= lineEnd || sp2 === sp1 + 1) return badRequest('malformed request line');
  const method = sp1 === 3 && s.startsWith('GET') ? 'GET' : s.slice(0, sp1);
  if (!METHODS.has(method) && !TOKEN.test(method)) return badRequest('invalid request method');
  if (lineEnd - sp2 === 9 && s.startsWith('HTTP/1.1', sp2 + 1)) head.version = 11;
  else if (lineEnd - sp2 === 9 && s.startsWith('HTTP/1.0', sp2 + 1)) head.version = 10;
  else {
    const version = s.slice(sp2 + 1, lineEnd);
    if (HTTP_VERSION.test(version)) return versionNotSupported(version);
    return badRequest('malformed request line');
  }
  head.method = method;
  return parseTarget(s.slice(sp1 + 1, sp2), head);
}

/**
 * origin-form (`/p?q`), absolute-form (`http://host/p?q`: its authority replaces Host, RFC 9112
 * §3.2.2) and asterisk-form (`OPTIONS *`). A fragment is never part of a request (dropped).
 */
function parseTarget(target: string, head: RequestHead): ProxyError | null {
  if (BAD_TARGET.test(target)) return badRequest('invalid character in the request target');
  let start = 0;
  head.absoluteAuthority = '';
  const c0 = target.charCodeAt(0);
  if (c0 !== 47 /* / */) {
    if (target === '*' && head.method === 'OPTIONS') {
      head.path = '*';
      head.query = '';
      return null;
    }
    const scheme = target.indexOf('://');
    const lower = scheme > 0 ? target.slice(0, scheme).toLowerCase() : '';
    if (lower !== 'http' && lower !== 'https') {
      if (head.method === 'CONNECT') return notImplemented('CONNECT is not supported');
      return badRequest('invalid request target');
    }
    const from = scheme + 3;
    let end = from;
    while (end < target.length) {
      const c = target.charCodeAt(end);
      if (c === 47 || c === 63 || c === 35) break; // / ? #
      end++;
    }
    if (end === from) return badRequest('absolute request target without a host');
    head.absoluteAuthority = target.slice(from, end);
    if (end === target.length || target.charCodeAt(end) !== 47) {
      // "http://h?q" → path "/" with the query
      target = `/${target.slice(end)}`;
      start = 0;
    } else {
      start = end;
    }
  }
  let q = -1;
  let hash = -1;
  for (let i = start; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c === 63 && q < 0) q = i;
    else if (c === 35) {
      hash = i;
      break;
    }
  }
  const pathEnd = q >= 0 ? q : hash >= 0 ? hash : target.length;
  head.path = start === 0 && pathEnd === target.length ? target : target.slice(start, pathEnd);
  head.query = q < 0 ? '' : target.slice(q + 1, hash >= 0 ? hash : target.length);
  head.hasQuery = q >= 0;
  return null;
}

/** Host becomes the absolute-form target's authority (added when the client sent none). */
function setHost(head: RequestHead): void {
  const h = head.headers;
  head.authority = head.absoluteAuthority;
  for (let i = 0; i < h.length; i += 2) {
    if (h[i] === 'host') {
      h[i + 1] = head.absoluteAuthority;
      return;
    }
  }
  h.push('host', head.absoluteAuthority);
}

/** Connection: close / keep-alive; returns whether it lists `upgrade`. */
function readConnection(value: string, head: RequestHead): boolean {
  let close = false;
  let keepAlive = false;
  let upgrade = false;
  // what clients send (one token, as written by curl, browsers, load generators): no list to split
  if (value === 'keep-alive' || value === 'Keep-Alive') keepAlive = true;
  else if (value === 'close' || value === 'Close') close = true;
  else for (const part of value.split(',')) {
    const t = part.trim().toLowerCase();
    if (t === 'close') close = true;
    else if (t === 'keep-alive') keepAlive = true;
    else if (t === 'upgrade') upgrade = true;
  }
  head.keepAlive = !close && (head.version === 11 || keepAlive);
  return upgrade;
}

/** `Upgrade: websocket` (one protocol, any case; a list of several is not a WebSocket handshake). */
function isWebSocket(value: string): boolean {
  return value.length === 9 && value.toLowerCase() === 'websocket';
}

function isOws(c: number): boolean {
  return c === 32 || c === 9;
}

/** At most 64 characters of a client-sent value, for an error message. */
function printable(s: string): string {
  return s.length > 64 ? `${s.slice(0, 64)}…` : s;
}
