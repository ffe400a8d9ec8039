// The snapshot's cluster list, built on demand: one cluster per (host, subset, port) some route
// destination or mirror references (id = index), plus one inbound cluster per Sidecar ingress listener.
import type { Catalog } from '../catalog.js';
import type { PlannedListener } from '../listeners.js';
import { endpointsOf, resolveDestination } from '../resolve.js';
import type { ClusterSpec } from '../snapshot.js';
import { DEFAULT_POOL } from '../traffic-policy.js';
import { autoMtls, clusterTls } from './cluster-tls.js';

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
    const spec = { name, host: r.key, subset, port: r.port, lb: lb.simple, hash: lb.hash, warmupMs: lb.warmupMs, pool, outlier, endpoints };
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
    });
  }

  private add(c: Omit<ClusterSpec, 'id' | 'slot' | 'tls' | 'autoMtls'>): number {
    const id = this.list.length;
    this.list.push({ id, ...c, slot: -1, tls: clusterTls(this.cat, c), autoMtls: autoMtls(this.cat, c) });
    this.byName.set(c.name, id);
    return id;
  }
}
