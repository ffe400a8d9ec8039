// meshlet's own HTTP/1.1 client codec ('h1'): keep-alive pools (pool.ts) of connections
// (connection.ts) sending requests (request-sender.ts; heads built by request-writer.ts) and
// parsing responses (response-parser.ts; chunked framing in chunked-decoder.ts).
import type { UpstreamTls } from '../../tls/outbound/client-tls.js';
import type { PoolOptions, UpstreamCodec, UpstreamPool } from '../codec.js';
import { H1Pool } from './pool.js';

export const h1Codec: UpstreamCodec = {
  name: 'h1',
  createPool(address: string, port: number, options: PoolOptions, tls: UpstreamTls | null = null): UpstreamPool {
    return new H1Pool(address, port, options, tls);
  },
};

export { H1Pool } from './pool.js';
export { ResponseParser, MAX_HEAD_BYTES, type ResponseSink } from './response-parser.js';
