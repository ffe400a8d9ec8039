// What config text may be written into an HTTP/1.1 message as it is: header values, request paths
// (rewrite.uri, redirect.uri), authorities (rewrite.authority, redirect.authority, a host header)
// and cookie attributes. HTTP/1.1 is bytes: a character outside ASCII has no single meaning on the
// wire (meshlet's upstream codec writes latin1, uWS writes UTF-8, peers read either, and most
// servers refuse it), so it is refused here, at load, with the field path and the encoded form to
// write instead — never found out on the first request as a 502 blaming the app.
import { domainToASCII } from 'node:url';

/** `"日" (U+65E5)`: a character as written and as a code point. */
function describeChar(s: string, i: number): string {
  const cp = s.codePointAt(i) as number;
  const hex = cp.toString(16).toUpperCase().padStart(4, '0');
  const visible = cp >= 0x20 && cp !== 0x7f && !(cp >= 0xd800 && cp <= 0xdfff);
  return visible ? `"${String.fromCodePoint(cp)}" (U+${hex})` : `U+${hex}`;
}

/** Index of the first character that is not printable ASCII (0x20-0x7e), or -1. */
function firstNonAscii(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return i;
  }
  return -1;
}

function isControl(c: number): boolean {
  return (c < 0x20 && c !== 0x09) || c === 0x7f;
}

/** `s` with every character outside `keep` percent-encoded as UTF-8, or null when `s` is not valid Unicode. */
function percentEncoded(s: string, keep: RegExp): string | null {
  try {
    return s.replace(/[^]/gu, (ch) => (keep.test(ch) ? ch : encodeURIComponent(ch)));
  } catch {
    return null; // a lone surrogate: not text at all
  }
}

/** Header values: HTAB and printable ASCII only (RFC 9110 field-vchar without the obsolete obs-text). */
export function headerValueProblem(value: string): string | null {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (isControl(c)) return 'header value contains a control character (CR, LF, NUL, …), which is not allowed';
    if (c > 0x7e) {
      const encoded = percentEncoded(value, /^[\t\x20-\x7e]$/);
      return `header value contains ${describeChar(value, i)}, which is not ASCII: HTTP/1.1 header values are bytes that peers read differently (latin1, UTF-8) or refuse${encoded === null ? '' : `; encode it, e.g. percent-encoded "${encoded}"`}`;
    }
  }
  return null;
}

/** One character RFC 3986 allows in a path and query as written: unreserved, sub-delims, ":@/?" and "%". */
const URI_CHAR = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]$/;

/**
 * A path (with optional query) written into the request line or a Location header: `rewrite.uri`,
 * and `redirect.uri`, where a `#fragment` may follow (a Location may carry one; a request line may not).
 */
export function uriProblem(uri: string, fragmentAllowed: boolean): string | null {
  const hash = uri.indexOf('#');
  if (hash >= 0 && !fragmentAllowed) return 'a fragment (#…) is never sent to a server';
  const parts = hash < 0 ? [uri] : [uri.slice(0, hash), uri.slice(hash + 1)];
  for (const part of parts) {
    const i = [...part].findIndex((ch) => !URI_CHAR.test(ch));
    if (i < 0) continue;
    const encodedParts = parts.map((p) => percentEncoded(p, URI_CHAR));
    const encoded = encodedParts.includes(null) ? null : encodedParts.join('#');
    return `${describeChar(part, [...part].slice(0, i).join('').length)} cannot be sent in a URI as it is${encoded === null ? ' (not valid Unicode)' : `; write it percent-encoded: "${encoded}"`}`;
  }
  if (/%(?![0-9A-Fa-f]{2})/.test(uri)) return '"%" must start a percent-encoded byte (%XX)';
  return null;
}

/** host (reg-name or IP literal) and optional :port (RFC 3986 authority without userinfo). */
const AUTHORITY = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::[0-9]{1,5})?$/;

/** An authority written as the Host header: `rewrite.authority`, `redirect.authority`, a set `host` header. */
export function authorityProblem(authority: string): string | null {
  const bad = firstNonAscii(authority);
  if (bad >= 0) {
    const c = authority.charCodeAt(bad);
    if (c < 0x80) return `authority contains ${describeChar(authority, bad)}, which is not allowed`;
    const port = /:[0-9]*$/.exec(authority)?.[0] ?? '';
    const ascii = domainToASCII(authority.slice(0, authority.length - port.length));
    return `authority contains ${describeChar(authority, bad)}, which is not ASCII${ascii === '' ? '' : `; write the internationalized name in its ASCII form: "${ascii}${port}"`}`;
  }
  if (!AUTHORITY.test(authority)) return `"${authority}" is not a valid authority (host or host:port)`;
  const port = /\]?:([0-9]+)$/.exec(authority);
  if (port !== null && Number(port[1]) > 65535) return `port ${port[1]} in authority "${authority}" is above 65535`;
  return null;
}

/** A cookie name: an RFC 6265 token. */
export function cookieNameProblem(name: string): string | null {
  return /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name) ? null : `"${name}" is not a valid cookie name (letters, digits and !#$%&'*+-.^_\`|~)`;
}

/** A cookie attribute value (Path): printable ASCII without ";" (RFC 6265 av-octet). */
export function cookieAttributeProblem(value: string): string | null {
  const bad = firstNonAscii(value);
  if (bad >= 0) return `contains ${describeChar(value, bad)}, which cannot be sent in a Set-Cookie header`;
  if (value.includes(';')) return '";" would end the cookie attribute';
  return null;
}
