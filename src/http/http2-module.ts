// node:http2, loaded with a worker's first HTTP/2 connection (in or out): a worker that serves
// only HTTP/1.1, TCP or WebSocket never pays for it (~1.7 MB RSS, ~0.8 MB heap per worker).
// Synchronous (createRequire): a connection is handed over in the callback that found it is HTTP/2.
import { createRequire } from 'node:module';
import type * as Http2 from 'node:http2';

const load = createRequire(import.meta.url);
let http2: typeof Http2 | null = null;

export function http2Module(): typeof Http2 {
  return (http2 ??= load('node:http2') as typeof Http2);
}

// The RFC 9113 codes and flag meshlet uses (node:http2's constants hold the same numbers).
export const NGHTTP2_NO_ERROR = 0x0;
export const NGHTTP2_INTERNAL_ERROR = 0x2;
export const NGHTTP2_REFUSED_STREAM = 0x7;
export const NGHTTP2_CANCEL = 0x8;
export const NGHTTP2_FLAG_END_STREAM = 0x1;
