// The snapshot's cluster list, built on demand: one cluster per (host, subset, port) some route
// destination or mirror references (id = index), plus one inbound cluster per Sidecar ingress listener.
import type { Catalog } from '../catalog.js';
import type { PlannedListener } from '../listeners.js';
import { endpointsOf, resolveDestination } from '../resolve.js';
import type { ClusterSpec } from '../snapshot.js';
import { DEFAULT_POOL } from '../traffic-policy.js';
import { autoMtls, clusterTls } from './cluster-tls.js';
import { isHttp2Protocol, portProtocol } from '../protocol.js';
import type { Resolved } from '../resolve.js';

export interface ClusterRef {
  clusterId: number;
  unresolved: string | null;
}

/** Istio reaches the instance through 0.0.0.0 / :: ("this host"); connect to loopback instead. */
const LOCAL: Record<string, string> = { '0.0.0.0': '127.0.0.1', '::': '::1' };

export class ClusterTable {
  readonly list: ClusterSpec[] = [];
  private readonly byName = new Map<string, number>();

  constructor(private readonly cat: Catalog) {}

  /** Cluster for a route destination written in `namespace`; -1 with a reason when unresolvable. */
  outbound(namespace: string, host: string, subset: string | null, port: number | null): ClusterRef {
    const r = resolveDestination(this.cat, namespace, host, subset, port);
    if (!r.ok) return { clusterId: -1, unresolved: r.reason };
    const name = `outbound|${r.port}|${subset ?? ''}|${r.key}`;
    const known = this.byName.get(name);
    if (known !== undefined) return { clusterId: known, unresolved: null };
    const endpoints = endpointsOf(this.cat, r);
    const { lb, pool, outlier } = r.policy;
    // Istio's shouldH2Upgrade: UPGRADE at the DestinationRule (or port) level upgrades whatever the
    // port says; useClientProtocol keeps each request's own protocol instead
    const http2 = !pool.useClientProtocol && (pool.h2Upgrade || isHttp2Protocol(servicePortProtocol(r)));
    const spec = {
      name, host: r.key, subset, port: r.port, lb: lb.simple, hash: lb.hash, warmupMs: lb.warmupMs, pool, outlier, endpoints, http2,
      clientProtocol: pool.useClientProtocol,
    };
    return { clusterId: this.add(spec), unresolved: null };
  }

  /** `inbound|<port>||` forwarding to the Sidecar ingress defaultEndpoint. */
  inbound(l: PlannedListener): number {
    const ep = l.defaultEndpoint;
    if (ep === null) return -1;
    const address = LOCAL[ep.address] ?? ep.address;
    return this.add({
      name: `inbound|${l.port}||`,
      host: address,
      subset: null,
      port: l.port,
      lb: 'ROUND_ROBIN',
      hash: null,
      warmupMs: 0,
      pool: DEFAULT_POOL,
      outlier: null,
      endpoints: [{ address, port: ep.port, labels: {}, weight: 1, source: l.origin ?? '', slot: -1, serviceAccount: null }],
      // an HTTP2/GRPC ingress port reaches the app over HTTP/2 (h2c), as Istio's inbound cluster does
      http2: isHttp2Protocol(l.protocol),
    });
  }

  private add(c: Omit<ClusterSpec, 'id' | 'slot' | 'tls' | 'autoMtls'>): number {
    const id = this.list.length;
    this.list.push({ id, ...c, slot: -1, tls: clusterTls(this.cat, c), autoMtls: autoMtls(this.cat, c) });
    this.byName.set(c.name, id);
    return id;
  }
}

/** The protocol of the destination's ServiceEntry port (the first entry declaring it); null when none says. */
function servicePortProtocol(r: Resolved): string | null {
  for (const se of r.entries) {
    const p = se.model.ports.find((x) => x.number === r.port);
    if (p !== undefined) return portProtocol(p.protocol, p.name);
  }
  return null;
}
