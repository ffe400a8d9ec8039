// DestinationRule `trafficPolicy` (top level, per subset, per port): loadBalancer (simple,
// consistentHash, warmupDurationSecs), connectionPool and outlierDetection, read into the model.
// Components are kept separate because Istio merges them one by one (see resolve.ts).
import type { HashModel, LbModel, OutlierModel, PoolModel, TrafficPolicyModel } from '../model.js';
import type { LbPolicy } from '../snapshot.js';
import { Fields } from './fields.js';
import { MAX_TIMER_MS, readDurationMs, readPort } from './values.js';
import { cookieAttributeProblem, cookieNameProblem } from './wire-text.js';

const POLICY_FIELDS = ['loadBalancer', 'connectionPool', 'outlierDetection', 'tls', 'portLevelSettings', 'tunnel', 'proxyProtocol'];
const PORT_POLICY_FIELDS = ['port', 'loadBalancer', 'connectionPool', 'outlierDetection', 'tls'];
const LB_FIELDS = ['simple', 'consistentHash', 'localityLbSetting', 'warmupDurationSecs', 'warmup'];
const HASH_FIELDS = ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName', 'ringHash', 'maglev', 'minimumRingSize'];
const POOL_TCP_FIELDS = ['maxConnections', 'connectTimeout', 'tcpKeepalive', 'maxConnectionDuration', 'idleTimeout'];
const POOL_HTTP_FIELDS = ['http1MaxPendingRequests', 'http2MaxRequests', 'maxRequestsPerConnection', 'maxRetries', 'idleTimeout', 'h2UpgradePolicy', 'useClientProtocol', 'maxConcurrentStreams'];
const OUTLIER_FIELDS = [
  'consecutiveErrors', 'consecutive5xxErrors', 'consecutiveGatewayErrors', 'consecutiveLocalOriginFailures',
  'splitExternalLocalOriginErrors', 'interval', 'baseEjectionTime', 'maxEjectionPercent', 'minHealthPercent',
];
const SIMPLE: Record<string, LbPolicy> = {
  UNSPECIFIED: 'LEAST_REQUEST',
  LEAST_REQUEST: 'LEAST_REQUEST',
  LEAST_CONN: 'LEAST_REQUEST',
  ROUND_ROBIN: 'ROUND_ROBIN',
  RANDOM: 'RANDOM',
  PASSTHROUGH: 'PASSTHROUGH',
};
/** Istio caps int32 limits; "unlimited" is 2^32-1 in Istio's defaults. */
const INT32 = { integer: true, min: 0, max: 2147483647 } as const;
/** meshlet's extension: DestinationRule annotation choosing Linkerd's peak-EWMA balancer. */
export const PEAK_EWMA_ANNOTATION = 'meshlet.io/load-balancer';

/** `trafficPolicy` at `f`, or null when absent. */
export function readTrafficPolicy(f: Fields, peakEwma: boolean): TrafficPolicyModel | null {
  const p = f.object('trafficPolicy', POLICY_FIELDS);
  if (p === null) return null;
  if (Object.keys(p.raw).length === 0) p.ck.error(p.path, 'traffic policy must have at least one field');
  for (const block of ['tls', 'tunnel', 'proxyProtocol']) p.entries(block);
  const policy = readComponents(p, peakEwma);
  for (const item of p.list('portLevelSettings') ?? []) {
    const ps = Fields.of(p.ck, item.value, item.path, PORT_POLICY_FIELDS, true);
    if (ps === null) continue;
    const port = ps.object('port', ['number'], true);
    const number = port === null ? null : readPort(port, 'number', true);
    ps.entries('tls');
    const components = readComponents(ps, peakEwma);
    if (number === null) continue;
    if (policy.ports.some((x) => x.port === number)) ps.ck.error(ps.at('port'), `port ${number} has more than one portLevelSettings entry`);
    else policy.ports.push({ port: number, policy: components });
  }
  return policy;
}

function readComponents(p: Fields, peakEwma: boolean): TrafficPolicyModel {
  return { lb: readLoadBalancer(p, peakEwma), pool: readPool(p), outlier: readOutlier(p), ports: [] };
}

function readLoadBalancer(p: Fields, peakEwma: boolean): LbModel | null {
  const lb = p.object('loadBalancer', LB_FIELDS);
  if (lb === null) return null;
  lb.unsupported(['localityLbSetting'], 'locality load balancing is not modelled by a single sidecar, ignored');
  lb.unsupported(['warmup'], 'use warmupDurationSecs; warmup is ignored');
  const simple = lb.string('simple');
  let policy: LbPolicy = peakEwma ? 'PEAK_EWMA' : 'LEAST_REQUEST';
  if (simple !== null) {
    const named = SIMPLE[simple];
    if (named === undefined) lb.ck.error(lb.at('simple'), `unknown load balancer ${simple} (one of ${Object.keys(SIMPLE).join(', ')})`);
    else policy = named;
    if (simple === 'LEAST_CONN') lb.ck.warn(lb.at('simple'), 'LEAST_CONN is deprecated; it means LEAST_REQUEST');
    if (simple === 'PASSTHROUGH') {
      lb.ck.warn(lb.at('simple'), 'PASSTHROUGH needs an original destination, which an explicit sidecar listener does not have: endpoints are picked at random');
    }
  }
  const hash = readHash(lb);
  if (hash !== null && simple !== null) lb.ck.error(lb.path, 'set either simple or consistentHash, not both');
  const warmupMs = readWarmup(lb);
  if (warmupMs > 0 && (hash !== null || (policy !== 'ROUND_ROBIN' && policy !== 'LEAST_REQUEST'))) {
    lb.ck.warn(lb.at('warmupDurationSecs'), 'slow start applies to ROUND_ROBIN and LEAST_REQUEST only (as in Istio); ignored');
  }
  return { simple: policy, hash, warmupMs: hash === null && (policy === 'ROUND_ROBIN' || policy === 'LEAST_REQUEST') ? warmupMs : 0 };
}

function readWarmup(lb: Fields): number {
  if (!lb.has('warmupDurationSecs')) return 0;
  const raw = lb.get('warmupDurationSecs');
  // Istio's type is a Duration ("60s"); a bare number of seconds is accepted too.
  if (typeof raw === 'number') return lb.number('warmupDurationSecs', { min: 0, max: Math.floor(MAX_TIMER_MS / 1000) }) === null ? 0 : raw * 1000;
  return readDurationMs(lb, 'warmupDurationSecs') ?? 0;
}

function readHash(lb: Fields): HashModel | null {
  const h = lb.object('consistentHash', HASH_FIELDS);
  if (h === null) return null;
  const keys: HashModel[] = [];
  const header = h.string('httpHeaderName');
  if (header !== null) keys.push(base('header', header.toLowerCase()));
  const query = h.string('httpQueryParameterName');
  if (query !== null) keys.push(base('query', query));
  const ip = h.bool('useSourceIp');
  if (ip === true) keys.push(base('sourceIp', ''));
  const cookie = h.object('httpCookie', ['name', 'path', 'ttl', 'attributes']);
  if (cookie !== null) {
    const name = cookie.string('name', true) ?? '';
    const k = base('cookie', name);
    k.cookiePath = cookie.string('path') ?? '';
    // both go into the Set-Cookie header meshlet adds when the request has no such cookie
    const nameProblem = name === '' ? null : cookieNameProblem(name);
    if (nameProblem !== null) cookie.ck.error(cookie.at('name'), nameProblem);
    const pathProblem = cookieAttributeProblem(k.cookiePath);
    if (pathProblem !== null) cookie.ck.error(cookie.at('path'), `cookie path ${pathProblem}`);
    k.cookieTtlMs = readDurationOrZero(cookie, 'ttl');
    cookie.unsupported(['attributes']);
    keys.push(k);
  }
  if (keys.length !== 1) {
    h.ck.error(h.path, keys.length === 0
      ? 'consistentHash needs one of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName'
      : 'consistentHash takes exactly one of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName');
    return null;
  }
  const k = keys[0] as HashModel;
  const ring = h.object('ringHash', ['minimumRingSize']);
  const maglev = h.object('maglev', ['tableSize']);
  if (ring !== null && maglev !== null) h.ck.error(h.path, 'set either ringHash or maglev, not both');
  if (maglev !== null) {
    k.algorithm = 'maglev';
    const size = maglev.number('tableSize', { integer: true, min: 1, max: 5000011 });
    if (size !== null && !isPrime(size)) maglev.ck.error(maglev.at('tableSize'), `tableSize ${size} must be a prime number (Maglev)`);
    k.size = size ?? 65537;
  } else {
    const deprecated = h.number('minimumRingSize', { integer: true, min: 1, max: 8388608 });
    if (deprecated !== null) h.ck.warn(h.at('minimumRingSize'), 'deprecated: use ringHash.minimumRingSize');
    const size = ring?.number('minimumRingSize', { integer: true, min: 1, max: 8388608 }) ?? deprecated;
    k.size = size ?? 1024;
  }
  return k;
}

function base(key: HashModel['key'], name: string): HashModel {
  return { key, name, cookiePath: '', cookieTtlMs: 0, algorithm: 'ring', size: 1024 };
}

function readPool(p: Fields): PoolModel | null {
  const c = p.object('connectionPool', ['tcp', 'http']);
  if (c === null) return null;
  const tcp = c.object('tcp', POOL_TCP_FIELDS);
  const http = c.object('http', POOL_HTTP_FIELDS);
  const perConnection = http?.number('maxRequestsPerConnection', INT32) ?? 0;
  const pool: PoolModel = {
    maxConnections: positive(tcp?.number('maxConnections', INT32)),
    connectTimeoutMs: tcp === null ? 0 : readDurationMs(tcp, 'connectTimeout') ?? 0,
    maxPendingRequests: positive(http?.number('http1MaxPendingRequests', INT32)),
    maxRequests: positive(http?.number('http2MaxRequests', INT32)),
    maxRequestsPerConnection: perConnection,
    maxRetries: positive(http?.number('maxRetries', INT32)),
    idleTimeoutMs: 0,
    h2Upgrade: http === null ? false : readH2Upgrade(http),
    maxConcurrentStreams: http?.number('maxConcurrentStreams', INT32) ?? 0,
    useClientProtocol: http?.bool('useClientProtocol') ?? false,
  };
  if (tcp !== null) readTcpPool(tcp, pool);
  // the HTTP pools' idle timeout: http.idleTimeout, else tcp.idleTimeout (0s there: off for proxied connections only)
  pool.idleTimeoutMs = (http === null ? null : readDurationMs(http, 'idleTimeout')) ?? (pool.tcpIdleTimeoutMs || 0);
  return pool;
}

/** The connectionPool.tcp settings of proxied connections (TCP listeners, WebSockets), set only when written. */
function readTcpPool(tcp: Fields, pool: PoolModel): void {
  if (tcp.has('idleTimeout')) pool.tcpIdleTimeoutMs = zeroOrDuration(tcp, 'idleTimeout');
  if (tcp.has('maxConnectionDuration')) pool.maxConnectionDurationMs = zeroOrDuration(tcp, 'maxConnectionDuration');
  const ka = tcp.object('tcpKeepalive', ['probes', 'time', 'interval']);
  if (ka !== null) {
    pool.tcpKeepalive = {
      probes: ka.number('probes', { integer: true, min: 0, max: 2147483647 }) ?? 0,
      timeMs: ka.has('time') ? zeroOrDuration(ka, 'time') : 0,
      intervalMs: ka.has('interval') ? zeroOrDuration(ka, 'interval') : 0,
    };
  }
}

/** A duration where "0s" is meaningful (off / the OS default). */
function zeroOrDuration(f: Fields, key: string): number {
  const raw = f.get(key);
  if (raw === '0s' || raw === '0' || raw === 0) return 0;
  return readDurationMs(f, key) ?? 0;
}

const H2_UPGRADE_POLICIES = ['DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE'];

/** h2UpgradePolicy: UPGRADE sends an HTTP port's requests to its endpoints over HTTP/2; DEFAULT is the mesh default (DO_NOT_UPGRADE). */
function readH2Upgrade(http: Fields): boolean {
  const v = http.string('h2UpgradePolicy');
  if (v === null) return false;
  if (!H2_UPGRADE_POLICIES.includes(v)) {
    http.ck.error(http.at('h2UpgradePolicy'), `unknown h2UpgradePolicy ${v} (one of ${H2_UPGRADE_POLICIES.join(', ')})`);
    return false;
  }
  return v === 'UPGRADE';
}

/** Istio: 0 (or unset) means "use the default", which for these limits is unlimited. */
function positive(n: number | null | undefined): number {
  return n === null || n === undefined || n === 0 ? UNLIMITED : n;
}
export const UNLIMITED = 4294967295;

function readOutlier(p: Fields): OutlierModel | null {
  const o = p.object('outlierDetection', OUTLIER_FIELDS);
  if (o === null) return null;
  o.unsupported(['consecutiveLocalOriginFailures', 'splitExternalLocalOriginErrors'], 'local-origin errors count as 5xx (Envoy default); ignored');
  const legacy = o.number('consecutiveErrors', INT32);
  if (legacy !== null) o.ck.warn(o.at('consecutiveErrors'), 'deprecated: use consecutiveGatewayErrors / consecutive5xxErrors (taken as consecutiveGatewayErrors)');
  const maxPct = o.number('maxEjectionPercent', { integer: true, min: 0, max: 100 });
  const minHealth = o.number('minHealthPercent', { integer: true, min: 0, max: 100 });
  return {
    // Envoy's defaults where Istio leaves a field unset.
    consecutive5xx: o.has('consecutive5xxErrors') ? o.number('consecutive5xxErrors', INT32) ?? 5 : 5,
    consecutiveGateway: o.number('consecutiveGatewayErrors', INT32) ?? legacy ?? 0,
    intervalMs: readDurationMs(o, 'interval') ?? 10_000,
    baseEjectionMs: readDurationMs(o, 'baseEjectionTime') ?? 30_000,
    maxEjectionPercent: maxPct ?? 10,
    minHealthPercent: minHealth ?? 0,
  };
}

function readDurationOrZero(f: Fields, key: string): number {
  if (f.get(key) === '0s' || f.get(key) === '0') return 0;
  // a cookie's Max-Age, never a timer: only kept to whole numbers of ms
  return readDurationMs(f, key, { maxMs: Number.MAX_SAFE_INTEGER }) ?? 0;
}

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}
