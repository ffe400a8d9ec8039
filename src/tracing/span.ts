// One sampled hop as a small record: ids, kind, times and the request's attributes, filled at the
// request's start and end and appended to the worker's bounded span queue; nothing is serialised
// here (exporters do that, off the request path, per batch).
import { performance } from 'node:perf_hooks';
import { flagNames } from '../stats/flags.js';

/** OTLP SpanKind enum values (Zipkin names them "SERVER"/"CLIENT") */
export const SPAN_KIND_SERVER = 2;
export const SPAN_KIND_CLIENT = 3;

export interface SpanSink {
  add(span: Span): void;
}

export class Span {
  readonly sink: SpanSink;
  /** 16 or 32 hex as propagated (exporters needing 128 bits pad it) */
  readonly traceId: string;
  readonly spanId: string;
  /** '' for a root span */
  readonly parentId: string;
  readonly kind: number;
  readonly debug: boolean;
  /** unix epoch milliseconds, fractional */
  readonly startMs: number;
  readonly method: string;
  readonly path: string;
  readonly authority: string;
  readonly requestId: string;
  endMs = 0;
  /** 0 when the client went away before a response */
  status = 0;
  flags = '-';
  upstreamAddress: string | null = null;
  upstreamCluster: string | null = null;
  peerPrincipal: string | null = null;

  constructor(sink: SpanSink, traceId: string, spanId: string, parentId: string, kind: number, debug: boolean,
    method: string, path: string, authority: string, requestId: string) {
    this.sink = sink;
    this.traceId = traceId;
    this.spanId = spanId;
    this.parentId = parentId;
    this.kind = kind;
    this.debug = debug;
    this.startMs = performance.timeOrigin + performance.now();
    this.method = method;
    this.path = path;
    this.authority = authority;
    this.requestId = requestId;
  }

  /** Called once, when the request finishes: completes the record and queues it (never blocks). */
  end(status: number, flag: number, endpoint: { readonly key: string } | null, cluster: { readonly name: string } | null,
    peerPrincipal: string | null): void {
    this.endMs = performance.timeOrigin + performance.now();
    this.status = status;
    this.flags = flagNames(flag);
    this.upstreamAddress = endpoint === null ? null : endpoint.key;
    this.upstreamCluster = cluster === null ? null : cluster.name;
    this.peerPrincipal = peerPrincipal;
    this.sink.add(this);
  }

  get error(): boolean {
    return this.status === 0 || this.status >= 500;
  }

  /** Istio's decorator-style operation name: `<authority>/*` (path left out: it is unbounded). */
  get name(): string {
    return `${this.authority}/*`;
  }
}

/** Span attributes common to both exporters (Envoy's tag names), built at export time. */
export function spanAttributes(s: Span, nodeId: string): [string, string | number][] {
  const a: [string, string | number][] = [
    ['http.method', s.method],
    ['url.path', s.path],
    ['http.protocol', 'HTTP/1.1'],
    ['http.status_code', s.status],
    ['response_flags', s.flags],
    ['guid:x-request-id', s.requestId],
    ['node_id', nodeId],
    ['component', 'proxy'],
  ];
  if (s.upstreamAddress !== null) a.push(['upstream_address', s.upstreamAddress]);
  if (s.upstreamCluster !== null) a.push(['upstream_cluster', s.upstreamCluster]);
  if (s.peerPrincipal !== null) a.push(['peer.principal', s.peerPrincipal]);
  if (s.error) a.push(['error', 'true']);
  return a;
}

/** Epoch milliseconds (fractional) as the decimal nanosecond string OTLP's JSON mapping uses. */
export function unixNanos(ms: number): string {
  let whole = Math.floor(ms);
  let ns = Math.round((ms - whole) * 1e6);
  if (ns >= 1e6) {
    whole += 1;
    ns -= 1e6;
  }
  return `${whole}${String(ns).padStart(6, '0')}`;
}
