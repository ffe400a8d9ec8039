// Protocol detection on a port whose protocol is not declared (Istio's protocol sniffing): the
// first bytes of a connection are an HTTP/1.x request when they start with a request method and a
// space; anything else is proxied as opaque TCP. (A server-first protocol sends nothing first:
// declare its port's protocol, as Istio asks.)

export const SNIFF_MORE = 0;
export const SNIFF_HTTP = 1;
export const SNIFF_NOT_HTTP = 2;

const METHODS = [
  'GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'TRACE', 'CONNECT', 'PRI', 'QUERY',
  'PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK', 'PURGE',
].map((m) => Buffer.from(`${m} `, 'latin1'));

/** SNIFF_HTTP, SNIFF_NOT_HTTP, or SNIFF_MORE when buf[start, end) is too short to tell (leading CRLFs are skipped, RFC 9112 §2.2). */
export function sniffHttp(buf: Buffer, start: number, end: number): number {
  while (start + 1 < end && buf[start] === 13 && buf[start + 1] === 10) start += 2;
  const n = end - start;
  if (n === 0 || (n === 1 && buf[start] === 13)) return SNIFF_MORE;
  let possible = false;
  for (const m of METHODS) {
    const len = Math.min(n, m.length);
    if (buf.compare(m, 0, len, start, start + len) !== 0) continue;
    if (len === m.length) return SNIFF_HTTP;
    possible = true;
  }
  return possible ? SNIFF_MORE : SNIFF_NOT_HTTP;
}
