// The request as it goes upstream, built once per request (every try sends the same): the
// client's headers minus hop-by-hop ones, meshlet's x-forwarded-* / x-request-id /
// x-forwarded-client-cert, the route's authority and uri rewrites.
import { connectionListed, findHeader, isHopByHop } from '../http/headers.js';
import type { CompiledRoute } from '../routing/route.js';
import type { UpstreamRequest } from '../upstream/codec.js';
import type { ClientBody } from './client-body.js';
import { PEER_METADATA_HEADER, PEER_METADATA_ID_HEADER, type OwnMetadata } from '../telemetry/peer-metadata.js';

/** What the builder reads from the exchange. */
export interface UpstreamSource {
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly hasQuery: boolean;
  readonly scheme: string;
  readonly headers: string[];
  readonly requestId: string;
  /** the client's address when x-forwarded-for is appended (the Sidecar asked for it), else null */
  readonly forwardedFor: string | null;
  /** x-forwarded-client-cert for the local app ('' unless the request came over mTLS) */
  readonly peerXfcc: string;
  /** index of the route match that held (rewrite.uri replaces its prefix) */
  readonly matchIdx: number;
  /** 20 for HTTP/2 clients */
  readonly httpVersion: number;
  /** this sidecar's workload metadata (x-envoy-peer-metadata and -id) for mesh endpoints; null otherwise */
  readonly peerMetadata: OwnMetadata | null;
}

/**
 * `into`: a request object (with its headers list) nothing refers to any more, filled in place
 * instead of a new one (a reused attempt's: upstream/attempt/attempt.ts, reusable()).
 */
export function buildUpstreamRequest(src: UpstreamSource, route: CompiledRoute | null, body: ClientBody | null, contentLength: number,
  into: UpstreamRequest | null = null): UpstreamRequest {
  let path = src.path;
  if (route !== null && route.spec.rewrite !== null) {
    const rw = route.spec.rewrite;
    if (rw.uri !== null) {
      const prefixLength = route.matches.length === 0 ? -1 : (route.matches[src.matchIdx]?.prefixLength ?? -1);
      path = prefixLength >= 0 ? rw.uri + path.slice(prefixLength) : rw.uri;
      if (path === '') path = '/';
    }
  }
  if (src.hasQuery) path = `${path}?${src.query}`;
  const te = findHeader(src.headers, 'te');
  const teTrailers = te >= 0 && (src.headers[te] as string).includes('trailers');
  if (into === null) {
    return {
      method: src.method, path, headers: upstreamHeaders(src, route, null), body, contentLength, teTrailers, fromHttp2: src.httpVersion === 20,
      mxLast: src.peerMetadata !== null,
    };
  }
  into.method = src.method;
  into.path = path;
  into.headers = upstreamHeaders(src, route, into.headers);
  into.body = body;
  into.contentLength = contentLength;
  into.teTrailers = teTrailers;
  into.fromHttp2 = src.httpVersion === 20;
  into.mxLast = src.peerMetadata !== null;
  return into;
}

/** The client's headers minus hop-by-hop, plus x-forwarded-*, x-request-id and the route's authority rewrite. */
function upstreamHeaders(src: UpstreamSource, route: CompiledRoute | null, reuse: string[] | null): string[] {
  const h = src.headers;
  // built in the worker's scratch list (by index: emptying a list drops its storage), handed out
  // as an exact-size copy (a list grown by push() is over-allocated); the building is synchronous
  const out = SCRATCH;
  let n = 0;
  const connIdx = findHeader(h, 'connection');
  const listed = connIdx < 0 ? null : connectionListed(h[connIdx] as string);
  const append = src.forwardedFor;
  const mx = src.peerMetadata;
  let xff = '';
  let hasProto = false;
  let hasId = false;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i] as string;
    if (isHopByHop(name) || name === 'expect') continue;
    if (listed !== null && listed.has(name)) continue;
    const value = h[i + 1] as string;
    if (append !== null && name === 'x-forwarded-for') {
      xff = xff === '' ? value : `${xff}, ${value}`;
      continue;
    }
    // only meshlet vouches for a client certificate: a client's own value never passes
    if (name === 'x-forwarded-client-cert') continue;
    // workload metadata is the sidecar's to send (an app cannot speak for its workload): what the app
    // sent never leaves, whatever the destination (a connection that exchanges metadata once would
    // otherwise keep the first request's for its life: telemetry/mx-once.ts)
    if (name === PEER_METADATA_HEADER || name === PEER_METADATA_ID_HEADER) continue;
    if (name === 'x-forwarded-proto') hasProto = true;
    else if (name === 'x-request-id') hasId = true;
    out[n++] = name;
    out[n++] = value;
  }
  if (append !== null) {
    out[n++] = 'x-forwarded-for';
    out[n++] = xff === '' ? append : `${xff}, ${append}`;
  }
  if (!hasProto) {
    out[n++] = 'x-forwarded-proto';
    out[n++] = src.scheme;
  }
  if (!hasId) {
    out[n++] = 'x-request-id';
    out[n++] = src.requestId;
  }
  if (src.peerXfcc !== '') {
    out[n++] = 'x-forwarded-client-cert';
    out[n++] = src.peerXfcc;
  }
  if (mx !== null) {
    // last: an HTTP/1.1 connection exchanging metadata once leaves them out of its later heads (upstream/h1/connection.ts)
    out[n++] = PEER_METADATA_ID_HEADER;
    out[n++] = mx.id;
    out[n++] = PEER_METADATA_HEADER;
    out[n++] = mx.value;
  }
  let headers: string[];
  if (reuse === null) headers = out.slice(0, n);
  else {
    // the last request's list: refilled (it shrinks in place; it grows only past its largest request)
    headers = reuse;
    for (let i = 0; i < n; i++) headers[i] = out[i] as string;
    // (setting an array's length is a runtime call even when it does not change)
    if (headers.length !== n) headers.length = n;
  }
  if (route !== null && route.spec.rewrite !== null && route.spec.rewrite.authority !== null) {
    const i = findHeader(headers, 'host');
    if (i >= 0) headers[i] = route.spec.rewrite.authority;
  }
  return headers;
}

const SCRATCH: string[] = [];
