// What route matching reads from a request; filled once from the parsed request head.

export interface RequestView {
  method: string;
  /** path without the query string */
  path: string;
  /** raw query string without '?', '' when none */
  query: string;
  /** Host header as received (may carry a port) */
  authority: string;
  scheme: string;
  /** flat [lowercase name, value, ...] as received */
  headers: string[];
  listenerPort: number;
}

/**
 * First value of query parameter `name` (percent-decoded), or null when absent. No allocation
 * when absent. One pass over the query: a key's '=' is looked for inside its own parameter only
 * (an indexOf('=') from each parameter to the end of the query made `a&a&a…` quadratic).
 */
export function queryParam(query: string, name: string): string | null {
  let start = 0;
  while (start <= query.length) {
    let end = query.indexOf('&', start);
    if (end < 0) end = query.length;
    if (keyLength(query, start, end) === name.length && query.startsWith(name, start)) {
      const keyEnd = start + name.length;
      const raw = keyEnd === end ? '' : query.slice(keyEnd + 1, end);
      return safeDecode(raw);
    }
    start = end + 1;
  }
  return null;
}

/** Length of the key of s[start, end): up to its first '=', or all of it. */
export function keyLength(s: string, start: number, end: number): number {
  let i = start;
  while (i < end && s.charCodeAt(i) !== 0x3d /* = */) i++;
  return i - start;
}

function safeDecode(s: string): string {
  if (s.indexOf('%') < 0 && s.indexOf('+') < 0) return s;
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}
