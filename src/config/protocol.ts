// Istio's protocol selection for a port (istio.io "Protocol Selection"): the `protocol` field when
// set, else the port name's prefix (`grpc-web…`, then the part before the first '-': `grpc-api` →
// GRPC, `http2` → HTTP2, `tcp-db` → TCP). A listener port whose protocol cannot be told is sniffed
// per connection (config/listeners.ts). HTTP2, GRPC and GRPC-WEB ports are reached over
// HTTP/2; every HTTP listener accepts both HTTP/1.1 and HTTP/2 (h2c prior knowledge), as Envoy's
// AUTO codec does on Istio's listeners.
import { PROTOCOLS } from './validate/values.js';

const GRPC_WEB = 'GRPC-WEB';

/** The port's protocol (upper case, one of PROTOCOLS), or null when neither field nor name tells it. */
export function portProtocol(protocol: string | null, name: string | null): string | null {
  if (protocol !== null && protocol !== '') return protocol.toUpperCase();
  return protocolFromName(name);
}

/** Istio's name convention: `<protocol>[-<suffix>]`; null when the prefix names no protocol. */
export function protocolFromName(name: string | null): string | null {
  if (name === null || name === '') return null;
  const upper = name.toUpperCase();
  if (upper.startsWith(GRPC_WEB)) return GRPC_WEB;
  const dash = upper.indexOf('-');
  const prefix = dash >= 0 ? upper.slice(0, dash) : upper;
  return PROTOCOLS.includes(prefix) ? prefix : null;
}

/** Ports whose endpoints are reached over HTTP/2 (Istio's IsHTTP2: HTTP2, GRPC, GRPC-WEB). */
export function isHttp2Protocol(protocol: string | null): boolean {
  return protocol === 'HTTP2' || protocol === 'GRPC' || protocol === GRPC_WEB;
}
