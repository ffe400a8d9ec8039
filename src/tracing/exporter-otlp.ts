// OTLP/HTTP with the JSON protobuf mapping (`POST /v1/traces`): resourceSpans → scopeSpans → spans,
// hex ids, unix-nano times as strings, SpanKind and status codes as enum integers.
import { traceId128 } from './ids.js';
import { spanAttributes, unixNanos, type Span } from './span.js';

/** OTLP Status.code */
const STATUS_UNSET = 0;
const STATUS_ERROR = 2;

interface AnyValue { stringValue?: string; intValue?: string }

function attr(key: string, v: string | number): { key: string; value: AnyValue } {
  // int64 is a decimal string in the protobuf JSON mapping (collectors accept numbers too)
  return { key, value: typeof v === 'number' ? { intValue: String(v) } : { stringValue: v } };
}

export function otlpBody(spans: readonly Span[], serviceName: string, nodeId: string): string {
  return JSON.stringify({
    resourceSpans: [{
      resource: { attributes: [attr('service.name', serviceName), attr('service.instance.id', nodeId)] },
      scopeSpans: [{
        scope: { name: 'meshlet' },
        spans: spans.map((s) => ({
          traceId: traceId128(s.traceId),
          spanId: s.spanId,
          ...(s.parentId === '' ? {} : { parentSpanId: s.parentId }),
          name: s.name,
          kind: s.kind,
          startTimeUnixNano: unixNanos(s.startMs),
          endTimeUnixNano: unixNanos(s.endMs),
          attributes: spanAttributes(s, nodeId).map(([k, v]) => attr(k, v)),
          status: { code: s.error ? STATUS_ERROR : STATUS_UNSET },
        })),
      }],
    }],
  });
}
