// Small hand-made snapshots and a record writer for the stats tests.
import type { ClusterSpec, ListenerSpec, Snapshot } from '../../../src/config/snapshot.js';
import { DEFAULT_POOL } from '../../../src/config/traffic-policy.js';
import { DIRECTION_INBOUND, DIRECTION_OUTBOUND, type RingWriter } from '../../../src/stats/ring.js';
import { StringTableWriter } from '../../../src/stats/strings.js';
import { encodePeer } from '../../../src/telemetry/peer-key.js';
import { workloadLabels } from '../../../src/telemetry/workload.js';

export function cluster(id: number, host: string, subset: string | null, port = 9080): ClusterSpec {
  return { id, name: `outbound|${port}|${subset ?? ''}|${host}`, host, subset, port, lb: 'ROUND_ROBIN', hash: null, warmupMs: 0, pool: DEFAULT_POOL, outlier: null, endpoints: [], slot: -1, tls: null };
}

export function listener(name: string, direction: 'outbound' | 'inbound', port: number, inboundClusterId = -1): ListenerSpec {
  return { name, direction, bind: '0.0.0.0', port, protocol: 'HTTP', inboundClusterId, mtlsMode: direction === 'inbound' ? 'PERMISSIVE' : 'DISABLE', appendForwardedFor: false };
}

export function snapshot(generation: number, clusters: ClusterSpec[], listeners: ListenerSpec[]): Snapshot {
  return { generation, listeners, virtualHosts: [], clusters, authz: null };
}

export interface Rec {
  gen: number;
  inbound?: boolean;
  listener?: number;
  cluster?: number;
  status?: number;
  flag?: number;
  totalUs: number;
  upstreamUs?: number;
  bytesIn?: number;
  bytesOut?: number;
  /** the far end's id in the worker's string table (versionPeer) */
  peer?: number;
  host?: number;
}

/** The id of a peer workload with `version` (app `app`) in a worker's string table. */
export function versionPeer(strings: StringTableWriter, version: string, app = 'app', principal = ''): number {
  const w = workloadLabels({ name: `${app}-${version}`, namespace: 'shop', instance: '', labels: { app, version }, serviceAccount: '', cluster: 'Kubernetes' });
  return strings.intern(encodePeer(w, principal));
}

export function put(w: RingWriter, r: Rec): void {
  const ok = w.write(r.gen, r.inbound === true ? DIRECTION_INBOUND : DIRECTION_OUTBOUND, r.listener ?? 0, -1, r.cluster ?? -1, 0,
    r.status ?? 200, r.flag ?? 0, r.totalUs, r.upstreamUs ?? -1, r.bytesIn ?? 0, r.bytesOut ?? 0, r.peer ?? -1, r.host ?? -1);
  if (!ok) throw new Error('test ring full');
}
