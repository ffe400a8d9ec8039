// PeerAuthentication precedence, as Istio: workload-specific (selector) over namespace-wide over
// mesh-wide (root namespace, no selector); UNSET inherits the level below; Istio's default is
// PERMISSIVE. One policy per level (Istio keeps the oldest, meshlet the first in file order).
import type { PlannedListener } from './listeners.js';
import { ROOT_NAMESPACE } from './identity.js';
import type { MtlsModeSetting, Parsed, PeerAuthenticationModel } from './model.js';
import type { MtlsMode } from './security-spec.js';

type PA = Parsed<PeerAuthenticationModel>;

export interface PeerAuthnPlan {
  mesh: PA | null;
  namespace: PA | null;
  workload: PA | null;
}

const LEVELS = { mesh: 'mesh-wide', namespace: 'namespace-wide', workload: 'workload-specific' } as const;

/** Picks the policy of each level; later ones get a warning (reported during validation). */
export function planPeerAuthn(list: readonly PA[], listeners: readonly PlannedListener[]): PeerAuthnPlan {
  const plan: PeerAuthnPlan = { mesh: null, namespace: null, workload: null };
  for (const pa of list) {
    const root = pa.res.namespace === ROOT_NAMESPACE;
    if (root && pa.model.selector !== null) continue; // ignored, warned by the validator
    const level = pa.model.selector !== null ? 'workload' : root ? 'mesh' : 'namespace';
    const first = plan[level];
    if (first === null) plan[level] = pa;
    else pa.ck.warn('spec', `PeerAuthentication/${first.res.namespace}/${first.res.name} already sets the ${LEVELS[level]} mode (Istio keeps the oldest, meshlet the first): this one is ignored`);
  }
  const inbound = listeners.filter((l) => l.direction === 'inbound');
  const wl = plan.workload;
  wl?.model.ports.forEach((p) => {
    if (!inbound.some((l) => l.port === p.port || l.defaultEndpoint?.port === p.port)) {
      wl.ck.warn(`spec.portLevelMtls.${p.port}`, `port ${p.port} is neither an inbound listener port (Sidecar ingress) nor its app port: no effect`);
    }
  });
  return plan;
}

const set = (m: MtlsModeSetting | undefined): m is MtlsMode => m !== undefined && m !== 'UNSET';

/** The mode of an inbound listener: its port (or the app port behind it) may have a port-level mode. */
export function mtlsModeFor(plan: PeerAuthnPlan, l: PlannedListener): MtlsMode {
  if (l.direction !== 'inbound') return 'DISABLE';
  let mode: MtlsMode = 'PERMISSIVE';
  for (const pa of [plan.mesh, plan.namespace, plan.workload]) {
    if (pa !== null && set(pa.model.mode)) mode = pa.model.mode;
  }
  const ports = plan.workload?.model.ports ?? [];
  const port = ports.find((p) => p.port === l.port) ?? ports.find((p) => p.port === l.defaultEndpoint?.port);
  return port !== undefined && set(port.mode) ? port.mode : mode;
}
