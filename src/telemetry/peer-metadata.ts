// Istio's HTTP metadata exchange: `x-envoy-peer-metadata-id` (the node id) and
// `x-envoy-peer-metadata` (base64 of a google.protobuf.Struct with NAME, NAMESPACE, WORKLOAD_NAME,
// CLUSTER_ID, LABELS{app, version, service.istio.io/canonical-*}, OWNER), encoded by protobufjs as
// Istio's peer_metadata filter does, plus SERVICE_ACCOUNT: a peer's metadata is believed only when
// it arrived over mTLS from the identity `.../ns/<NAMESPACE>/sa/<SERVICE_ACCOUNT>` it names, so a
// sidecar that does not send SERVICE_ACCOUNT (Envoy) is read as a peer without metadata.
import protobuf from 'protobufjs';
import { CANONICAL_NAME_LABEL, CANONICAL_REVISION_LABEL, type WorkloadMeta } from './workload.js';

export const PEER_METADATA_HEADER = 'x-envoy-peer-metadata';
export const PEER_METADATA_ID_HEADER = 'x-envoy-peer-metadata-id';
/** a value longer than this is not decoded (Istio's are a few hundred bytes) */
export const MAX_METADATA_CHARS = 4096;
/** strings taken from a peer are cut to this length (Kubernetes names are at most 253) */
const MAX_FIELD = 253;
/** the labels a peer's metadata is read for (Istio reads these four) */
const PEER_LABELS = ['app', 'version', CANONICAL_NAME_LABEL, CANONICAL_REVISION_LABEL];

const Struct = protobuf.Root.fromJSON(protobuf.common.get('google/protobuf/struct.proto') as protobuf.INamespace).lookupType('google.protobuf.Struct');

interface StructValue { stringValue?: string; structValue?: { fields?: Record<string, StructValue> } }

function sortedFields(entries: [string, StructValue][]): Record<string, StructValue> {
  // deterministic, as Istio serialises it: map entries by key
  return Object.fromEntries(entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
}

/** The two header values this sidecar sends, computed once at start. */
export interface OwnMetadata {
  id: string;
  value: string;
}

export function encodeOwnMetadata(w: WorkloadMeta, address: string): OwnMetadata {
  const str = (s: string): StructValue => ({ stringValue: s });
  const labels: [string, StructValue][] = [];
  for (const k of Object.keys(w.labels).sort()) labels.push([k, str(w.labels[k] as string)]);
  const fields: [string, StructValue][] = [['LABELS', { structValue: { fields: sortedFields(labels) } }]];
  if (w.instance !== '') fields.push(['NAME', str(w.instance)]);
  if (w.namespace !== '') fields.push(['NAMESPACE', str(w.namespace)]);
  if (w.name !== '') fields.push(['WORKLOAD_NAME', str(w.name)]);
  if (w.cluster !== '') fields.push(['CLUSTER_ID', str(w.cluster)]);
  if (w.serviceAccount !== '') fields.push(['SERVICE_ACCOUNT', str(w.serviceAccount)]);
  if (w.name !== '' && w.namespace !== '') fields.push(['OWNER', str(`kubernetes://apis/apps/v1/namespaces/${w.namespace}/deployments/${w.name}`)]);
  const bytes = Struct.encode(Struct.fromObject({ fields: sortedFields(fields) })).finish();
  const ns = w.namespace === '' ? 'default' : w.namespace;
  return {
    id: `sidecar~${address}~${w.instance === '' ? w.name : w.instance}.${ns}~${ns}.svc.cluster.local`,
    value: Buffer.from(bytes).toString('base64'),
  };
}

function cut(v: unknown): string {
  if (typeof v !== 'string') return '';
  return v.length > MAX_FIELD ? v.slice(0, MAX_FIELD) : v;
}

/**
 * A peer's header value → its workload; null when it is not base64 of a Struct (or too long).
 * Never throws: the value comes from the network.
 */
export function decodePeerMetadata(value: string): WorkloadMeta | null {
  if (value.length === 0 || value.length > MAX_METADATA_CHARS) return null;
  let fields: Record<string, StructValue>;
  try {
    const msg = Struct.decode(Buffer.from(value, 'base64'));
    fields = (Struct.toObject(msg, { defaults: false }) as { fields?: Record<string, StructValue> }).fields ?? {};
  } catch {
    return null; // malformed protobuf, or nesting past protobufjs's depth limit
  }
  const labels: Record<string, string> = {};
  const raw = fields.LABELS?.structValue?.fields;
  if (raw !== undefined) {
    for (const k of PEER_LABELS) {
      const v = raw[k]?.stringValue;
      if (typeof v === 'string') labels[k] = cut(v);
    }
  }
  return {
    name: cut(fields.WORKLOAD_NAME?.stringValue),
    namespace: cut(fields.NAMESPACE?.stringValue),
    instance: cut(fields.NAME?.stringValue),
    labels,
    serviceAccount: cut(fields.SERVICE_ACCOUNT?.stringValue),
    cluster: cut(fields.CLUSTER_ID?.stringValue),
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
