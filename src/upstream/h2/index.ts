// meshlet's HTTP/2 client codec ('h2', node:http2 / nghttp2): per-endpoint pools (pool.ts) of
// multiplexed connections (connection.ts) carrying one stream per request (stream.ts). Used for
// clusters whose port is HTTP2, GRPC or GRPC-WEB, or upgraded by h2UpgradePolicy (ClusterSpec.http2).
import type { UpstreamTls } from '../../tls/outbound/client-tls.js';
import type { PoolOptions, UpstreamCodec, UpstreamPool } from '../codec.js';
import { H2Pool } from './pool.js';

export const h2Codec: UpstreamCodec = {
  name: 'h2',
  createPool(address: string, port: number, options: PoolOptions, tls: UpstreamTls | null = null): UpstreamPool {
    return new H2Pool(address, port, options, tls);
  },
};

export { H2Pool } from './pool.js';
