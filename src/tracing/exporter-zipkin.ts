// Zipkin v2 JSON (`POST /api/v2/spans`): an array of spans with hex ids, microsecond timestamp and
// duration, kind SERVER/CLIENT, local and remote endpoints and string tags.
import { SPAN_KIND_SERVER, spanAttributes, type Span } from './span.js';

const IPV4 = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

interface ZipkinEndpoint { serviceName?: string; ipv4?: string; ipv6?: string; port?: number }

/** The upstream (`address:port`, IPv6 in brackets) as a Zipkin endpoint named after its cluster. */
function remoteEndpoint(address: string, cluster: string | null): ZipkinEndpoint {
  const colon = address.lastIndexOf(':');
  let host = colon > 0 ? address.slice(0, colon) : address;
  const port = colon > 0 ? Number(address.slice(colon + 1)) : NaN;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const ep: ZipkinEndpoint = {};
  if (cluster !== null) ep.serviceName = cluster;
  if (IPV4.test(host)) ep.ipv4 = host;
  else if (host.includes(':')) ep.ipv6 = host;
  else ep.serviceName ??= host;
  if (port > 0) ep.port = port;
  return ep;
}

export function zipkinBody(spans: readonly Span[], serviceName: string, nodeId: string): string {
  return JSON.stringify(spans.map((s) => {
    const tags: Record<string, string> = {};
    for (const [k, v] of spanAttributes(s, nodeId)) tags[k] = String(v);
    const startUs = Math.floor(s.startMs * 1000);
    return {
      traceId: s.traceId,
      id: s.spanId,
      ...(s.parentId === '' ? {} : { parentId: s.parentId }),
      kind: s.kind === SPAN_KIND_SERVER ? 'SERVER' : 'CLIENT',
      name: s.name,
      timestamp: startUs,
      duration: Math.max(1, Math.floor(s.endMs * 1000) - startUs),
      localEndpoint: { serviceName },
      ...(s.upstreamAddress === null ? {} : { remoteEndpoint: remoteEndpoint(s.upstreamAddress, s.upstreamCluster) }),
      ...(s.debug ? { debug: true } : {}),
      tags,
    };
  }));
}
