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

/** First value of query parameter `name` (percent-decoded), or null when absent. No allocation when absent. */
export function queryParam(query: string, name: string): string | null {
  let start = 0;
  while (start <= query.length) {
    let end = query.indexOf('&', start);
    if (end < 0) end = query.length;
    const eq = query.indexOf('=', start);
    const keyEnd = eq >= 0 && eq < end ? eq : end;
    if (keyEnd - start === name.length && query.startsWith(name, start)) {
      const raw = keyEnd === end ? '' : query.slice(keyEnd + 1, end);
      return safeDecode(raw);
    }
    start = end + 1;
  }
  return null;
}

function safeDecode(s: string): string {
  if (s.indexOf('%') < 0 && s.indexOf('+') < 0) return s;
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}
