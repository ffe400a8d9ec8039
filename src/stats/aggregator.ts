// Control thread: drains every worker's stats ring and folds the records into per-series counters
// and HDR histograms (Istio keys: direction, destination service/version, response code/flags,
// gRPC status),
// as a cumulative view and an interval view (since the last rotateInterval()).
import { build, initWebAssemblySync, type BitBucketSize, type Histogram } from 'hdr-histogram-js';
import type { Snapshot } from '../config/snapshot.js';
import { BYTES_BOUNDS, bucketIndex, DURATION_BOUNDS_US } from './buckets.js';
import { FLAG_LIMIT, flagNames } from './flags.js';
import {
  DIRECTION_INBOUND, F_BYTES_IN, F_BYTES_OUT, F_CLUSTER, F_DIRECTION, F_FLAG, F_GENERATION, F_GRPC_STATUS, F_LISTENER,
  F_REQUEST_MESSAGES, F_RESPONSE_MESSAGES, F_STATUS, F_TOTAL_US, F_UPSTREAM_US, RingReader,
} from './ring.js';

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
  /** gRPC requests: the status (0..16) or -1 without one; absent (or -2) for other requests */
  readonly grpcStatus?: number;
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

export interface AggregatorOptions {
  /** generations of snapshots kept for resolving records (default 4) */
  keepGenerations?: number;
  /** use hdr-histogram-js's WebAssembly histograms when they load (default true) */
  useWebAssembly?: boolean;
  /** durations are clamped to this many µs (default 3.6e9, one hour) */
  maxDurationUs?: number;
}

/** Histogram parameters: 3 significant digits, lowest 1, auto-resizing from a small start. */
const SIGNIFICANT_DIGITS = 3;
const INITIAL_HIGHEST = 1 << 16;
const MAX_BYTES = 2 ** 50;
/** Series outcomes: status × FLAG_LIMIT + flags, plus (gRPC status + 2) × this. */
const OUTCOME_GRPC = 1000 * FLAG_LIMIT;
/** A 32-bit-count interval window is folded into the cumulative one before a count could overflow. */
const FOLD_AT = 2 ** 30;
const UNKNOWN = 'unknown';

type HistogramFactory = (bits: BitBucketSize) => Histogram;

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

  constructor(readonly key: SeriesKey, make: HistogramFactory, bits: BitBucketSize) {
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

/** A (direction, service, version) destination and its series by outcome (status, flag). */
class Destination {
  readonly series = new Map<number, Series>();
  constructor(readonly direction: StatsDirection, readonly service: string, readonly version: string) {}
}

/** Per registered generation: destinations resolved so far, by clusterId + 1 (outbound) / listener index (inbound). */
interface GenerationEntry {
  readonly snapshot: Snapshot;
  readonly outbound: (Destination | undefined)[];
  readonly inbound: (Destination | undefined)[];
}

interface RingEntry {
  readonly id: string;
  readonly reader: RingReader;
  retiring: boolean;
}

/** hdr-histogram-js WebAssembly, loaded once per thread; false when it cannot load. */
let wasmState: boolean | null = null;
function wasmReady(): boolean {
  if (wasmState === null) {
    try {
      initWebAssemblySync();
      wasmState = true;
    } catch {
      wasmState = false;
    }
  }
  return wasmState;
}

export class StatsAggregator {
  /** true when histograms are WebAssembly ones */
  readonly webAssembly: boolean;
  private readonly keepGenerations: number;
  private readonly maxDurationUs: number;
  private readonly make: HistogramFactory;
  private readonly generations = new Map<number, GenerationEntry>();
  private readonly destinations = new Map<string, Destination>();
  /** every series, in creation order */
  private series: Series[] = [];
  private rings: RingEntry[] = [];
  private droppedByForgottenRings = 0;
  private lastGenNo = -1;
  private lastGen: GenerationEntry | undefined = undefined;
  private _recordsDrained = 0;
  private _unresolved = 0;
  private _intervalStartMs = Date.now();
  private _cumulativeStartMs = Date.now();

  constructor(options: AggregatorOptions = {}) {
    this.keepGenerations = Math.max(1, options.keepGenerations ?? 4);
    this.maxDurationUs = options.maxDurationUs ?? 3.6e9;
    this.webAssembly = (options.useWebAssembly ?? true) && wasmReady();
    const useWebAssembly = this.webAssembly;
    this.make = (bits) => build({
      useWebAssembly,
      bitBucketSize: bits,
      autoResize: true,
      lowestDiscernibleValue: 1,
      highestTrackableValue: INITIAL_HIGHEST,
      numberOfSignificantValueDigits: SIGNIFICANT_DIGITS,
    });
  }

  // ---- configuration generations ----

  /** Makes `snapshot`'s ids resolvable. Call before the workers can write records of it. */
  registerSnapshot(snapshot: Snapshot): void {
    this.generations.delete(snapshot.generation);
    this.generations.set(snapshot.generation, { snapshot, outbound: [], inbound: [] });
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

  /** Adds a worker's ring. A ring already registered under `id` is retired (drained once more, then forgotten). */
  addRing(id: string, sab: SharedArrayBuffer): void {
    for (const r of this.rings) if (r.id === id) r.retiring = true;
    this.rings.push({ id, reader: new RingReader(sab), retiring: false });
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
      n += r.reader.drain(this.visit);
      if (r.retiring) {
        n += r.reader.drain(this.visit);
        this.droppedByForgottenRings += r.reader.dropped;
        retired = true;
      }
    }
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
    const dest = this.resolve(f[o + F_GENERATION] as number, f[o + F_DIRECTION] as number, f[o + F_LISTENER] as number, f[o + F_CLUSTER] as number);
    const status = f[o + F_STATUS] as number;
    const flag = f[o + F_FLAG] as number;
    let grpc = f[o + F_GRPC_STATUS] as number;
    if (!(grpc >= -1 && grpc <= 16)) grpc = -2; // not gRPC (or a value no status can have)
    const outcome = (grpc + 2) * OUTCOME_GRPC + status * FLAG_LIMIT + flag;
    let series = dest.series.get(outcome);
    if (series === undefined) series = this.newSeries(dest, outcome, status, flag, grpc);
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

  private resolve(generation: number, direction: number, listener: number, cluster: number): Destination {
    let gen = this.lastGen;
    if (generation !== this.lastGenNo) {
      gen = this.generations.get(generation);
      this.lastGen = gen;
      this.lastGenNo = generation;
    }
    const inbound = direction === DIRECTION_INBOUND;
    if (gen === undefined) {
      this._unresolved++;
      return this.destination(inbound ? 'inbound' : 'outbound', UNKNOWN, UNKNOWN);
    }
    const cache = inbound ? gen.inbound : gen.outbound;
    const slot = inbound ? listener : cluster + 1;
    const cached = cache[slot];
    if (cached !== undefined) return cached;
    const snap = gen.snapshot;
    let dest: Destination;
    if (inbound) {
      const l = Number.isInteger(listener) ? snap.listeners[listener] : undefined;
      const c = l === undefined ? undefined : snap.clusters[l.inboundClusterId];
      dest = this.destination('inbound', l?.name ?? UNKNOWN, c?.subset ?? UNKNOWN);
    } else {
      const c = Number.isInteger(cluster) ? snap.clusters[cluster] : undefined;
      dest = this.destination('outbound', c?.host ?? UNKNOWN, c?.subset ?? UNKNOWN);
    }
    if (Number.isInteger(slot) && slot >= 0 && slot < 1 << 20) cache[slot] = dest;
    return dest;
  }

  private destination(direction: StatsDirection, service: string, version: string): Destination {
    const id = `${direction}\n${service}\n${version}`;
    let d = this.destinations.get(id);
    if (d === undefined) {
      d = new Destination(direction, service, version);
      this.destinations.set(id, d);
    }
    return d;
  }

  private newSeries(dest: Destination, outcome: number, status: number, flag: number, grpc: number): Series {
    const key: SeriesKey = {
      direction: dest.direction,
      service: dest.service,
      version: dest.version,
      responseCode: status,
      responseFlags: flagNames(flag),
      ...(grpc === -2 ? {} : { grpcStatus: grpc }),
    };
    const s = new Series(key, this.make);
    dest.series.set(outcome, s);
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
    for (const s of this.series) this.fold(s);
    this._intervalStartMs = Date.now();
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

  /** Clears every series (counts, sums and histograms) and both views; ring state and recordsDrained stay. */
  reset(): void {
    for (const s of this.series) {
      s.current.destroy();
      s.closed?.destroy();
    }
    this.series = [];
    for (const d of this.destinations.values()) d.series.clear();
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
  return (a.grpcStatus ?? -2) - (b.grpcStatus ?? -2);
}
