// One Istio resource as read from YAML, before validation: where it came from, who it is, and its
// raw `spec`. Also the list of kinds and API versions meshlet handles.

export const HANDLED_KINDS = [
  'Sidecar', 'ServiceEntry', 'WorkloadEntry', 'DestinationRule', 'VirtualService', 'PeerAuthentication', 'AuthorizationPolicy',
  'Telemetry', 'RequestAuthentication',
] as const;
export type ResourceKind = (typeof HANDLED_KINDS)[number];

export const HANDLED_GROUP = 'networking.istio.io';
export const HANDLED_VERSIONS: readonly string[] = ['v1alpha3', 'v1beta1', 'v1'];
/** security.istio.io kinds and the versions meshlet reads for them */
export const SECURITY_GROUP = 'security.istio.io';
export const SECURITY_KINDS: readonly string[] = ['PeerAuthentication', 'AuthorizationPolicy', 'RequestAuthentication'];
export const SECURITY_VERSIONS: readonly string[] = ['v1beta1', 'v1'];
/** telemetry.istio.io: Telemetry */
export const TELEMETRY_GROUP = 'telemetry.istio.io';
export const TELEMETRY_VERSIONS: readonly string[] = ['v1alpha1', 'v1'];

export interface Resource {
  kind: ResourceKind;
  apiVersion: string;
  name: string;
  /** metadata.namespace, "default" when absent */
  namespace: string;
  /** metadata.annotations (string values) */
  annotations?: Record<string, string>;
  /** `spec` exactly as parsed from YAML (unknown shape until validated) */
  spec: unknown;
  /** file name as given, or `<apply>` */
  file: string;
  /** 0-based index of the YAML document in the file */
  doc: number;
}

export function isHandled(kind: string, apiVersion: string): kind is ResourceKind {
  const slash = apiVersion.indexOf('/');
  const group = apiVersion.slice(0, slash);
  const version = apiVersion.slice(slash + 1);
  if (SECURITY_KINDS.includes(kind)) return group === SECURITY_GROUP && SECURITY_VERSIONS.includes(version);
  if (kind === 'Telemetry') return group === TELEMETRY_GROUP && TELEMETRY_VERSIONS.includes(version);
  return (HANDLED_KINDS as readonly string[]).includes(kind) && group === HANDLED_GROUP && HANDLED_VERSIONS.includes(version);
}

/** `Kind/name`, the resource label used in every issue. */
export function resourceLabel(r: { kind: string; name: string }): string {
  return `${r.kind}/${r.name}`;
}

/** `Kind/namespace/name`, unique per resource. */
export function resourceKey(r: { kind: string; namespace: string; name: string }): string {
  return `${r.kind}/${r.namespace}/${r.name}`;
}
