// Which sockets the proxy opens: every Sidecar egress/ingress port, with defaults applied, and
// the default outbound listener 127.0.0.1:15001 when no egress listener is configured. Two
// listeners that would collide at bind() time (same port, same or wildcard address) are an error.
// A port's protocol decides how its connections are served (listenerTraffic): HTTP, proxied TCP
// bytes, or TLS routed by SNI; a port whose protocol is not declared detects HTTP per connection
// (auto, Istio's protocol sniffing); UDP ports are not opened (Istio does not proxy UDP).
import type { Parsed, ServiceEntryModel, SidecarModel } from './model.js';
import type { Checker } from './validate/checker.js';
import type { Direction, ListenerTraffic } from './snapshot.js';
import { HTTP_PROTOCOLS } from './validate/values.js';
import { protocolFromName } from './protocol.js';
import { planServiceEntryListeners } from './service-entry-listeners.js';

export const DEFAULT_OUTBOUND_BIND = '127.0.0.1';
// Istio binds inbound to the pod IP; meshlet listens on loopback unless `bind` says otherwise
// (nothing on a public interface unless configured).
export const DEFAULT_INBOUND_BIND = '127.0.0.1';
/** Istio's outbound capture port; also the port of an egress listener written without one. */
export const DEFAULT_OUTBOUND_PORT = 15001;

export interface PlannedListener {
  name: string;
  direction: Direction;
  bind: string;
  port: number;
  protocol: string;
  traffic: ListenerTraffic;
  /** inbound: where the local app listens */
  defaultEndpoint: { address: string; port: number } | null;
  /** egress: the Sidecar's `namespace/host` entries (TCP and TLS listeners reach these hosts) */
  hosts: string[];
  /** the Sidecar's namespace ('.' in `hosts`) */
  namespace: string;
  /** `Sidecar/<ns>/<name> spec.ingress[0]`, or null for the built-in default */
  origin: string | null;
  /** the Sidecar's checker and the listener's path in it, for warnings about its routes; null for the default */
  ck: Checker | null;
  path: string;
  /** the Sidecar's meshlet.io/forwarded-for: append */
  appendForwardedFor: boolean;
}

const isWildcard = (bind: string) => bind === '0.0.0.0' || bind === '::';

export function planListeners(sidecars: readonly Parsed<SidecarModel>[], serviceEntries: readonly Parsed<ServiceEntryModel>[] = []): PlannedListener[] {
  const planned: PlannedListener[] = [];
  for (const sc of sidecars) {
    for (const l of sc.model.listeners) {
      const protocol = listenerProtocol(l, serviceEntries);
      const traffic = listenerTraffic(protocol, l.direction);
      if (traffic === null) continue; // UDP: warned by the Sidecar's validation
      const bind = l.bind ?? (l.direction === 'outbound' ? DEFAULT_OUTBOUND_BIND : DEFAULT_INBOUND_BIND);
      const port = l.port?.number ?? DEFAULT_OUTBOUND_PORT;
      const generated = `${l.direction}_${bind}_${port}`;
      let name = l.port?.name ?? generated;
      const sameName = planned.find((q) => q.name === name);
      if (sameName !== undefined) {
        sc.ck.warn(`${l.path}.port.name`, `listener name ${name} is already used by ${sameName.origin}; this listener is named ${generated}`);
        name = generated;
      }
      const p: PlannedListener = {
        name,
        direction: l.direction,
        bind,
        port,
        protocol,
        traffic,
        defaultEndpoint: l.defaultEndpoint,
        hosts: l.hosts,
        namespace: sc.res.namespace,
        origin: `Sidecar/${sc.res.namespace}/${sc.res.name} ${l.path}`,
        ck: sc.ck,
        path: l.path,
        appendForwardedFor: sc.model.appendForwardedFor,
      };
      const clash = conflict(planned, p);
      if (clash === null) planned.push(p);
      else sc.ck.error(l.port === null ? l.path : `${l.path}.port.number`, clash);
    }
  }
  if (!planned.some((p) => p.direction === 'outbound')) {
    const p: PlannedListener = {
      name: `outbound_${DEFAULT_OUTBOUND_BIND}_${DEFAULT_OUTBOUND_PORT}`,
      direction: 'outbound',
      bind: DEFAULT_OUTBOUND_BIND,
      port: DEFAULT_OUTBOUND_PORT,
      protocol: 'HTTP',
      traffic: 'http',
      defaultEndpoint: null,
      hosts: [],
      namespace: '',
      origin: null,
      ck: null,
      path: '',
      appendForwardedFor: false,
    };
    const clash = conflict(planned, p);
    const owner = sidecars[0];
    if (clash === null) planned.push(p);
    else owner?.ck.warn('spec', `the default outbound listener is not opened: ${clash}`);
  }
  planServiceEntryListeners(serviceEntries, planned, conflict);
  return planned;
}

function conflict(planned: PlannedListener[], p: PlannedListener): string | null {
  for (const q of planned) {
    if (q.port === p.port && (q.bind === p.bind || isWildcard(q.bind) || isWildcard(p.bind))) {
      return `${p.bind}:${p.port} collides with ${q.bind}:${q.port} of ${q.origin ?? 'the default listener'}`;
    }
  }
  return null;
}

/**
 * The protocol of a Sidecar port: as written; else Istio's port naming convention
 * (`<protocol>[-<suffix>]`, e.g. `redis-cache`, `tcp`); else, for egress, what the ServiceEntries
 * declaring that port number say (when they agree); else '' (not declared: sniffed).
 */
function listenerProtocol(l: SidecarModel['listeners'][number], serviceEntries: readonly Parsed<ServiceEntryModel>[]): string {
  const port = l.port;
  if (port === null) return 'HTTP'; // the catch-all egress listener: meshlet's HTTP proxy port
  if (port.protocol !== null) return port.protocol;
  const named = protocolOfName(port.name);
  if (named !== null) return named;
  if (l.direction === 'outbound') {
    const declared = new Set<string>();
    for (const se of serviceEntries) {
      for (const p of se.model.ports) if (p.number === port.number) declared.add(p.protocol ?? protocolOfName(p.name) ?? '');
    }
    if (declared.size === 1) return [...declared][0] as string;
  }
  return '';
}

/** Istio's port naming convention: `name` or `name-suffix` where name is a protocol (`grpc-web…` is GRPC-WEB). */
export function protocolOfName(name: string | null): string | null {
  return protocolFromName(name);
}

/**
 * How a listener serves its connections. A sidecar does not decrypt TLS: TLS and HTTPS ports are
 * routed by SNI outbound and proxied as TCP inbound (to the one local app). null: not proxied (UDP).
 */
export function listenerTraffic(protocol: string, direction: Direction): ListenerTraffic | null {
  if (protocol === '') return 'auto';
  if (HTTP_PROTOCOLS.includes(protocol)) return 'http';
  if (protocol === 'UDP') return null;
  if (protocol === 'TLS' || protocol === 'HTTPS') return direction === 'outbound' ? 'tls' : 'tcp';
  return 'tcp';
}
