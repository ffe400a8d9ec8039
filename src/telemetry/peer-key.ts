// The interned text of a stats peer id: what the control thread needs to label a record's far end
// (src/stats/labels.ts PeerLabels), written once per distinct peer by a worker and read once per
// id by the aggregator. `P<principal>` alone, or `W` + the workload fields and the principal,
// separated by U+001F (a control character no label value of a peer can carry: it is cut there).
import type { PeerLabels } from '../stats/labels.js';
import type { WorkloadLabels } from './workload.js';

const SEP = '\u001f';

function clean(s: string): string {
  const i = s.indexOf(SEP);
  return i < 0 ? s : s.slice(0, i);
}

export function encodePeer(w: WorkloadLabels | null, principal: string): string {
  if (w === null) return `P${clean(principal)}`;
  return ['W' + clean(w.workload), w.namespace, w.app, w.version, w.canonicalService, w.canonicalRevision, w.cluster, principal].map(clean).join(SEP);
}

/** The peer of an interned string; null when it is not a peer key. */
export function decodePeer(s: string): PeerLabels | null {
  if (s.startsWith('P')) return { workload: null, principal: s.slice(1) };
  if (!s.startsWith('W')) return null;
  const f = s.slice(1).split(SEP);
  if (f.length !== 8) return null;
  const [workload, namespace, app, version, canonicalService, canonicalRevision, cluster, principal] = f as [string, string, string, string, string, string, string, string];
  return { workload: { workload, namespace, app, version, canonicalService, canonicalRevision, cluster }, principal };
}
