// The sidecar's own workload, as Istio's node metadata describes it: name, namespace, labels, service
// account and cluster. It comes from `--register FILE` (the WorkloadEntry) or from `--workload
// NAME.NAMESPACE` / `--workload-label k=v` when the sidecar runs without a store; what the metrics
// and the metadata exchange read from it (app, version, canonical service and revision) is derived
// here once, with Istio's defaults.
import { isDnsLabel, isDnsSubdomain } from '../config/validate/values.js';

/** Istio's CLUSTER_ID when none is set (istiod's default cluster name). */
export const DEFAULT_CLUSTER_ID = 'Kubernetes';
export const CANONICAL_NAME_LABEL = 'service.istio.io/canonical-name';
export const CANONICAL_REVISION_LABEL = 'service.istio.io/canonical-revision';

/** One workload (this sidecar's own, or a peer's as learned from the metadata exchange). */
export interface WorkloadMeta {
  /** workload name (a Deployment's name in Kubernetes); '' when unknown */
  name: string;
  /** '' when unknown */
  namespace: string;
  /** instance (pod / sidecar) name */
  instance: string;
  labels: Record<string, string>;
  /** '' when unknown */
  serviceAccount: string;
  /** Istio CLUSTER_ID; '' when unknown */
  cluster: string;
}

/** What the standard metric labels read from one workload, with Istio's defaults applied. */
export interface WorkloadLabels {
  workload: string;
  namespace: string;
  app: string;
  version: string;
  canonicalService: string;
  canonicalRevision: string;
  cluster: string;
}

/**
 * Istio's injector defaults: the canonical service is the canonical-name label, else
 * app.kubernetes.io/name, else app, else the workload name; the revision is the canonical-revision
 * label, else app.kubernetes.io/version, else version, else "latest".
 */
export function workloadLabels(w: WorkloadMeta): WorkloadLabels {
  const l = w.labels;
  return {
    workload: w.name,
    namespace: w.namespace,
    app: l.app ?? '',
    version: l.version ?? '',
    canonicalService: l[CANONICAL_NAME_LABEL] ?? l['app.kubernetes.io/name'] ?? l.app ?? w.name,
    canonicalRevision: l[CANONICAL_REVISION_LABEL] ?? l['app.kubernetes.io/version'] ?? l.version ?? 'latest',
    cluster: w.cluster,
  };
}

export function emptyWorkload(): WorkloadMeta {
  return { name: '', namespace: '', instance: '', labels: {}, serviceAccount: '', cluster: '' };
}

/** Whether anything identifies the workload (otherwise meshlet sends no metadata). */
export function workloadKnown(w: WorkloadMeta): boolean {
  return w.name !== '' && w.namespace !== '';
}

/** `--workload NAME.NAMESPACE` (a bare NAME is in namespace "default"). */
export function parseWorkloadFlag(value: string): { name: string; namespace: string } {
  const dot = value.lastIndexOf('.');
  const name = dot < 0 ? value : value.slice(0, dot);
  const namespace = dot < 0 ? 'default' : value.slice(dot + 1);
  if (!isDnsSubdomain(name)) throw new Error(`--workload: expected NAME.NAMESPACE (DNS labels, e.g. reviews-v1.default), got "${value}"`);
  if (!isDnsLabel(namespace)) throw new Error(`--workload: "${namespace}" is not a valid namespace (lowercase letters, digits and '-')`);
  return { name, namespace };
}

const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/** `--workload-label KEY=VALUE` (Kubernetes label syntax), repeatable. */
export function parseWorkloadLabels(values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    const key = eq < 0 ? '' : v.slice(0, eq);
    const value = eq < 0 ? '' : v.slice(eq + 1);
    if (eq < 0 || !LABEL_KEY.test(key)) throw new Error(`--workload-label: expected KEY=VALUE with a Kubernetes label key, got "${v}"`);
    if (!LABEL_VALUE.test(value)) throw new Error(`--workload-label ${key}: "${value}" is not a valid label value (up to 63 of [A-Za-z0-9-_.], alphanumeric at both ends)`);
    out[key] = value;
  }
  return out;
}

/**
 * The workload from its parts; `spiffe` (the sidecar's identity) fills the namespace and service
 * account when they are not given, and a mismatch with them is reported (peers would refuse the
 * metadata, which must name the identity's namespace and service account).
 */
export function buildWorkload(parts: {
  name: string; namespace: string; labels: Record<string, string>; instance: string; cluster: string;
  serviceAccount?: string | null; spiffe?: { namespace?: string; serviceAccount?: string } | null;
}): { workload: WorkloadMeta; warnings: string[] } {
  const warnings: string[] = [];
  const id = parts.spiffe ?? null;
  let serviceAccount = parts.serviceAccount ?? '';
  if (id?.serviceAccount !== undefined) {
    if (serviceAccount !== '' && serviceAccount !== id.serviceAccount) {
      warnings.push(`the workload's service account "${serviceAccount}" is not the identity's ("${id.serviceAccount}"): peers accept metadata only for the identity's, so "${id.serviceAccount}" is used`);
    }
    serviceAccount = id.serviceAccount;
  }
  if (id?.namespace !== undefined && parts.namespace !== '' && id.namespace !== parts.namespace) {
    warnings.push(`the workload's namespace "${parts.namespace}" is not the identity's ("${id.namespace}"): peers will not trust this sidecar's workload metadata`);
  }
  return {
    workload: { name: parts.name, namespace: parts.namespace, instance: parts.instance, labels: { ...parts.labels }, serviceAccount, cluster: parts.cluster },
    warnings,
  };
}
