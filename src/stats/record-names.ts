// Control thread: what a stats record's numbers name. A record carries its configuration
// generation, listener and cluster by index and its peer and Host by an id in its worker's string
// table; RecordNames turns them into the destination (direction, service) and the connection
// (that destination seen from one peer, with its Istio labels), once per distinct value: later
// records of the same kind are array and map look-ups.
import type { Snapshot } from '../config/snapshot.js';
import { decodePeer } from '../telemetry/peer-key.js';
import { selectedService } from '../telemetry/services.js';
import { emptyWorkload, workloadLabels, type WorkloadLabels, type WorkloadMeta } from '../telemetry/workload.js';
import { connectionLabels, serviceShortName, type PeerLabels, type ServiceLabels } from './labels.js';
import { DIRECTION_INBOUND } from './ring.js';
import type { Series, StatsDirection } from './series.js';
import type { StringTableReader } from './strings.js';

/** One (reporter, service, peer): its labels and its series by outcome (protocol, status, flags). */
export class Connection {
  readonly series = new Map<number, Series>();
  constructor(readonly direction: StatsDirection, readonly labels: ReturnType<typeof connectionLabels>) {}
}

/** A (direction, service) destination and its connections by peer. */
class Destination {
  readonly byPeer = new Map<PeerLabels | null, Connection>();
  constructor(readonly direction: StatsDirection, readonly service: ServiceLabels) {}
}

/** Per registered generation: destinations resolved so far, by clusterId + 1 (outbound) / listener index (inbound). */
interface GenerationEntry {
  readonly snapshot: Snapshot;
  readonly outbound: (Destination | undefined)[];
  readonly inbound: (InboundEntry | undefined)[];
  /** the service selecting this workload (inbound destination_service); null: none does */
  readonly inboundService: ServiceLabels | null;
}

/** An inbound destination resolved per generation: by listener, and by Host when no service selects the workload. */
interface InboundEntry {
  readonly fixed: Destination | null;
  readonly byHost: Map<string, Destination>;
}

/** One worker's string table and what was decoded from it, by string id. */
export class RingStrings {
  readonly peers: (PeerLabels | null | undefined)[] = [];
  readonly hosts: (string | undefined)[] = [];
  constructor(readonly table: StringTableReader) {}
}

export class RecordNames {
  private readonly generations = new Map<number, GenerationEntry>();
  private readonly destinations = new Map<string, Destination>();
  /** peers by their interned text, shared by every ring (one object per distinct peer) */
  private readonly peerObjects = new Map<string, PeerLabels>();
  private self: WorkloadMeta = emptyWorkload();
  private selfLabels: WorkloadLabels = workloadLabels(emptyWorkload());
  private selfPrincipal = '';
  private lastGenNo = -1;
  private lastGen: GenerationEntry | undefined = undefined;
  private _unresolved = 0;

  constructor(private readonly keepGenerations: number) {}

  /** This sidecar's workload and SPIFFE id (the reporter's side of every label set). */
  setWorkload(workload: WorkloadMeta, principal: string): void {
    this.self = workload;
    this.selfLabels = workloadLabels(workload);
    this.selfPrincipal = principal;
    for (const g of [...this.generations.values()]) this.register(g.snapshot);
  }

  /** Makes `snapshot`'s ids resolvable; the oldest generation beyond keepGenerations is forgotten. */
  register(snapshot: Snapshot): void {
    this.generations.delete(snapshot.generation);
    const service = selectedService(snapshot, this.self);
    this.generations.set(snapshot.generation, {
      snapshot, outbound: [], inbound: [], inboundService: service === null ? null : { host: service, name: serviceShortName(service) },
    });
    while (this.generations.size > this.keepGenerations) {
      let oldest = Infinity;
      for (const g of this.generations.keys()) if (g < oldest) oldest = g;
      this.generations.delete(oldest);
    }
    this.lastGenNo = -1;
    this.lastGen = undefined;
  }

  /** Generations currently resolvable, ascending. */
  get generationsKept(): number[] {
    return [...this.generations.keys()].sort((a, b) => a - b);
  }

  /** Records whose generation was not (or no longer) registered: counted under service 'unknown'. */
  get unresolved(): number {
    return this._unresolved;
  }

  /** Forgets every connection's series (the aggregator's reset) and the unresolved count. */
  clearSeries(): void {
    for (const d of this.destinations.values()) for (const c of d.byPeer.values()) c.series.clear();
    this._unresolved = 0;
  }

  /** The connection a record belongs to: its destination seen from its peer. */
  connection(generation: number, direction: number, listener: number, cluster: number, hostId: number, peerId: number, strings: RingStrings | null): Connection {
    const dest = this.resolve(generation, direction, listener, cluster, hostId, strings);
    const peer = this.peer(peerId, strings);
    return dest.byPeer.get(peer) ?? this.newConnection(dest, peer);
  }

  private resolve(generation: number, direction: number, listener: number, cluster: number, hostId: number, strings: RingStrings | null): Destination {
    let gen = this.lastGen;
    if (generation !== this.lastGenNo) {
      gen = this.generations.get(generation);
      this.lastGen = gen;
      this.lastGenNo = generation;
    }
    const inbound = direction === DIRECTION_INBOUND;
    if (gen === undefined) {
      this._unresolved++;
      return this.destination(inbound ? 'inbound' : 'outbound', { host: '', name: '' });
    }
    if (inbound) return this.resolveInbound(gen, listener, hostId, strings);
    const slot = cluster + 1;
    const cached = gen.outbound[slot];
    if (cached !== undefined) return cached;
    const c = Number.isInteger(cluster) ? gen.snapshot.clusters[cluster] : undefined;
    // the cluster's service (Istio: the cluster's metadata, a ServiceEntry host)
    const dest = this.destination('outbound', c === undefined ? { host: '', name: '' } : { host: c.host, name: serviceShortName(c.host) });
    if (Number.isInteger(slot) && slot >= 0 && slot < 1 << 20) gen.outbound[slot] = dest;
    return dest;
  }

  /** The service selecting this workload; without one, the request's Host (Istio's fallback). */
  private resolveInbound(gen: GenerationEntry, listener: number, hostId: number, strings: RingStrings | null): Destination {
    const ok = Number.isInteger(listener) && listener >= 0 && listener < 1 << 16;
    let entry = ok ? gen.inbound[listener] : undefined;
    if (entry === undefined) {
      entry = { fixed: gen.inboundService === null ? null : this.destination('inbound', gen.inboundService), byHost: new Map() };
      if (ok) gen.inbound[listener] = entry;
    }
    if (entry.fixed !== null) return entry.fixed;
    const host = this.host(hostId, strings);
    let dest = entry.byHost.get(host);
    if (dest === undefined) {
      dest = this.destination('inbound', { host, name: host });
      entry.byHost.set(host, dest);
    }
    return dest;
  }

  private destination(direction: StatsDirection, service: ServiceLabels): Destination {
    const id = `${direction}\n${service.host}\n${service.name}`;
    let d = this.destinations.get(id);
    if (d === undefined) {
      d = new Destination(direction, service);
      this.destinations.set(id, d);
    }
    return d;
  }

  /** The record's peer from its ring's string table; null when none (or not known). */
  private peer(id: number, strings: RingStrings | null): PeerLabels | null {
    if (id < 0 || strings === null) return null;
    const cached = strings.peers[id];
    if (cached !== undefined) return cached;
    const text = strings.table.get(id);
    if (text === null) return null;
    let p = this.peerObjects.get(text) ?? null;
    if (p === null) {
      p = decodePeer(text);
      if (p !== null) this.peerObjects.set(text, p);
    }
    if (id < 1 << 20) strings.peers[id] = p;
    return p;
  }

  private host(id: number, strings: RingStrings | null): string {
    if (id < 0 || strings === null) return '';
    const cached = strings.hosts[id];
    if (cached !== undefined) return cached;
    const text = strings.table.get(id);
    const host = text !== null && text.startsWith('H') ? text.slice(1) : '';
    if (text !== null && id < 1 << 20) strings.hosts[id] = host;
    return host;
  }

  private newConnection(dest: Destination, peer: PeerLabels | null): Connection {
    const server = dest.direction === 'inbound';
    const labels = connectionLabels({
      reporter: server ? 'destination' : 'source',
      self: this.selfLabels,
      selfPrincipal: this.selfPrincipal,
      peer: peer ?? { workload: null, principal: '' },
      service: dest.service,
      mtls: server ? (peer !== null && peer.principal !== '') : null,
    });
    const conn = new Connection(dest.direction, labels);
    dest.byPeer.set(peer, conn);
    return conn;
  }
}
