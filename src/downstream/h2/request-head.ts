// An HTTP/2 request's header block (RFC 9113 §8.3) as the pipeline's RequestHead. nghttp2 has
// already checked what the frame layer defines (lowercase names, no connection-specific headers,
// pseudo-headers first and once, :method a token, no CR/LF/NUL in values, Content-Length against
// the DATA received); what is left is what a proxy must make unambiguous for an HTTP/1.1 hop:
// the target's characters, a Host that agrees with :authority, cookies joined into one header.
import { badRequest, headersTooLarge, notImplemented, type ProxyError } from '../../http/errors.js';
import { CHUNKED_BODY, LENGTH_BODY, MAX_HEADERS, NO_BODY, type RequestHead } from '../h1/request-head.js';

/** request-target characters: visible ASCII and obs-text (no controls, no space, no fragment) */
const BAD_PATH = /[\x00-\x20\x7f#]/;
const DIGITS = /^\d{1,15}$/;

/** HTTP/2 in RequestHead.version (the access log's protocol, the stats record). */
export const HTTP2_VERSION = 20;

/**
 * Fills `head` from Node's flat raw header list [name, value, ...] (names lowercase).
 * `endStream`: the HEADERS frame ended the stream (no body). Returns null or the error to answer.
 */
export function readH2Head(raw: readonly string[], endStream: boolean, head: RequestHead): ProxyError | null {
  head.reset();
  head.version = HTTP2_VERSION;
  const headers = head.headers;
  let path = '';
  let authority = '';
  let host = '';
  let cookie = '';
  let cl = '';
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    if (name.charCodeAt(0) === 58 /* : */) {
      if (name === ':method') head.method = value;
      else if (name === ':path') path = value;
      else if (name === ':authority') authority = value;
      else if (name === ':protocol') return notImplemented('extended CONNECT is not supported');
      // :scheme is the client's view; x-forwarded-proto carries meshlet's
      continue;
    }
    if (name === 'cookie') {
      // RFC 9113 §8.2.3: split cookies are joined before an HTTP/1.1 hop
      cookie = cookie === '' ? value : `${cookie}; ${value}`;
      continue;
    }
    if (name === 'host') {
      host = value;
      continue;
    }
    if (name === 'content-length') cl = value;
    if ((headers.length >> 1) >= MAX_HEADERS) return headersTooLarge(`more than ${MAX_HEADERS} headers`);
    headers.push(name, value);
  }
  if (head.method === 'CONNECT') return notImplemented('CONNECT is not supported');
  // RFC 9113 §8.3.1: :authority wins over Host; the hop upstream carries it as Host
  head.authority = authority !== '' ? authority : host;
  if (head.authority !== '') headers.unshift('host', head.authority);
  if (cookie !== '') headers.push('cookie', cookie);
  const err = readPath(path, head);
  if (err !== null) return err;
  if (cl !== '') {
    if (!DIGITS.test(cl)) return badRequest(`invalid content-length "${cl.slice(0, 64)}"`);
    head.contentLength = Number(cl);
  }
  head.bodyKind = endStream ? NO_BODY : head.contentLength >= 0 ? LENGTH_BODY : CHUNKED_BODY;
  return null;
}

function readPath(path: string, head: RequestHead): ProxyError | null {
  if (path === '*' && head.method === 'OPTIONS') {
    head.path = '*';
    return null;
  }
  if (path.charCodeAt(0) !== 47 /* / */) return badRequest(path === '' ? 'missing :path' : 'invalid :path');
  if (BAD_PATH.test(path)) return badRequest('invalid character in :path');
  const q = path.indexOf('?');
  if (q < 0) {
    head.path = path;
    return null;
  }
  head.path = path.slice(0, q);
  head.query = path.slice(q + 1);
  head.hasQuery = true;
  return null;
}
