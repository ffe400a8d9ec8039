// The compiled configuration: plain data only (structured-clone safe), built once by the control
// thread from validated Istio resources and posted to every worker. Workers turn it into runtime
// tables (compiled RE2 regexes, maps) once per generation; the request path only looks things up.
import type { AuthzSpec, ClusterTlsSpec, JwtRuleSpec, MtlsMode } from './security-spec.js';
import type { TelemetrySpec } from './telemetry-spec.js';

export type * from './security-spec.js';
export type * from './telemetry-spec.js';

export type StringMatchKind = 'exact' | 'prefix' | 'regex';

/** Istio StringMatch. `regex` is RE2 syntax, matched as a full match (anchored). */
export interface StringMatchSpec {
  kind: StringMatchKind;
  value: string;
}

/** One entry of VirtualService `http[].match[]`; every present condition must hold (AND). */
export interface MatchSpec {
  name: string | null;
  uri: StringMatchSpec | null;
  /** istio: `scheme`, `method`, `authority` are StringMatch too. */
  scheme: StringMatchSpec | null;
  method: StringMatchSpec | null;
  authority: StringMatchSpec | null;
  /** Lower-case header name → match. An empty-object match in Istio ({}) means "header present": kind 'present'. */
  headers: HeaderMatchSpec[];
  /** Headers that must NOT match (`withoutHeaders`). */
  withoutHeaders: HeaderMatchSpec[];
  queryParams: HeaderMatchSpec[];
  ignoreUriCase: boolean;
  /** Istio `port`: listener port this match applies to, 0 = any. */
  port: number;
}

export interface HeaderMatchSpec {
  name: string;
  /** null = presence only (Istio `{}` / empty match) */
  match: StringMatchSpec | null;
}

export interface HeaderOpsSpec {
  /** [name(lowercase), value] pairs; set replaces every existing value. */
  set: [string, string][];
  /** add appends a value (never replaces). */
  add: [string, string][];
  /** lowercase names */
  remove: string[];
}

export interface WeightedDestinationSpec {
  /** index into Snapshot.clusters, or -1 when the destination cannot be resolved (503 NC at request time) */
  clusterId: number;
  /** relative weight (Istio: weight / sum of weights). Single destination with no weight = 100. */
  weight: number;
  /** destination host as written, for logs/metrics */
  host: string;
  subset: string | null;
  /** why clusterId is -1 (e.g. "subset v3 not defined by any DestinationRule for host x") */
  unresolved: string | null;
  /** route-level header operations on this destination (Istio `route[].headers`) */
  headers: { request: HeaderOpsSpec | null; response: HeaderOpsSpec | null } | null;
}

export interface RedirectSpec {
  uri: string | null;
  authority: string | null;
  scheme: string | null;
  port: number;
  /** default 301 as in Istio */
  code: number;
}

export interface RewriteSpec {
  uri: string | null;
  authority: string | null;
}

export interface DirectResponseSpec {
  status: number;
  body: string;
}

export interface RouteSpec {
  /** http[].name, or `<vs-name>.<index>` when unnamed */
  name: string;
  /** `VirtualService/<namespace>/<name>` that defined it */
  source: string;
  /** empty = matches every request (Istio: no match block) */
  matches: MatchSpec[];
  /** exactly one of destinations / redirect / directResponse is set */
  destinations: WeightedDestinationSpec[] | null;
  /** sum of destination weights (> 0 when destinations set) */
  totalWeight: number;
  redirect: RedirectSpec | null;
  directResponse: DirectResponseSpec | null;
  rewrite: RewriteSpec | null;
  /** rule-level header operations (Istio `http[].headers`) */
  requestHeaders: HeaderOpsSpec | null;
  responseHeaders: HeaderOpsSpec | null;
  /** Istio `timeout` in ms; 0 = none (Istio's default) */
  timeoutMs: number;
  retries: RetrySpec;
  /** null when the rule has no (effective) fault */
  fault: FaultSpec | null;
  /** empty when the rule mirrors nothing */
  mirrors: MirrorSpec[];
}

/** VirtualService http[].retries, Istio semantics; always present on a RouteSpec (Istio's default when absent). */
export interface RetrySpec {
  /** retries after the first attempt; 0 = disabled */
  attempts: number;
  /** 0 = none (each try may use the whole route timeout) */
  perTryTimeoutMs: number;
  /** conditions (lowercase), from retryOn: any of '5xx','gateway-error','reset','connect-failure','refused-stream','retriable-4xx','retriable-status-codes','unavailable','cancelled','deadline-exceeded','resource-exhausted','internal' */
  retryOn: string[];
  /**
   * bare status codes listed in retryOn ("503,reset" → [503]). They are retriable whenever this
   * list is non-empty, whether or not retryOn names 'retriable-status-codes' (Istio adds it).
   */
  retriableStatusCodes: number[];
  /** Istio retryRemoteLocalities etc. are not modelled */
}

/**
 * VirtualService http[].fault. `delay` / `abort` are null when absent (or not injectable by
 * meshlet: exponentialDelay, http2Error). Istio: a delay or abort without `percentage` is never
 * injected, so its percent is 0.
 */
export interface FaultSpec {
  /** percent: 0..100 (fractions allowed) of requests delayed by fixedDelayMs */
  delay: { percent: number; fixedDelayMs: number } | null;
  /**
   * percent: 0..100 (fractions allowed) of requests answered with httpStatus (200..599), or with
   * gRPC status grpcStatus (0..16; -1 when httpStatus is used): a gRPC request gets HTTP 200 and
   * that grpc-status, any other request the status's HTTP equivalent
   */
  abort: { percent: number; httpStatus: number; grpcStatus: number } | null;
}

/** One mirror of VirtualService http[].mirror (+ mirrorPercentage) or http[].mirrors[]. */
export interface MirrorSpec {
  /** -1 when unresolved (same resolution as route destinations) */
  clusterId: number;
  host: string;
  subset: string | null;
  /** 0..100, Istio: absent mirrorPercentage = 100 */
  percent: number;
  unresolved: string | null;
}

/** The routes of every host name a VirtualService (or a bare ServiceEntry) answers for. */
export interface VirtualHostSpec {
  /** Lower-case names without port: exact names and `*.suffix` wildcards; `*` matches all. */
  hosts: string[];
  /** listener (Sidecar egress port) numbers this host applies to; empty = all outbound listeners */
  routes: RouteSpec[];
}

/** PEAK_EWMA is meshlet's extension (annotation meshlet.io/load-balancer: peak-ewma). */
export type LbPolicy = 'LEAST_REQUEST' | 'ROUND_ROBIN' | 'RANDOM' | 'PASSTHROUGH' | 'PEAK_EWMA';

/** DestinationRule loadBalancer.consistentHash. */
export interface HashSpec {
  key: 'header' | 'cookie' | 'sourceIp' | 'query';
  /** header name (lowercase), cookie name or query parameter name; '' for sourceIp */
  name: string;
  cookiePath: string;
  /** httpCookie.ttl in ms; 0 = never generate the cookie (hash only when the client sends it) */
  cookieTtlMs: number;
  /** Istio's default is a ring hash */
  algorithm: 'ring' | 'maglev';
  /** ring: minimum ring size (default 1024); maglev: table size, prime (default 65537) */
  size: number;
}

/** DestinationRule connectionPool with Istio's defaults applied: 4294967295 = unlimited, 0 ms = meshlet's default. */
export interface PoolSpec {
  /** tcp.maxConnections: upstream connections in use by this cluster, sidecar-wide */
  maxConnections: number;
  connectTimeoutMs: number;
  /** http.http1MaxPendingRequests: requests waiting for a connection, sidecar-wide */
  maxPendingRequests: number;
  /** http.http2MaxRequests: requests in flight to this cluster, sidecar-wide */
  maxRequests: number;
  /** 0 = unlimited */
  maxRequestsPerConnection: number;
  /** http.maxRetries: retries in flight to this cluster, sidecar-wide */
  maxRetries: number;
  idleTimeoutMs: number;
  /** http.h2UpgradePolicy UPGRADE: an HTTP port's endpoints are reached over HTTP/2 (DEFAULT is the mesh default, DO_NOT_UPGRADE) */
  h2Upgrade: boolean;
  /** http.maxConcurrentStreams: streams per upstream HTTP/2 connection; 0 = the peer's SETTINGS_MAX_CONCURRENT_STREAMS */
  maxConcurrentStreams: number;
  /** http.useClientProtocol: each request goes upstream in the protocol the client spoke (h2UpgradePolicy is then ignored) */
  useClientProtocol: boolean;
  /** tcp.idleTimeout of proxied TCP connections and WebSockets; absent: Istio's 1 h; 0: none */
  tcpIdleTimeoutMs?: number;
  /** tcp.tcpKeepalive of upstream connections; absent or null: not set (the OS default: off) */
  tcpKeepalive?: TcpKeepaliveSpec | null;
  /** tcp.maxConnectionDuration of proxied TCP connections and WebSockets; absent or 0: none */
  maxConnectionDurationMs?: number;
}

/** DestinationRule connectionPool.tcp.tcpKeepalive; 0 = the OS default for that setting. */
export interface TcpKeepaliveSpec {
  probes: number;
  timeMs: number;
  intervalMs: number;
}

/** Istio's default connectionPool.tcp.idleTimeout: 1 hour. */
export const DEFAULT_TCP_IDLE_TIMEOUT_MS = 3_600_000;

/** DestinationRule outlierDetection with Envoy's defaults where Istio leaves a field unset. */
export interface OutlierSpec {
  /** 0 = off */
  consecutive5xx: number;
  /** 0 = off */
  consecutiveGateway: number;
  intervalMs: number;
  baseEjectionMs: number;
  maxEjectionPercent: number;
  /** below this share of healthy endpoints, balance over all of them (Envoy's panic threshold); 0 = never */
  minHealthPercent: number;
}

export interface EndpointSpec {
  address: string;
  port: number;
  labels: Record<string, string>;
  /** weight from ServiceEntry endpoint / WorkloadEntry, default 1 */
  weight: number;
  /** `WorkloadEntry/<ns>/<name>` or `ServiceEntry/<ns>/<name>#<i>` */
  source: string;
  /** slot of (cluster, endpoint) in the sidecar-wide shared state; assigned by the control thread (-1 before) */
  slot: number;
  /** expected peer identity `spiffe://<trust domain>/ns/<ns>/sa/<serviceAccount>`; null when none is declared */
  serviceAccount: string | null;
  /**
   * the SPIFFE identity a registered workload serves with (WorkloadEntry annotation
   * meshlet.io/spiffe-id, written by the registering sidecar): auto mTLS originates ISTIO_MUTUAL to
   * it and verifies exactly this identity. Null/absent: not a mesh workload (plaintext unless the
   * DestinationRule sets tls).
   */
  meshIdentity?: string | null;
  network?: string | null;
  locality?: string | null;
}

export interface ClusterSpec {
  id: number;
  /** Envoy style: `outbound|<port>|<subset>|<host>` or `inbound|<port>||` */
  name: string;
  host: string;
  subset: string | null;
  port: number;
  lb: LbPolicy;
  /** consistent hashing (replaces lb) or null */
  hash: HashSpec | null;
  /** slow start window, 0 = off */
  warmupMs: number;
  pool: PoolSpec;
  outlier: OutlierSpec | null;
  endpoints: EndpointSpec[];
  /** slot in the sidecar-wide shared state; assigned by the control thread (-1 before) */
  slot: number;
  /** DestinationRule TLS origination (ISTIO_MUTUAL); null: plaintext */
  tls: ClusterTlsSpec | null;
  /** no DestinationRule tls applies to this cluster: endpoints with a meshIdentity get ISTIO_MUTUAL (Istio's auto mTLS) */
  autoMtls?: boolean;
  /**
   * endpoints are reached over HTTP/2 (h2c, or TLS with ALPN h2): the port's protocol is HTTP2, GRPC
   * or GRPC-WEB (config/protocol.ts), or the DestinationRule upgrades it (h2UpgradePolicy: UPGRADE)
   */
  http2?: boolean;
  /** DestinationRule useClientProtocol: endpoints have an HTTP/1.1 and an HTTP/2 pool; each request takes its client's protocol */
  clientProtocol?: boolean;
}

export type Direction = 'outbound' | 'inbound';

/**
 * How a listener's connections are served: HTTP/1.1 requests (http), bytes proxied to one
 * destination (tcp), the TLS ClientHello's SNI choosing the destination, then bytes (tls), or — on
 * a port whose protocol is not declared — HTTP when the first bytes are an HTTP request, else tcp
 * (auto: Istio's protocol sniffing).
 */
export type ListenerTraffic = 'http' | 'tcp' | 'tls' | 'auto';

/**
 * A VirtualService `tcp[]` / `tls[]` rule, or a ServiceEntry's default route, of one TCP or TLS
 * listener. The first route that takes a connection decides its destination.
 */
export interface TcpRouteSpec {
  /** `<vs-name>.tcp.<i>` / `<vs-name>.tls.<i>`, or `default` */
  name: string;
  /** `VirtualService/<ns>/<name>` or `ServiceEntry/<ns>/<name>` */
  source: string;
  /** tls: the SNI names this route takes (lower-case; exact, `*.suffix`, or `*` for any); tcp: empty (every connection) */
  sniHosts: string[];
  destinations: WeightedDestinationSpec[];
  /** sum of destination weights (> 0) */
  totalWeight: number;
}

export interface ListenerSpec {
  /** `<direction>_<bind>_<port>` or the Sidecar port name */
  name: string;
  direction: Direction;
  bind: string;
  port: number;
  protocol: string;
  /** inbound only: the cluster that forwards to the local app (defaultEndpoint) */
  inboundClusterId: number;
  /** inbound: PeerAuthentication mode for this port (Istio default PERMISSIVE); outbound: DISABLE */
  mtlsMode: MtlsMode;
  /** append the client address to x-forwarded-for (Sidecar annotation meshlet.io/forwarded-for: append; Istio's sidecars do not) */
  appendForwardedFor: boolean;
  /** absent: 'http' */
  traffic?: ListenerTraffic;
  /** outbound tcp / tls listeners: their routes, first match wins (empty: connections are closed, NR) */
  tcpRoutes?: TcpRouteSpec[];
}

/** A ServiceEntry selecting workloads by label (what a sidecar's inbound traffic is for, src/telemetry/services.ts). */
export interface ServiceSelectorSpec {
  /** the first host, as a cluster names it (short names completed to name.namespace.svc.cluster.local) */
  host: string;
  namespace: string;
  selector: Record<string, string>;
}

export interface Snapshot {
  generation: number;
  listeners: ListenerSpec[];
  virtualHosts: VirtualHostSpec[];
  clusters: ClusterSpec[];
  /** AuthorizationPolicies for inbound requests; null when there are none (authz skipped) */
  authz: AuthzSpec | null;
  /** ServiceEntries with a workloadSelector, in file order */
  services?: ServiceSelectorSpec[];
  /** Telemetry resources, in file order; absent when there are none */
  telemetry?: TelemetrySpec[];
  /** every RequestAuthentication's jwtRules, in file order; absent when there are none (no JWT filter) */
  jwtRules?: JwtRuleSpec[];
}
