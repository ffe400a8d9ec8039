// The typed form of each resource after validation: what the validators return and what the
// compiler reads. Parts that map one-to-one to the snapshot reuse the snapshot's types.
import type { Resource } from './resource.js';
import type { Checker } from './validate/checker.js';
import type { HeadersModel } from './validate/header-ops.js';
import type {
  DirectResponseSpec, Direction, FaultSpec, HashSpec, HeaderOpsSpec, LbPolicy, MatchSpec, OutlierSpec, PoolSpec, RedirectSpec, RetrySpec, RewriteSpec,
} from './snapshot.js';
import type { AuthzAction, CompiledPolicy } from './security-spec.js';
import type { TelemetryModel } from './validate/telemetry.js';
import type { RequestAuthenticationModel } from './validate/request-authentication.js';

export type { TelemetryModel } from './validate/telemetry.js';
export type { RequestAuthenticationModel } from './validate/request-authentication.js';

export interface DestinationModel {
  /** host as written */
  host: string;
  subset: string | null;
  /** destination.port.number, null when not given */
  port: number | null;
  /** effective relative weight (defaults applied) */
  weight: number;
  headers: HeadersModel | null;
  /** path of this `route[]` entry, e.g. `spec.http[0].route[1]` */
  path: string;
}

export interface HttpRuleModel {
  name: string | null;
  path: string;
  matches: MatchSpec[];
  /** no match block, or a match entry without conditions: takes every request */
  catchAll: boolean;
  route: DestinationModel[] | null;
  redirect: RedirectSpec | null;
  directResponse: DirectResponseSpec | null;
  rewrite: RewriteSpec | null;
  requestHeaders: HeaderOpsSpec | null;
  responseHeaders: HeaderOpsSpec | null;
  timeoutMs: number;
  retries: RetrySpec;
  fault: FaultSpec | null;
  mirrors: MirrorModel[];
}

/** A mirror destination as written (`mirror` or `mirrors[].destination`), percentage defaulted. */
export interface MirrorModel {
  host: string;
  subset: string | null;
  port: number | null;
  /** 0..100 */
  percent: number;
  /** path of the destination block, e.g. `spec.http[0].mirror` or `spec.http[0].mirrors[1].destination` */
  path: string;
}

/** One VirtualService `tcp[]` or `tls[]` rule (Istio TCPRoute / TLSRoute). */
export interface L4RuleModel {
  /** path of the rule, e.g. `spec.tcp[0]` */
  path: string;
  /** `match[]` entries; empty = every connection (tcp only: tls rules need a match) */
  matches: L4MatchModel[];
  route: DestinationModel[];
}

export interface L4MatchModel {
  /** 0 = any port */
  port: number;
  /** tls: lower-case SNI names (exact, `*.suffix`, or `*`); tcp: empty */
  sniHosts: string[];
}

export interface VirtualServiceModel {
  kind: 'VirtualService';
  hosts: { value: string; path: string }[];
  http: HttpRuleModel[];
  tcp: L4RuleModel[];
  tls: L4RuleModel[];
}

export interface SubsetModel {
  name: string;
  labels: Record<string, string>;
  /** null when the subset sets no trafficPolicy (the rule's applies) */
  policy: TrafficPolicyModel | null;
  path: string;
}

/** One trafficPolicy: each component null when not set at this level (Istio merges per component). */
export interface TrafficPolicyModel {
  lb: LbModel | null;
  pool: PoolModel | null;
  outlier: OutlierModel | null;
  /** portLevelSettings: a port's components replace the level's, never merge into them */
  ports: { port: number; policy: TrafficPolicyModel }[];
}

export interface LbModel {
  simple: LbPolicy;
  hash: HashModel | null;
  /** slow start window (warmupDurationSecs), 0 = off */
  warmupMs: number;
}

export type HashModel = HashSpec;
export type PoolModel = PoolSpec;
export type OutlierModel = OutlierSpec;

export interface DestinationRuleModel {
  kind: 'DestinationRule';
  host: string;
  /** trafficPolicy.tls at rule, subset and port level (validate/destination-rule-tls.ts) */
  tls: DestinationRuleTlsModel;
  policy: TrafficPolicyModel | null;
  /** meshlet extension (annotation meshlet.io/load-balancer: peak-ewma): the default balancer is peak-EWMA */
  peakEwma: boolean;
  subsets: SubsetModel[];
}

export interface ServicePortModel {
  number: number;
  name: string | null;
  protocol: string | null;
  targetPort: number | null;
}

/** A ServiceEntry endpoint or a WorkloadEntry spec. */
export interface WorkloadModel {
  address: string;
  /** port name → port number */
  ports: Record<string, number>;
  labels: Record<string, string>;
  /** >= 1 (Istio: 0/unset means 1) */
  weight: number;
  /** Kubernetes service account the workload runs as; null when not declared */
  serviceAccount: string | null;
  /** Istio network and locality (`region/zone/subzone`), carried to the endpoint; null when not set */
  network?: string | null;
  locality?: string | null;
}

export type ResolutionMode = 'NONE' | 'STATIC' | 'DNS' | 'DNS_ROUND_ROBIN';

export interface ServiceEntryModel {
  kind: 'ServiceEntry';
  hosts: string[];
  /** `addresses` as written (IPs and CIDR ranges, valid ones) */
  addresses: string[];
  ports: ServicePortModel[];
  resolution: ResolutionMode;
  endpoints: WorkloadModel[];
  /** workloadSelector.labels; null when endpoints are listed instead */
  selector: Record<string, string> | null;
}

export interface WorkloadEntryModel extends WorkloadModel {
  kind: 'WorkloadEntry';
}

export interface SidecarListenerModel {
  direction: Direction;
  /** null for the catch-all egress listener (no port) */
  port: { number: number; protocol: string | null; name: string | null } | null;
  bind: string | null;
  /** ingress only */
  defaultEndpoint: { address: string; port: number } | null;
  /** egress only: `namespace/host` entries as written (valid ones) */
  hosts: string[];
  path: string;
}

export interface SidecarModel {
  kind: 'Sidecar';
  listeners: SidecarListenerModel[];
  /** meshlet.io/forwarded-for: append — its listeners append the client address to x-forwarded-for */
  appendForwardedFor: boolean;
}

export type TlsModeSetting = 'DISABLE' | 'SIMPLE' | 'MUTUAL' | 'ISTIO_MUTUAL';

/** One `tls` block (ClientTLSSettings) as written. */
export interface TlsSettingsModel {
  mode: TlsModeSetting;
  subjectAltNames: string[];
  sni: string | null;
}

/** The tls of one trafficPolicy: its own, and per port (a port entry without tls means none: no inheritance). */
export interface PolicyTlsModel {
  tls: TlsSettingsModel | null;
  ports: { port: number; tls: TlsSettingsModel | null }[];
}

export interface DestinationRuleTlsModel {
  top: PolicyTlsModel;
  /** subset name → its trafficPolicy's tls (absent: the subset sets no trafficPolicy) */
  subsets: Record<string, PolicyTlsModel>;
}

export type MtlsModeSetting = 'UNSET' | 'DISABLE' | 'PERMISSIVE' | 'STRICT';

export interface PeerAuthenticationModel {
  kind: 'PeerAuthentication';
  /** selector.matchLabels; null when the policy has no selector (namespace- or mesh-wide) */
  selector: Record<string, string> | null;
  mode: MtlsModeSetting;
  /** portLevelMtls, in the order written */
  ports: { port: number; mode: MtlsModeSetting }[];
}

export interface AuthorizationPolicyModel {
  kind: 'AuthorizationPolicy';
  /** null when the policy does not apply to a sidecar (targetRef) or cannot be enforced (CUSTOM) */
  action: AuthzAction | null;
  policy: CompiledPolicy;
}

export type Model =
  | VirtualServiceModel | DestinationRuleModel | ServiceEntryModel | WorkloadEntryModel | SidecarModel
  | PeerAuthenticationModel | AuthorizationPolicyModel | TelemetryModel | RequestAuthenticationModel;

/** A resource with its typed model and the checker its issues go to. */
export interface Parsed<M extends Model = Model> {
  res: Resource;
  ck: Checker;
  model: M;
}
