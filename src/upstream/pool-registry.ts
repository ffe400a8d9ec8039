// Upstream pools of one worker, keyed by endpoint address:port and protocol (HTTP/2 clusters have
// their own pools), plus the DestinationRule pool settings when a cluster sets its own and the TLS
// settings for mTLS clusters. A new config
// generation reuses the pools of endpoints it still has (no reconnect storm) and closes the
// others gracefully.
import type { ClusterSpec, EndpointSpec, PoolSpec } from '../config/snapshot.js';
import type { UpstreamTls } from '../tls/outbound/client-tls.js';
import type { PoolOptions, UpstreamCodec, UpstreamPool } from './codec.js';
import { endpointKey } from './endpoint.js';
import { binds } from './shared/admission.js';
import { h2Codec } from './h2/index.js';

/** TLS settings of endpoint j of cluster i (null: plaintext) */
export type TlsTable = readonly (readonly (UpstreamTls | null)[])[];

export class PoolRegistry {
  private readonly codec: UpstreamCodec;
  /** the HTTP/2 codec, for clusters reached over HTTP/2 (ClusterSpec.http2) */
  private readonly h2: UpstreamCodec;
  private readonly options: PoolOptions;
  private pools = new Map<string, UpstreamPool>();

  constructor(codec: UpstreamCodec, options: PoolOptions, h2: UpstreamCodec = h2Codec) {
    this.codec = codec;
    this.h2 = h2;
    this.options = options;
  }

  get size(): number { return this.pools.size; }

  /** Builds the pool set for a new generation; returns the pool of each (cluster, endpoint) by poolKey. */
  rebuild(clusters: readonly ClusterSpec[], tls: TlsTable): Map<string, UpstreamPool> {
    const next = new Map<string, UpstreamPool>();
    clusters.forEach((c, i) => {
      c.endpoints.forEach((e, j) => {
        const t = tls[i]?.[j] ?? null;
        const key = poolKey(c, e, t);
        if (!next.has(key)) next.set(key, this.pools.get(key) ?? (c.http2 === true ? this.h2 : this.codec).createPool(e.address, e.port, this.optionsFor(c, t !== null), t));
        if (c.clientProtocol !== true) return;
        // useClientProtocol: an HTTP/2 pool too, for the requests of HTTP/2 clients
        const h2 = clientProtocolKey(key);
        if (!next.has(h2)) next.set(h2, this.pools.get(h2) ?? this.h2.createPool(e.address, e.port, { ...this.optionsFor(c, t !== null), connections: this.options.connections }, t));
      });
    });
    for (const [key, pool] of this.pools) {
      if (!next.has(key)) void pool.close().catch(() => undefined);
    }
    this.pools = next;
    return next;
  }

  /** `mtls`: the endpoint is a sidecar reached over mesh mTLS (see MESH_IDLE_TIMEOUT_MS) */
  private optionsFor(c: ClusterSpec, mtls: boolean): PoolOptions {
    const p = c.pool;
    return {
      // HTTP/2: streams share connections; tcp.maxConnections caps a worker's connections to the endpoint
      connections: c.http2 === true ? (binds(p.maxConnections) ? Math.min(p.maxConnections, this.options.connections) : this.options.connections)
        : connectionCap(this.options.connections, p),
      queueTimeoutMs: this.options.queueTimeoutMs,
      idleTimeoutMs: p.idleTimeoutMs > 0 ? p.idleTimeoutMs : mtls ? Math.max(MESH_IDLE_TIMEOUT_MS, this.options.idleTimeoutMs) : this.options.idleTimeoutMs,
      connectTimeoutMs: p.connectTimeoutMs > 0 ? p.connectTimeoutMs : this.options.connectTimeoutMs,
      maxRequestsPerConnection: p.maxRequestsPerConnection,
      maxConcurrentStreams: p.maxConcurrentStreams,
    };
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close().catch(() => undefined)));
  }

  async destroyAll(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.destroy().catch(() => undefined)));
  }
}

/**
 * Idle mesh mTLS connections are kept this long unless the DestinationRule sets an idleTimeout:
 * a new one costs a TLS handshake (and the peer is a sidecar, not an app with a short keep-alive
 * timeout). Below meshlet's own downstream idle timeout (60 s), so the client side closes first
 * and never reuses a connection the peer is closing; Envoy's inbound side keeps them for an hour.
 */
export const MESH_IDLE_TIMEOUT_MS = 55_000;

/**
 * Connections one worker may open to one endpoint of the cluster: the safety cap
 * (--max-connections-per-endpoint), or the cluster's DestinationRule tcp.maxConnections when that
 * is set higher — that limit then governs, sidecar-wide, through the cluster's Admission.
 */
export function connectionCap(safetyCap: number, p: PoolSpec): number {
  return binds(p.maxConnections) && p.maxConnections > safetyCap ? p.maxConnections : safetyCap;
}

/** Pools are shared by clusters whose pool and TLS settings agree (the common case: none set). */
export function poolKey(c: ClusterSpec, e: EndpointSpec, tls: UpstreamTls | null): string {
  let key = endpointKey(e.address, e.port);
  const p = c.pool;
  if (c.http2 === true) key = `${key}|h2${p.maxConcurrentStreams === 0 ? '' : `s${p.maxConcurrentStreams}`}`;
  if (p.idleTimeoutMs !== 0 || p.connectTimeoutMs !== 0 || p.maxRequestsPerConnection !== 0 || binds(p.maxConnections)) {
    key = `${key}|i${p.idleTimeoutMs}|c${p.connectTimeoutMs}|r${p.maxRequestsPerConnection}|m${p.maxConnections}`;
  }
  return tls === null ? key : `${key}|${tls.key}`;
}

/** The key of an endpoint's HTTP/2 pool in a useClientProtocol cluster (next to poolKey's HTTP/1.1 one). */
export function clientProtocolKey(key: string): string {
  return `${key}|client-h2`;
}
