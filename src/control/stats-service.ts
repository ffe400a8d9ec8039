// Control-thread side of stats: one aggregator fed by every worker's ring, drained every 100 ms,
// with a new "last interval" every 10 s; renders Prometheus text and histogram reports.
import type { Snapshot } from '../config/snapshot.js';
import { StatsAggregator, type StatsView } from '../stats/aggregator.js';
import { histogramsReport, type HistogramsReport } from '../stats/histograms-report.js';
import { renderPrometheus } from '../stats/prometheus.js';

const DRAIN_EVERY_MS = 100;
const INTERVAL_MS = 10_000;

export interface StatsSources {
  workers(): number;
  generation(): number;
}

export class StatsService {
  readonly aggregator = new StatsAggregator();
  private readonly sources: StatsSources;
  private readonly drainTimer: NodeJS.Timeout;
  private readonly intervalTimer: NodeJS.Timeout;
  readonly sourceWorkload: string;

  constructor(sources: StatsSources, sourceWorkload = 'unknown') {
    this.sources = sources;
    this.sourceWorkload = sourceWorkload;
    this.drainTimer = setInterval(() => this.aggregator.drainAll(), DRAIN_EVERY_MS).unref();
    this.intervalTimer = setInterval(() => {
      this.aggregator.drainAll();
      this.aggregator.rotateInterval();
    }, INTERVAL_MS).unref();
  }

  registerSnapshot(snapshot: Snapshot): void {
    this.aggregator.registerSnapshot(snapshot);
  }

  addRing(workerId: number, ring: SharedArrayBuffer): void {
    this.aggregator.addRing(String(workerId), ring);
  }

  removeRing(workerId: number): void {
    this.aggregator.removeRing(String(workerId));
  }

  prometheus(): string {
    this.aggregator.drainAll();
    return renderPrometheus(this.aggregator, { workers: this.sources.workers(), configGeneration: this.sources.generation() }, { sourceWorkload: this.sourceWorkload });
  }

  histograms(view: StatsView, encode = true): HistogramsReport {
    this.aggregator.drainAll();
    return histogramsReport(this.aggregator, view, { encode });
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
