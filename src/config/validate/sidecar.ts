// Sidecar: egress listeners (port, bind, hosts) and ingress listeners (port, bind, defaultEndpoint
// "IP:port"). Bind addresses must be IP literals; unix sockets are not supported.
import type { SidecarListenerModel, SidecarModel } from '../model.js';
import type { Direction } from '../snapshot.js';
import type { Item } from './checker.js';
import { Fields } from './fields.js';
import {
  UNIX_UNSUPPORTED, hostProblem, isDnsLabel, isIp, isUnixAddress, readLabels, readPort, readPortName, readProtocol,
} from './values.js';

export const SIDECAR_FIELDS = ['workloadSelector', 'ingress', 'egress', 'inboundConnectionPool', 'outboundTrafficPolicy'];
const INGRESS_FIELDS = ['port', 'bind', 'captureMode', 'defaultEndpoint', 'tls', 'connectionPool'];
const EGRESS_FIELDS = ['port', 'bind', 'captureMode', 'hosts'];

/** meshlet extension: `metadata.annotations["meshlet.io/forwarded-for"]: append` (a gateway's behaviour). */
export const FORWARDED_FOR_ANNOTATION = 'meshlet.io/forwarded-for';

export function parseSidecar(spec: Fields, annotations: Record<string, string> = {}): SidecarModel {
  if (!SIDECAR_FIELDS.slice(1).some((k) => spec.has(k))) spec.ck.error(spec.path, 'empty Sidecar: set egress, ingress or outboundTrafficPolicy');
  const selector = spec.object('workloadSelector', ['labels']);
  if (selector !== null) readLabels(selector, 'labels');
  spec.entries('inboundConnectionPool');
  const otp = spec.object('outboundTrafficPolicy', ['mode', 'egressProxy']);
  const mode = otp?.string('mode');
  if (otp && mode != null && mode !== 'ALLOW_ANY' && mode !== 'REGISTRY_ONLY') otp.ck.error(otp.at('mode'), `unknown mode ${mode} (ALLOW_ANY or REGISTRY_ONLY)`);
  otp?.unsupported(['egressProxy']);
  const listeners: SidecarListenerModel[] = [];
  for (const item of spec.list('ingress') ?? []) {
    const l = readListener(spec, item, 'inbound');
    if (l !== null) listeners.push(l);
  }
  const egress = spec.list('egress') ?? [];
  egress.forEach((item, i) => {
    const l = readListener(spec, item, 'outbound');
    if (l === null) return;
    if (l.port === null && i !== egress.length - 1) spec.ck.error(item.path, 'the egress listener without port must be the last one');
    listeners.push(l);
  });
  return { kind: 'Sidecar', listeners, appendForwardedFor: readForwardedFor(spec, annotations) };
}

/**
 * Istio's sidecars do not append x-forwarded-for (Envoy's use_remote_address is false on sidecars;
 * gateways append): meshlet appends the client address only when the Sidecar asks for it.
 */
function readForwardedFor(spec: Fields, annotations: Record<string, string>): boolean {
  const v = annotations[FORWARDED_FOR_ANNOTATION];
  if (v === undefined) return false;
  if (v === 'append') return true;
  spec.ck.warn(`metadata.annotations.${FORWARDED_FOR_ANNOTATION}`, `unknown value "${v}" (meshlet knows append); x-forwarded-for is not appended`);
  return false;
}

function readListener(spec: Fields, item: Item, direction: Direction): SidecarListenerModel | null {
  const f = Fields.of(spec.ck, item.value, item.path, direction === 'inbound' ? INGRESS_FIELDS : EGRESS_FIELDS, true);
  if (f === null) return null;
  const p = f.object('port', ['number', 'protocol', 'name', 'targetPort'], direction === 'inbound');
  let port: SidecarListenerModel['port'] = null;
  if (p !== null) {
    if (p.has('targetPort')) p.ck.error(p.at('targetPort'), 'targetPort has no effect on Sidecars');
    const number = readPort(p, 'number', true);
    const protocol = readProtocol(p, 'protocol');
    if (protocol === 'UDP') p.ck.warn(p.at('protocol'), 'UDP is not proxied (as in Istio): this listener is not opened');
    const name = readPortName(p, 'name');
    if (number !== null) port = { number, protocol, name };
  }
  const bind = f.string('bind');
  if (bind !== null && isUnixAddress(bind)) f.ck.error(f.at('bind'), UNIX_UNSUPPORTED);
  else if (bind !== null && !isIp(bind)) f.ck.error(f.at('bind'), `bind must be an IP address, got "${bind}"`);
  const capture = f.string('captureMode');
  if (capture !== null && !['DEFAULT', 'IPTABLES', 'NONE'].includes(capture)) f.ck.error(f.at('captureMode'), `unknown captureMode ${capture}`);
  let defaultEndpoint = null;
  let hosts: string[] = [];
  if (direction === 'inbound') {
    f.unsupported(['tls'], 'TLS termination on ingress listeners is not supported by meshlet, ignored');
    f.entries('connectionPool');
    const ep = f.string('defaultEndpoint', true);
    defaultEndpoint = ep === null ? null : parseDefaultEndpoint(f, ep);
  } else {
    hosts = readEgressHosts(f);
  }
  if (direction === 'inbound' && (port === null || defaultEndpoint === null)) return null;
  if (p !== null && port === null) return null;
  return { direction, port, bind: bind !== null && isIp(bind) ? bind : null, defaultEndpoint, hosts, path: f.path };
}

/** "IP:port", "[v6]:port" or ":port" (= 127.0.0.1). */
function parseDefaultEndpoint(f: Fields, ep: string): { address: string; port: number } | null {
  const at = f.at('defaultEndpoint');
  if (isUnixAddress(ep)) {
    f.ck.error(at, UNIX_UNSUPPORTED);
    return null;
  }
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(ep) ?? /^([^:[\]]*):(\d+)$/.exec(ep);
  const address = m?.[1] === '' ? '127.0.0.1' : m?.[1];
  const port = Number(m?.[2]);
  if (address === undefined || !isIp(address)) {
    f.ck.error(at, `defaultEndpoint must be IP:port (e.g. 127.0.0.1:8080), got "${ep}"`);
    return null;
  }
  if (!(port >= 1 && port <= 65535)) {
    f.ck.error(at, `defaultEndpoint port must be in 1..65535, got "${ep}"`);
    return null;
  }
  return { address, port };
}

/**
 * egress `hosts`: required `namespace/host` entries (`./*`, `*\/*`, `ns/*.example.com`). HTTP
 * listeners route every host (meshlet does not scope them per listener); a TCP or TLS listener
 * reaches the ServiceEntry hosts they name (see config/compile/tcp-plan.ts).
 */
function readEgressHosts(f: Fields): string[] {
  const out: string[] = [];
  for (const h of f.strings('hosts', true)) {
    const slash = h.value.indexOf('/');
    const ns = h.value.slice(0, slash);
    const host = h.value.slice(slash + 1);
    if (slash < 0) f.ck.error(h.path, `"${h.value}" must be namespace/host (e.g. ./*, istio-system/*)`);
    else if (!['*', '.', '~'].includes(ns) && !isDnsLabel(ns)) f.ck.error(h.path, `invalid namespace "${ns}" in ${h.value}`);
    else if (host !== '*') {
      const problem = hostProblem(host, { wildcard: true, star: false, ip: false });
      if (problem !== null) f.ck.error(h.path, problem);
      else out.push(h.value);
    } else out.push(h.value);
  }
  return out;
}
