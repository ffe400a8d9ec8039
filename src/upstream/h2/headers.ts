// Header translation for the HTTP/2 upstream hop: the pipeline's flat request headers (with
// `host`) become the request's header block (:method, :scheme, :authority, :path first), and a
// response's or trailers' raw list loses its pseudo-headers. The pipeline has already removed
// hop-by-hop headers (TE among them: `te: trailers` is added back when the client sent it).
import type { OutgoingHttpHeaders } from 'node:http2';

/** The request header block; `authority` is used when the request carries no host. */
export function requestHeaderBlock(method: string, path: string, headers: readonly string[], scheme: string, authority: string, teTrailers: boolean): OutgoingHttpHeaders {
  const h: OutgoingHttpHeaders = { ':method': method, ':scheme': scheme, ':authority': authority, ':path': path };
  if (teTrailers) h.te = 'trailers';
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    const value = headers[i + 1] as string;
    if (name === 'host') {
      h[':authority'] = value;
      continue;
    }
    if (name === 'te') continue;
    const prev = h[name];
    if (prev === undefined) h[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else h[name] = [String(prev), value];
  }
  return h;
}

/** Node's raw header list [name, value, ...] without pseudo-headers. */
export function withoutPseudo(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.charCodeAt(0) !== 58 /* : */) out.push(name, raw[i + 1] as string);
  }
  return out;
}
