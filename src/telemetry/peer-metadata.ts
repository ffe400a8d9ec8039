// Istio's HTTP metadata exchange: `x-envoy-peer-metadata-id` (the node id) and
// `x-envoy-peer-metadata` (base64 of a google.protobuf.Struct with NAME, NAMESPACE, WORKLOAD_NAME,
// CLUSTER_ID, LABELS{app, version, service.istio.io/canonical-*}, OWNER), encoded (struct-wire.ts)
// as Istio's peer_metadata filter does, plus SERVICE_ACCOUNT: a peer's metadata is believed only when
// it arrived over mTLS from the identity `.../ns/<NAMESPACE>/sa/<SERVICE_ACCOUNT>` it names, so a
// sidecar that does not send SERVICE_ACCOUNT (Envoy) is read as a peer without metadata.
import { decodeStruct, encodeStruct, type StructIn, type StructOut } from './struct-wire.js';
import { CANONICAL_NAME_LABEL, CANONICAL_REVISION_LABEL, type WorkloadMeta } from './workload.js';

export const PEER_METADATA_HEADER = 'x-envoy-peer-metadata';
export const PEER_METADATA_ID_HEADER = 'x-envoy-peer-metadata-id';
/** a value longer than this is not decoded (Istio's are a few hundred bytes) */
export const MAX_METADATA_CHARS = 4096;
/** strings taken from a peer are cut to this length (Kubernetes names are at most 253) */
const MAX_FIELD = 253;
/** the labels a peer's metadata is read for (Istio reads these four) */
const PEER_LABELS = ['app', 'version', CANONICAL_NAME_LABEL, CANONICAL_REVISION_LABEL];

function sortedFields(entries: StructOut): StructOut {
  // deterministic, as Istio serialises it: map entries by key
  return entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** The two header values this sidecar sends, computed once at start. */
export interface OwnMetadata {
  id: string;
  value: string;
}

export function encodeOwnMetadata(w: WorkloadMeta, address: string): OwnMetadata {
  const labels: StructOut = [];
  for (const k of Object.keys(w.labels)) labels.push([k, w.labels[k] as string]);
  const fields: StructOut = [['LABELS', sortedFields(labels)]];
  if (w.instance !== '') fields.push(['NAME', w.instance]);
  if (w.namespace !== '') fields.push(['NAMESPACE', w.namespace]);
  if (w.name !== '') fields.push(['WORKLOAD_NAME', w.name]);
  if (w.cluster !== '') fields.push(['CLUSTER_ID', w.cluster]);
  if (w.serviceAccount !== '') fields.push(['SERVICE_ACCOUNT', w.serviceAccount]);
  if (w.name !== '' && w.namespace !== '') fields.push(['OWNER', `kubernetes://apis/apps/v1/namespaces/${w.namespace}/deployments/${w.name}`]);
  const bytes = encodeStruct(sortedFields(fields));
  const ns = w.namespace === '' ? 'default' : w.namespace;
  return {
    id: `sidecar~${address}~${w.instance === '' ? w.name : w.instance}.${ns}~${ns}.svc.cluster.local`,
    value: Buffer.from(bytes).toString('base64'),
  };
}

function cut(v: string | StructIn | undefined): string {
  if (typeof v !== 'string') return '';
  return v.length > MAX_FIELD ? v.slice(0, MAX_FIELD) : v;
}

/**
 * A peer's header value → its workload; null when it is not base64 of a Struct (or too long).
 * Never throws: the value comes from the network.
 */
export function decodePeerMetadata(value: string): WorkloadMeta | null {
  if (value.length === 0 || value.length > MAX_METADATA_CHARS) return null;
  const fields = decodeStruct(Buffer.from(value, 'base64'));
  if (fields === null) return null; // malformed protobuf
  const labels: Record<string, string> = {};
  const raw = fields.LABELS;
  if (raw !== undefined && typeof raw !== 'string') {
    for (const k of PEER_LABELS) {
      const v = raw[k];
      if (typeof v === 'string') labels[k] = cut(v);
    }
  }
  return {
    name: cut(fields.WORKLOAD_NAME),
    namespace: cut(fields.NAMESPACE),
    instance: cut(fields.NAME),
    labels,
    serviceAccount: cut(fields.SERVICE_ACCOUNT),
    cluster: cut(fields.CLUSTER_ID),
  };
}

/**
 * Whether `meta` may be believed from a connection whose verified peer identity is `principal`
 * (`spiffe://td/ns/<ns>/sa/<sa>`): only over mTLS, and only for the namespace and service account
 * the certificate names.
 */
export function metadataMatchesPrincipal(meta: WorkloadMeta, principal: string | null): boolean {
  if (principal === null || principal === '' || meta.namespace === '' || meta.serviceAccount === '') return false;
  const ns = principal.indexOf('/ns/');
  if (ns < 0) return false;
  const sa = principal.indexOf('/sa/', ns + 4);
  if (sa < 0) return false;
  return principal.slice(ns + 4, sa) === meta.namespace && principal.slice(sa + 4) === meta.serviceAccount;
}
