// Control thread: drains every worker's stats ring and folds the records into per-series counters
// and HDR histograms (a series: Istio's standard labels — the reporter, both workloads, the service,
// the response), as a cumulative view and an interval view (since the last rotateInterval()).
// What a record's numbers name is resolved by RecordNames (record-names.ts); what a series holds is
// in series.ts.
import type { Snapshot } from '../config/snapshot.js';
import type { WorkloadMeta } from '../telemetry/workload.js';
import { ConnectionTable, type ConnectionStats } from './connections.js';
import { newHistogram, type Histogram } from './hdr.js';
import { FLAG_LIMIT, flagNames } from './flags.js';
import { istioLabels } from './labels.js';
import {
  D_BYTES_IN, D_BYTES_OUT, F_CLUSTER, F_DIRECTION, F_FLAG, F_GENERATION, F_HOST, F_KIND, F_LISTENER, F_PEER, F_PROTOCOL, F_STATUS,
  F_REQUEST_MESSAGES, F_RESPONSE_MESSAGES, D_TOTAL_US, D_UPSTREAM_US, KIND_REQUEST, PROTOCOL_GRPC, RingReader,
} from './ring.js';
import { Connection, RecordNames, RingStrings } from './record-names.js';
import { MergedStats, Series, Window, type HistogramFactory, type SeriesKey, type SeriesStats, type StatsDirection, type StatsView } from './series.js';
import { StringTableReader } from './strings.js';

export type { HistogramKind, SeriesKey, SeriesStats, StatsDirection, StatsView } from './series.js';

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

interface RingEntry {
  readonly id: string;
  readonly reader: RingReader;
  /** the worker's string table (peer keys, hosts); null: its records carry no peer */
  readonly strings: RingStrings | null;
  retiring: boolean;
}

export class StatsAggregator {
  private readonly maxDurationUs: number;
  private readonly make: HistogramFactory;
  private readonly names: RecordNames;
  /** the string table of the ring being drained (it resolves the records' peers and hosts) */
  private draining: RingStrings | null = null;
  /** every series, in creation order */
  private series: Series[] = [];
  private rings: RingEntry[] = [];
  private droppedByForgottenRings = 0;
  private stringsRefusedByForgottenRings = 0;
  private _recordsDrained = 0;
  private _intervalStartMs = Date.now();
  private _lastInterval: IntervalPercentiles[] = [];
  private _cumulativeStartMs = Date.now();
  /** connection records (TCP proxying, WebSockets): istio_tcp_* */
  private readonly connections = new ConnectionTable();

  constructor(options: AggregatorOptions = {}) {
    this.names = new RecordNames(Math.max(1, options.keepGenerations ?? 4));
    this.maxDurationUs = options.maxDurationUs ?? 3.6e9;
    this.make = newHistogram;
  }

  // ---- this workload ----

  /**
   * This sidecar's workload and SPIFFE id (the reporter's side of every label set). Call before any
   * record is drained: series already made keep the labels they were made with.
   */
  setWorkload(workload: WorkloadMeta, principal: string): void {
    this.drainAll();
    this.names.setWorkload(workload, principal);
  }

  // ---- configuration generations ----

  /**
   * Makes `snapshot`'s ids resolvable. Call before the workers can write records of it. The rings
   * are drained first: records of a generation about to be forgotten (reloads in quick succession)
   * are resolved while it is still known.
   */
  registerSnapshot(snapshot: Snapshot): void {
    this.drainAll();
    this.names.register(snapshot);
  }

  /** Generations currently resolvable, ascending. */
  get generationsKept(): number[] {
    return this.names.generationsKept;
  }

  // ---- rings ----

  /** Adds a worker's ring (and string table). A ring already registered under `id` is retired (drained once more, then forgotten). */
  addRing(id: string, sab: SharedArrayBuffer, strings: SharedArrayBuffer | null = null): void {
    for (const r of this.rings) if (r.id === id) r.retiring = true;
    this.rings.push({ id, reader: new RingReader(sab), strings: strings === null ? null : new RingStrings(new StringTableReader(strings)), retiring: false });
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
      this.draining = r.strings;
      n += r.reader.drain(this.visit);
      if (r.retiring) {
        n += r.reader.drain(this.visit);
        this.droppedByForgottenRings += r.reader.dropped;
        this.stringsRefusedByForgottenRings += r.strings?.table.refused ?? 0;
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
    for (const r of this.rings) n += r.strings?.table.refused ?? 0;
    return n;
  }

  /** Records read since the aggregator was created (not cleared by reset()). */
  get recordsDrained(): number {
    return this._recordsDrained;
  }

  /** Records whose generation was not (or no longer) registered: counted under service 'unknown'. */
  get unresolvedRecords(): number {
    return this.names.unresolved;
  }

  // ---- recording ----

  private readonly visit = (i: Int32Array, o: number, f: Float64Array, d: number): void => {
    const conn = this.names.connection(i[o + F_GENERATION] as number, i[o + F_DIRECTION] as number, i[o + F_LISTENER] as number,
      i[o + F_CLUSTER] as number, i[o + F_HOST] as number, i[o + F_PEER] as number, this.draining);
    const kind = i[o + F_KIND] as number;
    if (kind !== KIND_REQUEST) {
      this.connections.record(conn, kind, i[o + F_STATUS] as number, i[o + F_FLAG] as number,
        clampBytes(f[d + D_BYTES_IN] as number), clampBytes(f[d + D_BYTES_OUT] as number));
      return;
    }
    const status = i[o + F_STATUS] as number;
    const flag = i[o + F_FLAG] as number;
    const protocol = i[o + F_PROTOCOL] as number;
    const outcome = (protocol * 1000 + status) * FLAG_LIMIT + flag;
    let series = conn.series.get(outcome);
    if (series === undefined) series = this.newSeries(conn, outcome, protocol, status, flag);
    let totalUs = Math.round(f[d + D_TOTAL_US] as number);
    if (!(totalUs >= 0)) totalUs = 0;
    else if (totalUs > this.maxDurationUs) totalUs = this.maxDurationUs;
    const upstreamUs = f[d + D_UPSTREAM_US] as number;
    let overheadUs = -1;
    if (upstreamUs >= 0) {
      overheadUs = totalUs - Math.round(upstreamUs);
      if (overheadUs < 0) overheadUs = 0;
    }
    const w = series.current;
    w.record(totalUs, overheadUs, clampBytes(f[d + D_BYTES_IN] as number), clampBytes(f[d + D_BYTES_OUT] as number),
      clampBytes(i[o + F_REQUEST_MESSAGES] as number), clampBytes(i[o + F_RESPONSE_MESSAGES] as number));
    if (w.requests >= FOLD_AT) this.fold(series);
  };

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
    this.names.clearSeries();
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
