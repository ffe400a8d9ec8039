// Which sockets the proxy opens: every Sidecar egress/ingress port, with defaults applied, and
// the default outbound listener 127.0.0.1:15001 when no egress listener is configured. Two
// listeners that would collide at bind() time (same port, same or wildcard address) are an error.
import type { Parsed, SidecarModel } from './model.js';
import { portProtocol } from './protocol.js';
import type { Direction } from './snapshot.js';

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
  /** inbound: where the local app listens */
  defaultEndpoint: { address: string; port: number } | null;
  /** `Sidecar/<ns>/<name> spec.ingress[0]`, or null for the built-in default */
  origin: string | null;
  /** the Sidecar's meshlet.io/forwarded-for: append */
  appendForwardedFor: boolean;
}

const isWildcard = (bind: string) => bind === '0.0.0.0' || bind === '::';

export function planListeners(sidecars: readonly Parsed<SidecarModel>[]): PlannedListener[] {
  const planned: PlannedListener[] = [];
  for (const sc of sidecars) {
    for (const l of sc.model.listeners) {
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
        protocol: portProtocol(l.port?.protocol ?? null, l.port?.name ?? null) ?? 'HTTP',
        defaultEndpoint: l.defaultEndpoint,
        origin: `Sidecar/${sc.res.namespace}/${sc.res.name} ${l.path}`,
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
      defaultEndpoint: null,
      origin: null,
      appendForwardedFor: false,
    };
    const clash = conflict(planned, p);
    const owner = sidecars[0];
    if (clash === null) planned.push(p);
    else owner?.ck.warn('spec', `the default outbound listener is not opened: ${clash}`);
  }
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
