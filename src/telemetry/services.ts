// The service a sidecar's inbound traffic is for: the first ServiceEntry whose workloadSelector
// selects this workload (its namespace and labels), as Istio's inbound cluster names the Service
// selecting the pod. Null when none does (or the workload is not known): metrics then name the
// request's Host, as Istio's stats filter falls back to it.
import type { Snapshot } from '../config/snapshot.js';
import type { WorkloadMeta } from './workload.js';

export function selectedService(snapshot: Snapshot, self: WorkloadMeta): string | null {
  if (self.namespace === '') return null;
  for (const s of snapshot.services ?? []) {
    if (s.namespace !== self.namespace) continue;
    const keys = Object.keys(s.selector);
    if (keys.length > 0 && keys.every((k) => self.labels[k] === s.selector[k])) return s.host;
  }
  return null;
}
