// PeerAuthentication (security.istio.io): selector, mtls.mode and portLevelMtls, with Istio's
// validation (port-level modes need a workload selector; ports 1..65535). Precedence between
// policies is resolved in ../peer-authn.ts.
import type { MtlsModeSetting, PeerAuthenticationModel } from '../model.js';
import type { Resource } from '../resource.js';
import { ROOT_NAMESPACE } from '../identity.js';
import { checkNumber } from './checker.js';
import { Fields } from './fields.js';
import { readWorkloadSelector } from './workload-selector.js';

export const PEER_AUTHENTICATION_FIELDS = ['selector', 'mtls', 'portLevelMtls'];
const MODES: readonly MtlsModeSetting[] = ['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT'];

export function parsePeerAuthentication(spec: Fields, res: Resource): PeerAuthenticationModel {
  const selector = readWorkloadSelector(spec);
  if (selector !== null && res.namespace === ROOT_NAMESPACE) {
    spec.ck.warn(spec.at('selector'), `a PeerAuthentication with a workload selector in the root namespace (${ROOT_NAMESPACE}) is ignored, as in Istio`);
  }
  const mode = readMode(spec.object('mtls', ['mode']));
  const ports: PeerAuthenticationModel['ports'] = [];
  const entries = spec.entries('portLevelMtls');
  if (entries !== null) {
    const at = spec.at('portLevelMtls');
    if (entries.length === 0) spec.ck.error(at, 'port level mTLS, if defined, must have at least one element');
    else if (selector === null) spec.ck.error(at, 'mesh/namespace peer authentication cannot have port level mTLS (portLevelMtls needs selector.matchLabels)');
    for (const e of entries) {
      const port = /^\d+$/.test(e.key) ? checkNumber(spec.ck, Number(e.key), e.path, { integer: true, min: 1, max: 65535 }) : null;
      if (!/^\d+$/.test(e.key)) spec.ck.error(e.path, `port must be a number in 1..65535, got "${e.key}"`);
      const m = Fields.of(spec.ck, e.value, e.path, ['mode'], true);
      const portMode = m === null ? 'UNSET' : readMode(m);
      if (port !== null) ports.push({ port, mode: portMode });
    }
  }
  return { kind: 'PeerAuthentication', selector, mode, ports };
}

/** `mode` of a MutualTLS block; absent block or field = UNSET (inherit). */
function readMode(m: Fields | null): MtlsModeSetting {
  const mode = m?.string('mode') ?? null;
  if (m === null || mode === null) return 'UNSET';
  if (!(MODES as readonly string[]).includes(mode)) {
    m.ck.error(m.at('mode'), `unknown mTLS mode ${mode} (one of ${MODES.join(', ')})`);
    return 'UNSET';
  }
  return mode as MtlsModeSetting;
}
