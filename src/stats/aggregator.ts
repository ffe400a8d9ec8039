// Control thread: drains every worker's stats ring and folds the records into per-series counters
// and HDR histograms (a series: Istio's standard labels — the reporter, both workloads, the service,
// the response), as a cumulative view and an interval view (since the last rotateInterval()).
// A record names its generation, listener and cluster by number and its peer by an id in its
// worker's string table: names are resolved here, once per distinct value.
import type { Snapshot } from '../config/snapshot.js';
import { decodePeer } from '../telemetry/peer-key.js';
import { selectedService } from '../telemetry/services.js';
import { emptyWorkload, workloadLabels, type WorkloadLabels, type WorkloadMeta } from '../telemetry/workload.js';
import { BYTES_BOUNDS, bucketIndex, DURATION_BOUNDS_US } from './buckets.js';
import { ConnectionTable, type ConnectionStats } from './connections.js';
import { newHistogram, type CountBits, type Histogram } from './hdr.js';
import { FLAG_LIMIT, flagNames } from './flags.js';
import { connectionLabels, istioLabels, serviceShortName, type IstioLabels, type PeerLabels, type ServiceLabels } from './labels.js';
import {
  DIRECTION_INBOUND, F_BYTES_IN, F_BYTES_OUT, F_CLUSTER, F_DIRECTION, F_FLAG, F_GENERATION, F_HOST, F_KIND, F_LISTENER, F_PEER, F_PROTOCOL, F_STATUS,
  F_REQUEST_MESSAGES, F_RESPONSE_MESSAGES, F_TOTAL_US, F_UPSTREAM_US, KIND_REQUEST, PROTOCOL_GRPC, RingReader,
} from './ring.js';
import { StringTableReader } from './strings.js';

export type StatsDirection = 'outbound' | 'inbound';
export type StatsView = 'cumulative' | 'interval';
export type HistogramKind = 'duration' | 'overhead' | 'requestBytes' | 'responseBytes';

/** The labels of one series. */
export interface SeriesKey {
  readonly direction: StatsDirection;
  /** outbound: the cluster's host; inbound: the listener's name; 'unknown' when unresolved */
  readonly service: string;
  /** the cluster's subset, or 'unknown' */
  readonly version: string;
  readonly responseCode: number;
  /** flag name, '-' for none */
  readonly responseFlags: string;
  /** every Istio label of the series (src/stats/labels.ts) */
  readonly labels?: IstioLabels;
}

/** One series in one view. Histograms are in µs (durations) and bytes. */
export interface SeriesStats {
  readonly key: SeriesKey;
  readonly requests: number;
  readonly requestBytesSum: number;
  readonly responseBytesSum: number;
  readonly durationSumUs: number;
  /** gRPC messages received from / sent to the client (0 for other requests) */
  readonly requestMessages: number;
  readonly responseMessages: number;
  /** records that had an upstream time (overhead histogram's count) */
  readonly overheadCount: number;
  readonly overheadSumUs: number;
  /** per-bucket (not cumulative) exact counts against DURATION_BUCKETS_US; last = above all */
  readonly durationBuckets: Float64Array;
  /** per-bucket exact counts against BYTES_BUCKETS; last = above all */
  readonly requestBytesBuckets: Float64Array;
  readonly responseBytesBuckets: Float64Array;
  /** Valid only inside the forEachSeries callback: do not keep, record into or destroy it. */
  histogram(kind: HistogramKind): Histogram;
}

/** HDR percentiles of one (reporter, service) over the last completed interval, in ms. */
export interface IntervalPercentiles {
  readonly direction: StatsDirection;
  readonly service: string;
  readonly requests: number;
  /** [p50, p90, p99, p99.9, max] of the request duration */
  readonly duration: readonly number[];
  /** the same of meshlet's overhead (duration − upstream time); null when no request had an upstream */
  readonly overhead: readonly number[] | null;
}

/** The quantiles of IntervalPercentiles, as Prometheus labels. */
export const INTERVAL_QUANTILES = ['0.5', '0.9', '0.99', '0.999', '1'] as const;
const PERCENTILES = [50, 90, 99, 99.9] as const;

export interface AggregatorOptions {
  /** generations of snapshots kept for resolving records (default 4) */
  keepGenerations?: number;
  /** durations are clamped to this many µs (default 3.6e9, one hour) */
  maxDurationUs?: number;
}

const MAX_BYTES = 2 ** 50;
/** A 32-bit-count interval window is folded into the cumulative one before a count could overflow. */
const FOLD_AT = 2 ** 30;

type HistogramFactory = (bits: CountBits) => Histogram;

class Window implements SeriesStats {
  requests = 0;
  requestBytesSum = 0;
  responseBytesSum = 0;
  durationSumUs = 0;
  requestMessages = 0;
  responseMessages = 0;
  overheadCount = 0;
  overheadSumUs = 0;
  readonly durationBuckets = new Float64Array(DURATION_BOUNDS_US.length + 1);
  readonly requestBytesBuckets = new Float64Array(BYTES_BOUNDS.length + 1);
  readonly responseBytesBuckets = new Float64Array(BYTES_BOUNDS.length + 1);
  readonly duration: Histogram;
  readonly overhead: Histogram;
  readonly requestBytes: Histogram;
  readonly responseBytes: Histogram;

  constructor(readonly key: SeriesKey, make: HistogramFactory, bits: CountBits) {
    this.duration = make(bits);
    this.overhead = make(bits);
    this.requestBytes = make(bits);
    this.responseBytes = make(bits);
  }

  histogram(kind: HistogramKind): Histogram {
    return this[kind];
  }

  /** Values are already clamped, non-negative integers; overheadUs < 0 = no upstream. */
  record(totalUs: number, overheadUs: number, bytesIn: number, bytesOut: number, messagesIn: number, messagesOut: number): void {
    this.requests++;
    this.requestMessages += messagesIn;
    this.responseMessages += messagesOut;
    this.durationSumUs += totalUs;
    this.requestBytesSum += bytesIn;
    this.responseBytesSum += bytesOut;
    const d = bucketIndex(DURATION_BOUNDS_US, totalUs);
    this.durationBuckets[d] = (this.durationBuckets[d] as number) + 1;
    const i = bucketIndex(BYTES_BOUNDS, bytesIn);
    this.requestBytesBuckets[i] = (this.requestBytesBuckets[i] as number) + 1;
    const o = bucketIndex(BYTES_BOUNDS, bytesOut);
    this.responseBytesBuckets[o] = (this.responseBytesBuckets[o] as number) + 1;
    this.duration.recordValue(totalUs);
    this.requestBytes.recordValue(bytesIn);
    this.responseBytes.recordValue(bytesOut);
    if (overheadUs >= 0) {
      this.overheadCount++;
      this.overheadSumUs += overheadUs;
      this.overhead.recordValue(overheadUs);
    }
  }

  /** Adds `other`'s numbers and histograms into this window. */
  addFrom(other: Window): void {
    this.requests += other.requests;
    this.requestMessages += other.requestMessages;
    this.responseMessages += other.responseMessages;
    this.requestBytesSum += other.requestBytesSum;
    this.responseBytesSum += other.responseBytesSum;
    this.durationSumUs += other.durationSumUs;
    this.overheadCount += other.overheadCount;
    this.overheadSumUs += other.overheadSumUs;
    addInto(this.durationBuckets, other.durationBuckets);
    addInto(this.requestBytesBuckets, other.requestBytesBuckets);
    addInto(this.responseBytesBuckets, other.responseBytesBuckets);
    if (other.duration.totalCount > 0) this.duration.add(other.duration);
    if (other.overhead.totalCount > 0) this.overhead.add(other.overhead);
    if (other.requestBytes.totalCount > 0) this.requestBytes.add(other.requestBytes);
    if (other.responseBytes.totalCount > 0) this.responseBytes.add(other.responseBytes);
  }

  clear(): void {
    this.requests = 0;
    this.requestMessages = 0;
    this.responseMessages = 0;
    this.requestBytesSum = 0;
    this.responseBytesSum = 0;
    this.durationSumUs = 0;
    this.overheadCount = 0;
    this.overheadSumUs = 0;
    this.durationBuckets.fill(0);
    this.requestBytesBuckets.fill(0);
    this.responseBytesBuckets.fill(0);
    this.duration.reset();
    this.overhead.reset();
    this.requestBytes.reset();
    this.responseBytes.reset();
  }

  destroy(): void {
    this.duration.destroy();
    this.overhead.destroy();
    this.requestBytes.destroy();
    this.responseBytes.destroy();
  }
}

function addInto(target: Float64Array, source: Float64Array): void {
  for (let i = 0; i < target.length; i++) target[i] = (target[i] as number) + (source[i] as number);
}

/** Cumulative view of a series that has completed intervals: closed + current, merged on demand. */
class MergedStats implements SeriesStats {
  readonly key: SeriesKey;
  readonly requests: number;
  readonly requestBytesSum: number;
  readonly responseBytesSum: number;
  readonly durationSumUs: number;
  readonly requestMessages: number;
  readonly responseMessages: number;
  readonly overheadCount: number;
  readonly overheadSumUs: number;
  readonly durationBuckets: Float64Array;
  readonly requestBytesBuckets: Float64Array;
  readonly responseBytesBuckets: Float64Array;
  private temps: Histogram[] = [];
  private readonly cache = new Map<HistogramKind, Histogram>();

  constructor(private readonly closed: Window, private readonly current: Window, private readonly make: HistogramFactory) {
    this.key = closed.key;
    this.requests = closed.requests + current.requests;
    this.requestBytesSum = closed.requestBytesSum + current.requestBytesSum;
    this.responseBytesSum = closed.responseBytesSum + current.responseBytesSum;
    this.durationSumUs = closed.durationSumUs + current.durationSumUs;
    this.requestMessages = closed.requestMessages + current.requestMessages;
    this.responseMessages = closed.responseMessages + current.responseMessages;
    this.overheadCount = closed.overheadCount + current.overheadCount;
    this.overheadSumUs = closed.overheadSumUs + current.overheadSumUs;
    this.durationBuckets = closed.durationBuckets.slice();
    addInto(this.durationBuckets, current.durationBuckets);
    this.requestBytesBuckets = closed.requestBytesBuckets.slice();
    addInto(this.requestBytesBuckets, current.requestBytesBuckets);
    this.responseBytesBuckets = closed.responseBytesBuckets.slice();
    addInto(this.responseBytesBuckets, current.responseBytesBuckets);
  }

  histogram(kind: HistogramKind): Histogram {
    const cur = this.current[kind];
    if (cur.totalCount === 0) return this.closed[kind];
    let merged = this.cache.get(kind);
    if (merged === undefined) {
      merged = this.make(64);
      this.temps.push(merged);
      this.cache.set(kind, merged);
      merged.add(this.closed[kind]);
      merged.add(cur);
    }
    return merged;
  }

  release(): void {
    for (const h of this.temps) h.destroy();
    this.temps = [];
    this.cache.clear();
  }
}

class Series {
  /** sum of completed intervals; null until the first rotate with data */
  closed: Window | null = null;
  readonly current: Window;
  constructor(readonly key: SeriesKey, make: HistogramFactory) {
    this.current = new Window(key, make, 32);
  }
}

/** One (reporter, service, peer): its labels and its series by outcome (protocol, status, flags). */
class Connection {
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

interface RingEntry {
  readonly id: string;
  readonly reader: RingReader;
  /** the worker's string table (peer keys, hosts); null: its records carry no peer */
  readonly strings: StringTableReader | null;
  /** decoded peers and hosts by string id */
  readonly peers: (PeerLabels | null | undefined)[];
  readonly hosts: (string | undefined)[];
  retiring: boolean;
}

/** An inbound destination resolved per generation: by listener, and by Host when no service selects the workload. */
interface InboundEntry {
  readonly fixed: Destination | null;
  readonly byHost: Map<string, Destination>;
}

export class StatsAggregator {
  private readonly keepGenerations: number;
  private readonly maxDurationUs: number;
  private readonly make: HistogramFactory;
  private readonly generations = new Map<number, GenerationEntry>();
  private readonly destinations = new Map<string, Destination>();
  /** peers by their interned text, shared by every ring (one object per distinct peer) */
  private readonly peerObjects = new Map<string, PeerLabels>();
  private self: WorkloadMeta = emptyWorkload();
  private selfLabels: WorkloadLabels = workloadLabels(emptyWorkload());
  private selfPrincipal = '';
  /** the ring being drained (its string table resolves the records' peers) */
  private draining: RingEntry | null = null;
  /** every series, in creation order */
  private series: Series[] = [];
  private rings: RingEntry[] = [];
  private droppedByForgottenRings = 0;
  private stringsRefusedByForgottenRings = 0;
  private lastGenNo = -1;
  private lastGen: GenerationEntry | undefined = undefined;
  private _recordsDrained = 0;
  private _unresolved = 0;
  private _intervalStartMs = Date.now();
  private _lastInterval: IntervalPercentiles[] = [];
  private _cumulativeStartMs = Date.now();
  /** connection records (TCP proxying, WebSockets): istio_tcp_* */
  private readonly connections = new ConnectionTable();

  constructor(options: AggregatorOptions = {}) {
    this.keepGenerations = Math.max(1, options.keepGenerations ?? 4);
    this.maxDurationUs = options.maxDurationUs ?? 3.6e9;
    this.make = newHistogram;
  }

  // ---- this workload ----

  /**
   * This sidecar's workload and SPIFFE id (the reporter's side of every label set). Call before any
   * record is drained: series already made keep the labels they were made with.
   */
  setWorkload(workload: WorkloadMeta, principal: string): void {
    this.self = workload;
    this.selfLabels = workloadLabels(workload);
    this.selfPrincipal = principal;
    for (const g of this.generations.values()) this.registerSnapshot(g.snapshot);
  }

  // ---- configuration generations ----

  /**
   * Makes `snapshot`'s ids resolvable. Call before the workers can write records of it. The rings
   * are drained first: records of a generation about to be forgotten (reloads in quick succession)
   * are resolved while it is still known.
   */
  registerSnapshot(snapshot: Snapshot): void {
    this.drainAll();
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

  // ---- rings ----

  /** Adds a worker's ring (and string table). A ring already registered under `id` is retired (drained once more, then forgotten). */
  addRing(id: string, sab: SharedArrayBuffer, strings: SharedArrayBuffer | null = null): void {
    for (const r of this.rings) if (r.id === id) r.retiring = true;
    this.rings.push({ id, reader: new RingReader(sab), strings: strings === null ? null : new StringTableReader(strings), peers: [], hosts: [], retiring: false });
  }

  /** The worker behind `id` is gone: its ring is drained once more by the next drainAll(), then forgotten. */
  removeRing(id: string): void {
    for (const r of this.rings) if (r.id === id) r.retiring = true;
  }

  /** Rings held (including retiring ones not yet drained). */
  get ringCount(): number {
    return this.rings.length;
  }

  /** Reads every ring; returns the number of records read. */
  drainAll(): number {
    let n = 0;
    let retired = false;
    for (const r of this.rings) {
      this.draining = r;
      n += r.reader.drain(this.visit);
      if (r.retiring) {
        n += r.reader.drain(this.visit);
        this.droppedByForgottenRings += r.reader.dropped;
        this.stringsRefusedByForgottenRings += r.strings?.refused ?? 0;
        retired = true;
      }
    }
    this.draining = null;
    if (retired) this.rings = this.rings.filter((r) => !r.retiring);
    this._recordsDrained += n;
    return n;
  }

  /** Records lost because a ring was full: all rings, including forgotten ones. */
  get droppedTotal(): number {
    let n = this.droppedByForgottenRings;
    for (const r of this.rings) n += r.reader.dropped;
    return n;
  }

  /** Peers and hosts a worker could not intern (its string table was full): their labels read "unknown". */
  get stringsRefused(): number {
    let n = this.stringsRefusedByForgottenRings;
    for (const r of this.rings) n += r.strings?.refused ?? 0;
    return n;
  }

  /** Records read since the aggregator was created (not cleared by reset()). */
  get recordsDrained(): number {
    return this._recordsDrained;
  }

  /** Records whose generation was not (or no longer) registered: counted under service 'unknown'. */
  get unresolvedRecords(): number {
    return this._unresolved;
  }

  // ---- recording ----

  private readonly visit = (f: Float64Array, o: number): void => {
    const dest = this.resolve(f[o + F_GENERATION] as number, f[o + F_DIRECTION] as number, f[o + F_LISTENER] as number, f[o + F_CLUSTER] as number, f[o + F_HOST] as number);
    const peer = this.peer(f[o + F_PEER] as number);
    let conn = dest.byPeer.get(peer);
    if (conn === undefined) conn = this.newConnection(dest, peer);
    const kind = f[o + F_KIND] as number;
    if (kind !== KIND_REQUEST) {
      this.connections.record(conn, kind, f[o + F_STATUS] as number, f[o + F_FLAG] as number,
        clampBytes(f[o + F_BYTES_IN] as number), clampBytes(f[o + F_BYTES_OUT] as number));
      return;
    }
    const status = f[o + F_STATUS] as number;
    const flag = f[o + F_FLAG] as number;
    const protocol = f[o + F_PROTOCOL] as number;
    const outcome = (protocol * 1000 + status) * FLAG_LIMIT + flag;
    let series = conn.series.get(outcome);
    if (series === undefined) series = this.newSeries(conn, outcome, protocol, status, flag);
    let totalUs = Math.round(f[o + F_TOTAL_US] as number);
    if (!(totalUs >= 0)) totalUs = 0;
    else if (totalUs > this.maxDurationUs) totalUs = this.maxDurationUs;
    const upstreamUs = f[o + F_UPSTREAM_US] as number;
    let overheadUs = -1;
    if (upstreamUs >= 0) {
      overheadUs = totalUs - Math.round(upstreamUs);
      if (overheadUs < 0) overheadUs = 0;
    }
    const w = series.current;
    w.record(totalUs, overheadUs, clampBytes(f[o + F_BYTES_IN] as number), clampBytes(f[o + F_BYTES_OUT] as number),
      clampBytes(f[o + F_REQUEST_MESSAGES] as number), clampBytes(f[o + F_RESPONSE_MESSAGES] as number));
    if (w.requests >= FOLD_AT) this.fold(series);
  };

  private resolve(generation: number, direction: number, listener: number, cluster: number, hostId: number): Destination {
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
    if (inbound) return this.resolveInbound(gen, listener, hostId);
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
  private resolveInbound(gen: GenerationEntry, listener: number, hostId: number): Destination {
    const ok = Number.isInteger(listener) && listener >= 0 && listener < 1 << 16;
    let entry = ok ? gen.inbound[listener] : undefined;
    if (entry === undefined) {
      entry = { fixed: gen.inboundService === null ? null : this.destination('inbound', gen.inboundService), byHost: new Map() };
      if (ok) gen.inbound[listener] = entry;
    }
    if (entry.fixed !== null) return entry.fixed;
    const host = this.host(hostId);
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

  /** The record's peer from the draining ring's string table; null when none (or not known). */
  private peer(id: number): PeerLabels | null {
    const ring = this.draining;
    if (id < 0 || ring === null || ring.strings === null) return null;
    const cached = ring.peers[id];
    if (cached !== undefined) return cached;
    const text = ring.strings.get(id);
    if (text === null) return null;
    let p = this.peerObjects.get(text) ?? null;
    if (p === null) {
      p = decodePeer(text);
      if (p !== null) this.peerObjects.set(text, p);
    }
    if (id < 1 << 20) ring.peers[id] = p;
    return p;
  }

  private host(id: number): string {
    const ring = this.draining;
    if (id < 0 || ring === null || ring.strings === null) return '';
    const cached = ring.hosts[id];
    if (cached !== undefined) return cached;
    const text = ring.strings.get(id);
    const host = text !== null && text.startsWith('H') ? text.slice(1) : '';
    if (text !== null && id < 1 << 20) ring.hosts[id] = host;
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

  private newSeries(conn: Connection, outcome: number, protocol: number, status: number, flag: number): Series {
    const responseFlags = flagNames(flag);
    const grpc = protocol >= PROTOCOL_GRPC;
    const labels = istioLabels(conn.labels, grpc ? 'grpc' : 'http', status, grpc ? protocol - PROTOCOL_GRPC - 1 : -1, responseFlags);
    const key: SeriesKey = {
      direction: conn.direction,
      service: labels.destination_service,
      version: labels.destination_version,
      responseCode: status,
      responseFlags,
      labels,
    };
    const s = new Series(key, this.make);
    conn.series.set(outcome, s);
    this.series.push(s);
    return s;
  }

  private fold(s: Series): void {
    if (s.current.requests === 0) return;
    if (s.closed === null) s.closed = new Window(s.key, this.make, 64);
    s.closed.addFrom(s.current);
    s.current.clear();
  }

  // ---- views ----

  /** Starts a new interval: the interval view is what was drained since the last call. */
  rotateInterval(): void {
    this._lastInterval = this.percentilesOfInterval();
    for (const s of this.series) this.fold(s);
    this._intervalStartMs = Date.now();
  }

  /** Percentiles per (reporter, service) of the interval the last rotateInterval() closed. */
  get lastInterval(): readonly IntervalPercentiles[] {
    return this._lastInterval;
  }

  /** The current interval's duration and overhead histograms merged per (direction, service), summarised. */
  private percentilesOfInterval(): IntervalPercentiles[] {
    const groups = new Map<string, { direction: StatsDirection; service: string; windows: Window[] }>();
    for (const s of this.series) {
      if (s.current.requests === 0) continue;
      const id = `${s.key.direction}\n${s.key.service}`;
      let g = groups.get(id);
      if (g === undefined) groups.set(id, (g = { direction: s.key.direction, service: s.key.service, windows: [] }));
      g.windows.push(s.current);
    }
    const out: IntervalPercentiles[] = [];
    const summary = (h: Histogram): number[] => [...PERCENTILES.map((p) => h.getValueAtPercentile(p) / 1000), h.maxValue / 1000];
    for (const g of groups.values()) {
      const duration = this.make(64);
      const overhead = this.make(64);
      let requests = 0;
      try {
        for (const w of g.windows) {
          requests += w.requests;
          duration.add(w.duration);
          if (w.overhead.totalCount > 0) overhead.add(w.overhead);
        }
        out.push({ direction: g.direction, service: g.service, requests, duration: summary(duration), overhead: overhead.totalCount === 0 ? null : summary(overhead) });
      } finally {
        duration.destroy();
        overhead.destroy();
      }
    }
    return out;
  }

  /** When the current interval (resp. the cumulative view) started, epoch ms. */
  get intervalStartMs(): number {
    return this._intervalStartMs;
  }
  get cumulativeStartMs(): number {
    return this._cumulativeStartMs;
  }

  /** Number of series (label sets) seen. */
  get seriesCount(): number {
    return this.series.length;
  }

  /**
   * Calls `visit` for every series with requests in `view`, in creation order. Cumulative
   * histograms of series with completed intervals are merged on demand and freed after `visit`.
   */
  forEachSeries(view: StatsView, visit: (s: SeriesStats) => void): void {
    for (const s of this.series) {
      const cur = s.current;
      if (view === 'interval' || s.closed === null) {
        if (cur.requests > 0) visit(cur);
        continue;
      }
      const merged = new MergedStats(s.closed, cur, this.make);
      try {
        visit(merged);
      } finally {
        merged.release();
      }
    }
  }

  /** Connection counters (istio_tcp_*), cumulative, sorted by key. */
  connectionSeries(): ConnectionStats[] {
    return this.connections.list();
  }

  /** Clears every series (counts, sums and histograms) and both views; ring state and recordsDrained stay. */
  reset(): void {
    this.connections.reset();
    for (const s of this.series) {
      s.current.destroy();
      s.closed?.destroy();
    }
    this.series = [];
    for (const d of this.destinations.values()) for (const c of d.byPeer.values()) c.series.clear();
    this._unresolved = 0;
    this._intervalStartMs = Date.now();
    this._cumulativeStartMs = this._intervalStartMs;
  }

  /** Frees the histograms (WebAssembly memory); the aggregator must not be used afterwards. */
  destroy(): void {
    this.reset();
    this.rings = [];
  }
}

function clampBytes(v: number): number {
  if (!(v > 0)) return 0;
  return v > MAX_BYTES ? MAX_BYTES : Math.round(v);
}

/** Orders series by direction, service, version, response code, flags (stable output). */
export function compareSeriesKeys(a: SeriesKey, b: SeriesKey): number {
  if (a.direction !== b.direction) return a.direction < b.direction ? -1 : 1;
  if (a.service !== b.service) return a.service < b.service ? -1 : 1;
  if (a.version !== b.version) return a.version < b.version ? -1 : 1;
  if (a.responseCode !== b.responseCode) return a.responseCode - b.responseCode;
  if (a.responseFlags !== b.responseFlags) return a.responseFlags < b.responseFlags ? -1 : 1;
  if (a.labels !== undefined && b.labels !== undefined) {
    for (const k in a.labels) {
      const x = a.labels[k as keyof IstioLabels];
      const y = b.labels[k as keyof IstioLabels];
      if (x !== y) return x < y ? -1 : 1;
    }
  }
  return 0;
}
