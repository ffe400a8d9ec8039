// Control-thread side of stats: one aggregator fed by every worker's ring, drained every 100 ms,
// with a new "last interval" every 10 s; renders Prometheus text, histogram reports and plots.
import type { Snapshot } from '../config/snapshot.js';
import type { GaugesReport, TraceCounts } from '../worker/protocol.js';
import type { HandshakeCounts } from '../tls/handshake-stats.js';
import { INTERVAL_QUANTILES, StatsAggregator, type IntervalPercentiles, type StatsView } from './aggregator.js';
import type { HistogramsReport } from './histograms-report.js';
import type { PlotGrouping } from './plot/lines.js';
import { renderPrometheus, type MeshletMetric } from './prometheus.js';
import type { MetricOverrideSpec } from './overrides.js';
import { effectiveTelemetry } from '../telemetry/policy.js';
import { AUDIT_FILTER } from '../filters/authz/audit.js';
import { emptyWorkload, type WorkloadMeta } from '../telemetry/workload.js';

const DRAIN_EVERY_MS = 100;
const INTERVAL_MS = 10_000;

export interface StatsSources {
  workers(): number;
  generation(): number;
  /** sidecar-wide upstream counters (limits, outlier ejection) as metric samples */
  upstream?(): MeshletMetric[];
}

/** Per-endpoint totals over every worker: in-flight requests and open upstream connections. */
export interface EndpointGauges {
  inflight: number;
  connections: number;
}

/**
 * meshlet's exact HDR percentiles per (reporter, service) over the last completed 10 s interval:
 * request duration and meshlet's own overhead (dashboards/meshlet-sidecar.json).
 */
function hdrMetrics(intervals: readonly IntervalPercentiles[]): MeshletMetric[] {
  const out: MeshletMetric[] = [];
  for (const p of intervals) {
    const labels = { reporter: p.direction === 'outbound' ? 'source' : 'destination', destination_service: p.service };
    INTERVAL_QUANTILES.forEach((quantile, i) => {
      out.push({ name: 'meshlet_request_duration_hdr_milliseconds', help: 'Request duration percentiles (HDR histogram, 3 significant digits) over the last 10 s interval', type: 'gauge', labels: { ...labels, quantile }, value: p.duration[i] as number });
    });
    if (p.overhead === null) continue;
    const overhead = p.overhead;
    INTERVAL_QUANTILES.forEach((quantile, i) => {
      out.push({ name: 'meshlet_proxy_overhead_hdr_milliseconds', help: 'Time meshlet adds to a request (duration minus upstream time), percentiles over the last 10 s interval', type: 'gauge', labels: { ...labels, quantile }, value: overhead[i] as number });
    });
  }
  return out;
}

export class StatsService {
  readonly aggregator = new StatsAggregator();
  private readonly gauges = new Map<number, GaugesReport>();
  private readonly sources: StatsSources;
  private readonly drainTimer: NodeJS.Timeout;
  private readonly intervalTimer: NodeJS.Timeout;
  /** span counts of workers that have exited (a respawned worker starts again from 0) */
  private readonly retiredTrace: TraceCounts = [0, 0];
  /** filter counts of workers that have exited, by `filter action` */
  private readonly retiredFilters = new Map<string, number>();
  /** TLS handshakes of workers that have exited */
  private readonly retiredTls: HandshakeCounts = [0, 0, 0, 0, 0];
  private tracing = false;
  /** Telemetry metric overrides in effect (set with each generation) */
  private overrides: readonly MetricOverrideSpec[] = [];
  private workload: WorkloadMeta | null = null;

  constructor(sources: StatsSources) {
    this.sources = sources;
    this.drainTimer = setInterval(() => this.aggregator.drainAll(), DRAIN_EVERY_MS).unref();
    this.intervalTimer = setInterval(() => {
      this.aggregator.drainAll();
      this.aggregator.rotateInterval();
    }, INTERVAL_MS).unref();
  }

  /** This sidecar's workload (null: not known) and SPIFFE id: the reporter's side of the labels. */
  setWorkload(workload: WorkloadMeta | null, principal: string): void {
    this.workload = workload;
    this.aggregator.setWorkload(workload ?? emptyWorkload(), principal);
  }

  /** A generation about to serve: its ids become resolvable, its Telemetry's metric overrides apply from now on. */
  registerSnapshot(snapshot: Snapshot): void {
    this.aggregator.registerSnapshot(snapshot);
    this.overrides = effectiveTelemetry(snapshot.telemetry, this.workload).metrics;
  }

  addRing(workerId: number, ring: SharedArrayBuffer, strings: SharedArrayBuffer | null = null): void {
    this.aggregator.addRing(String(workerId), ring, strings);
  }

  removeRing(workerId: number): void {
    this.aggregator.removeRing(String(workerId));
    const last = this.gauges.get(workerId);
    if (last !== undefined) {
      if (last.trace !== null) {
        this.retiredTrace[0] += last.trace[0];
        this.retiredTrace[1] += last.trace[1];
      }
      for (let i = 0; i < this.retiredTls.length; i++) this.retiredTls[i] = (this.retiredTls[i] as number) + (last.tls[i] ?? 0);
      for (const [filter, action, n] of last.filters) {
        const key = `${filter} ${action}`;
        this.retiredFilters.set(key, (this.retiredFilters.get(key) ?? 0) + n);
      }
    }
    this.gauges.delete(workerId);
  }

  setGauges(workerId: number, report: GaugesReport): void {
    this.gauges.set(workerId, report);
    if (report.trace !== null) this.tracing = true;
  }

  /** meshlet_http_filter_total: what the HTTP filters did, over every worker past and present. */
  private filterMetrics(): MeshletMetric[] {
    const totals = new Map(this.retiredFilters);
    for (const g of this.gauges.values()) {
      for (const [filter, action, n] of g.filters) totals.set(`${filter} ${action}`, (totals.get(`${filter} ${action}`) ?? 0) + n);
    }
    return [...totals].map(([key, value]): MeshletMetric => {
      const space = key.indexOf(' ');
      const filter = key.slice(0, space);
      const action = key.slice(space + 1);
      if (filter === AUDIT_FILTER) return { name: 'meshlet_authz_audit_total', help: 'Requests an AUDIT AuthorizationPolicy matched (by policy; the decision is not changed)', type: 'counter' as const, labels: { policy: action }, value };
      return { name: 'meshlet_http_filter_total', help: 'What the HTTP filters did (per filter and action)', type: 'counter' as const, labels: { filter, action }, value };
    });
  }

  /** TLS handshakes over every worker, past and present (as last reported: once a second). */
  handshakeCounts(): HandshakeCounts {
    const out: HandshakeCounts = [...this.retiredTls];
    for (const g of this.gauges.values()) for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) + (g.tls[i] ?? 0);
    return out;
  }

  /** meshlet_tls_handshakes_total{direction,resumed} and meshlet_tls_handshake_failures_total{direction="inbound"}. */
  private tlsMetrics(): MeshletMetric[] {
    const [inFull, inResumed, inFailed, outFull, outResumed] = this.handshakeCounts();
    const help = 'Mesh mTLS handshakes completed, full or resumed (session ticket)';
    const handshakes = (direction: string, resumed: string, value: number): MeshletMetric =>
      ({ name: 'meshlet_tls_handshakes_total', help, type: 'counter', labels: { direction, resumed }, value });
    return [
      handshakes('inbound', 'false', inFull), handshakes('inbound', 'true', inResumed),
      handshakes('outbound', 'false', outFull), handshakes('outbound', 'true', outResumed),
      { name: 'meshlet_tls_handshake_failures_total', help: 'Inbound mTLS handshakes that failed (no or an untrusted certificate, plaintext on STRICT, timeout)',
        type: 'counter', labels: { direction: 'inbound' }, value: inFailed },
    ];
  }

  /** Spans [exported, dropped] over every worker, past and present (as last reported: once a second). */
  traceCounts(): TraceCounts {
    const out: TraceCounts = [this.retiredTrace[0], this.retiredTrace[1]];
    for (const g of this.gauges.values()) {
      if (g.trace === null) continue;
      out[0] += g.trace[0];
      out[1] += g.trace[1];
    }
    return out;
  }

  /** Latest per-endpoint gauges summed over workers (each worker reports once a second). */
  endpointGauges(): Map<string, EndpointGauges> {
    const out = new Map<string, EndpointGauges>();
    for (const g of this.gauges.values()) {
      for (const [key, inflight, connections] of g.endpoints) {
        const e = out.get(key) ?? { inflight: 0, connections: 0 };
        e.inflight += inflight;
        e.connections += connections;
        out.set(key, e);
      }
    }
    return out;
  }

  prometheus(): string {
    this.aggregator.drainAll();
    let active = 0;
    for (const g of this.gauges.values()) active += g.inflight;
    const metrics: MeshletMetric[] = [{ name: 'meshlet_active_requests', help: 'Requests in flight in the data-plane workers', type: 'gauge', value: active }];
    for (const [endpoint, g] of this.endpointGauges()) {
      metrics.push({ name: 'meshlet_upstream_connections', help: 'Open upstream connections per endpoint (all workers)', type: 'gauge', labels: { endpoint }, value: g.connections });
      metrics.push({ name: 'meshlet_upstream_requests_active', help: 'Requests in flight per upstream endpoint (all workers)', type: 'gauge', labels: { endpoint }, value: g.inflight });
    }
    if (this.sources.upstream !== undefined) metrics.push(...this.sources.upstream());
    metrics.push(...this.filterMetrics());
    metrics.push(...this.tlsMetrics());
    if (this.tracing) {
      const [exported, dropped] = this.traceCounts();
      metrics.push({ name: 'meshlet_trace_spans_exported_total', help: 'Spans accepted by the trace collector', type: 'counter', value: exported });
      metrics.push({ name: 'meshlet_trace_spans_dropped_total', help: 'Spans lost: queue full, collector error or timeout', type: 'counter', value: dropped });
    }
    metrics.push({ name: 'meshlet_stats_peers_refused_total', help: 'Peers and hosts a worker could not intern (its string table was full): their labels read "unknown"', type: 'counter', value: this.aggregator.stringsRefused });
    metrics.push(...hdrMetrics(this.aggregator.lastInterval));
    return renderPrometheus(this.aggregator, { workers: this.sources.workers(), configGeneration: this.sources.generation(), metrics }, { overrides: this.overrides });
  }

  /** The report and its codec (the whole of hdr-histogram-js) are loaded on the first call. */
  async histograms(view: StatsView, encode = true): Promise<HistogramsReport> {
    const { histogramsReport } = await import('./histograms-report.js');
    this.aggregator.drainAll();
    return histogramsReport(this.aggregator, view, { encode });
  }

  /** The latency percentile plot (SVG), one line per route or series; computed on demand, its code loaded on the first call. */
  async plot(view: StatsView, by: PlotGrouping = 'route'): Promise<string> {
    const [{ LineBuilder }, { addAggregator, liveTitles }, { renderPlot }] = await Promise.all([
      import('./plot/lines.js'), import('./plot/sources.js'), import('./plot/svg.js'),
    ]);
    this.aggregator.drainAll();
    const b = new LineBuilder();
    addAggregator(b, this.aggregator, view, by);
    const start = view === 'interval' ? this.aggregator.intervalStartMs : this.aggregator.cumulativeStartMs;
    return renderPlot(b.finish(), liveTitles(view, start, Date.now()));
  }

  reset(): void {
    this.aggregator.drainAll();
    this.aggregator.reset();
  }

  /** Final drain (records already written are counted) and release of the histograms. */
  close(): void {
    clearInterval(this.drainTimer);
    clearInterval(this.intervalTimer);
    this.aggregator.drainAll();
  }
}
