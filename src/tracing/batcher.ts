// The worker's bounded span queue: spans are appended on the request path (a push and a length
// check); batches leave by size or after a maximum delay, asynchronously; beyond the bound, and on
// exporter errors or timeouts, spans are dropped and counted. Errors are logged at most every 10 s.
import { performance } from 'node:perf_hooks';
import type { Span, SpanSink } from './span.js';

export interface SpanExporter {
  /** for logs: where spans go */
  readonly target: string;
  /** Resolves once the collector accepted the batch; rejects on any failure (the batch is dropped). */
  export(spans: Span[]): Promise<void>;
  close(): void;
}

export interface BatcherOptions {
  maxBatch: number;
  maxQueue: number;
  delayMs: number;
  /** export requests in flight at once; more batches wait in the queue */
  maxConcurrent?: number;
}

export type ExportErrorLogger = (err: Error, dropped: number, suppressed: number) => void;

const LOG_EVERY_MS = 10_000;

export class SpanBatcher implements SpanSink {
  private queue: Span[] = [];
  exported = 0;
  dropped = 0;
  private inflight = 0;
  private readonly inflightDone = new Set<Promise<void>>();
  private readonly exporter: SpanExporter;
  private readonly maxBatch: number;
  private readonly maxQueue: number;
  private readonly maxConcurrent: number;
  private readonly timer: NodeJS.Timeout;
  private flushScheduled = false;
  private readonly flushBound: () => void;
  private readonly logError: ExportErrorLogger;
  private lastLog = -Infinity;
  private suppressed = 0;

  constructor(exporter: SpanExporter, options: BatcherOptions, logError: ExportErrorLogger) {
    this.exporter = exporter;
    this.maxBatch = options.maxBatch;
    this.maxQueue = options.maxQueue;
    this.maxConcurrent = options.maxConcurrent ?? 2;
    this.logError = logError;
    this.flushBound = () => {
      this.flushScheduled = false;
      this.flush();
    };
    this.timer = setInterval(this.flushBound, options.delayMs);
    this.timer.unref();
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Request path: O(1), no I/O; a full queue drops the span. */
  add(span: Span): void {
    const q = this.queue;
    if (q.length >= this.maxQueue) {
      this.dropped++;
      return;
    }
    q.push(span);
    if (q.length >= this.maxBatch && !this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushBound);
    }
  }

  /** Sends what is queued, up to maxConcurrent requests at once. */
  flush(): void {
    while (this.queue.length > 0 && this.inflight < this.maxConcurrent) this.sendOne();
  }

  private sendOne(): void {
    let batch: Span[];
    if (this.queue.length <= this.maxBatch) {
      batch = this.queue;
      this.queue = [];
    } else {
      batch = this.queue.slice(0, this.maxBatch);
      this.queue = this.queue.slice(this.maxBatch);
    }
    this.inflight++;
    let exportPromise: Promise<void>;
    try {
      exportPromise = this.exporter.export(batch);
    } catch (err) {
      exportPromise = Promise.reject(err);
    }
    const done: Promise<void> = exportPromise.then(
      () => { this.exported += batch.length; },
      (err: unknown) => this.failed(err instanceof Error ? err : new Error(String(err)), batch.length),
    ).finally(() => {
      this.inflight--;
      this.inflightDone.delete(done);
      // more waited behind this one: send it now rather than at the next tick
      if (this.queue.length >= this.maxBatch) this.flush();
    });
    this.inflightDone.add(done);
  }

  private failed(err: Error, n: number): void {
    this.dropped += n;
    const now = performance.now();
    if (now - this.lastLog >= LOG_EVERY_MS) {
      this.lastLog = now;
      this.logError(err, n, this.suppressed);
      this.suppressed = 0;
    } else {
      this.suppressed++;
    }
  }

  /** Drain: stop the timer, send everything queued, wait for it (at most `timeoutMs`). */
  async shutdown(timeoutMs: number): Promise<void> {
    clearInterval(this.timer);
    const deadline = performance.now() + timeoutMs;
    while ((this.queue.length > 0 || this.inflight > 0) && performance.now() < deadline) {
      while (this.queue.length > 0) this.sendOne();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all([...this.inflightDone]),
        new Promise<void>((resolve) => { timer = setTimeout(resolve, Math.max(0, deadline - performance.now())); }),
      ]);
      clearTimeout(timer);
    }
    // what could not be sent in time is lost
    this.dropped += this.queue.length;
    this.queue = [];
    this.exporter.close();
  }
}
