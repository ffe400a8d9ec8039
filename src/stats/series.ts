// One series of the stats: its labels (SeriesKey), the numbers and histograms of one view
// (Window: an interval, or the completed intervals folded together) and the cumulative view
// merged on demand (MergedStats). The aggregator (aggregator.ts) decides which series a record
// belongs to; this file owns what a series holds.
import { BYTES_BOUNDS, bucketIndex, DURATION_BOUNDS_US } from './buckets.js';
import type { CountBits, Histogram } from './hdr.js';
import type { IstioLabels } from './labels.js';

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

export type HistogramFactory = (bits: CountBits) => Histogram;

export class Window implements SeriesStats {
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
export class MergedStats implements SeriesStats {
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

export class Series {
  /** sum of completed intervals; null until the first rotate with data */
  closed: Window | null = null;
  readonly current: Window;
  constructor(readonly key: SeriesKey, make: HistogramFactory) {
    this.current = new Window(key, make, 32);
  }
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
