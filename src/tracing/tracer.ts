// A worker's tracer: per request, propagate() the trace headers and, when sampled, open a Span
// that the request ends into the batcher; unsampled requests allocate nothing here.
import { SpanBatcher, type ExportErrorLogger, type SpanExporter } from './batcher.js';
import { otlpBody } from './exporter-otlp.js';
import { zipkinBody } from './exporter-zipkin.js';
import { JsonSpanExporter } from './http-post.js';
import { propagate, TraceContext } from './propagation.js';
import { RatioSampler } from './sampler.js';
import type { TracingSettings } from './settings.js';
import { Span, SPAN_KIND_CLIENT, SPAN_KIND_SERVER } from './span.js';

/** What the tracer reads from a request (Exchange has these). */
export interface TracedRequest {
  /** the copied-out request headers, flat [name, value, …]; trace headers are rewritten in place */
  readonly headers: string[];
  readonly method: string;
  readonly path: string;
  readonly authority: string;
  readonly requestId: string;
  readonly listener: { readonly inbound: boolean };
}

export function createExporter(s: TracingSettings): SpanExporter {
  return s.exporter === 'otlp'
    ? new JsonSpanExporter(s.endpoint, otlpBody, s.serviceName, s.nodeId, s.exportTimeoutMs)
    : new JsonSpanExporter(s.endpoint, zipkinBody, s.serviceName, s.nodeId, s.exportTimeoutMs);
}

/** Per direction (Telemetry tracing with match.mode): the sampling of new traces and whether spans are sent. */
export interface TracingOverride {
  samplingPercent: number | null;
  disableSpanReporting: boolean;
}

export class Tracer {
  /** [outbound, inbound] */
  private samplers: [RatioSampler, RatioSampler];
  private reporting: [boolean, boolean] = [true, true];
  private readonly defaultPercent: number;
  readonly batcher: SpanBatcher;
  private readonly ctx = new TraceContext();

  constructor(settings: TracingSettings, logError: ExportErrorLogger, exporter: SpanExporter = createExporter(settings)) {
    this.defaultPercent = settings.samplingPercent;
    const sampler = new RatioSampler(settings.samplingPercent);
    this.samplers = [sampler, sampler];
    this.batcher = new SpanBatcher(exporter, { maxBatch: settings.maxBatch, maxQueue: settings.maxQueue, delayMs: settings.batchDelayMs }, logError);
  }

  /** A generation's Telemetry tracing: randomSamplingPercentage (else --trace-sampling) and disableSpanReporting, per direction. */
  configure(policy: readonly [TracingOverride, TracingOverride]): void {
    const [out, inb] = policy;
    const make = (p: TracingOverride): RatioSampler => new RatioSampler(p.samplingPercent ?? this.defaultPercent);
    this.samplers = [make(out), make(inb)];
    this.reporting = [!out.disableSpanReporting, !inb.disableSpanReporting];
  }

  /** At request start (after the headers are copied out): returns this hop's span when sampled. */
  start(req: TracedRequest): Span | null {
    const c = this.ctx;
    const dir = req.listener.inbound ? 1 : 0;
    propagate(req.headers, this.samplers[dir], c);
    if (!c.sampled || !this.reporting[dir]) return null;
    return new Span(this.batcher, c.traceId, c.spanId, c.parentId, req.listener.inbound ? SPAN_KIND_SERVER : SPAN_KIND_CLIENT, c.debug,
      req.method, req.path, req.authority, req.requestId);
  }

  get exported(): number {
    return this.batcher.exported;
  }

  get dropped(): number {
    return this.batcher.dropped;
  }

  shutdown(timeoutMs: number): Promise<void> {
    return this.batcher.shutdown(timeoutMs);
  }
}
