// One Istio resource as read from YAML, before validation: where it came from, who it is, and its
// raw `spec`. Also the list of kinds and API versions meshlet handles.

export const HANDLED_KINDS = ['Sidecar', 'ServiceEntry', 'WorkloadEntry', 'DestinationRule', 'VirtualService'] as const;
export type ResourceKind = (typeof HANDLED_KINDS)[number];

export const HANDLED_GROUP = 'networking.istio.io';
export const HANDLED_VERSIONS: readonly string[] = ['v1alpha3', 'v1beta1', 'v1'];

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
  return (
    (HANDLED_KINDS as readonly string[]).includes(kind) &&
    apiVersion.slice(0, slash) === HANDLED_GROUP &&
    HANDLED_VERSIONS.includes(apiVersion.slice(slash + 1))
  );
}

/** `Kind/name`, the resource label used in every issue. */
export function resourceLabel(r: { kind: string; name: string }): string {
  return `${r.kind}/${r.name}`;
}

/** `Kind/namespace/name`, unique per resource. */
export function resourceKey(r: { kind: string; namespace: string; name: string }): string {
  return `${r.kind}/${r.namespace}/${r.name}`;
}
