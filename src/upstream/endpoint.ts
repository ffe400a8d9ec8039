// One upstream endpoint as the balancer sees it: its pool (shared across config generations
// through the PoolRegistry) and this worker's in-flight count.
import type { EndpointSpec } from '../config/snapshot.js';
import type { UpstreamTls } from '../tls/outbound/client-tls.js';
import type { UpstreamPool } from './codec.js';

export class Endpoint {
  readonly spec: EndpointSpec;
  readonly key: string;
  readonly pool: UpstreamPool;
  inflight = 0;
  constructor(spec: EndpointSpec, pool: UpstreamPool) {
    this.spec = spec;
    this.key = endpointKey(spec.address, spec.port);
    this.pool = pool;
  }
}

export function endpointKey(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** The pool an endpoint uses: its address, plus the TLS settings when the cluster speaks mTLS. */
export function poolKey(address: string, port: number, tls: UpstreamTls | null): string {
  return tls === null ? endpointKey(address, port) : `${endpointKey(address, port)}|${tls.key}`;
}
