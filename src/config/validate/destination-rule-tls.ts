// DestinationRule `trafficPolicy.tls` at rule, subset and `portLevelSettings[]` level. meshlet
// originates only ISTIO_MUTUAL (mesh certificates); SIMPLE and MUTUAL need user certificates and
// are refused rather than silently sent in plaintext. Reads the raw spec beside destination-rule.ts.
import type { DestinationRuleTlsModel, PolicyTlsModel, TlsModeSetting, TlsSettingsModel } from '../model.js';
import { isMap, type Checker } from './checker.js';
import { Fields } from './fields.js';

const TLS_FIELDS = [
  'mode', 'clientCertificate', 'privateKey', 'caCertificates', 'credentialName', 'subjectAltNames', 'sni', 'insecureSkipVerify', 'caCrl',
];
const MODES: readonly TlsModeSetting[] = ['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL'];
const USER_CERTS = ['clientCertificate', 'privateKey', 'caCertificates', 'credentialName', 'caCrl'];

export function readDestinationRuleTls(spec: Fields): DestinationRuleTlsModel {
  const top = readPolicyTls(spec.ck, spec.get('trafficPolicy'), spec.at('trafficPolicy'));
  const subsets: Record<string, PolicyTlsModel> = {};
  const raw = spec.get('subsets');
  if (Array.isArray(raw)) {
    raw.forEach((s: unknown, i) => {
      if (!isMap(s) || typeof s['name'] !== 'string' || !isMap(s['trafficPolicy'])) return;
      subsets[s['name']] ??= readPolicyTls(spec.ck, s['trafficPolicy'], `${spec.at('subsets')}[${i}].trafficPolicy`);
    });
  }
  return { top, subsets };
}

/** tls of one trafficPolicy (raw) at `path`; type errors of the policy itself are destination-rule.ts's. */
function readPolicyTls(ck: Checker, policy: unknown, path: string): PolicyTlsModel {
  if (!isMap(policy)) return { tls: null, ports: [] };
  const tls = isMap(policy['tls']) ? readTls(ck, policy['tls'], `${path}.tls`) : null;
  const ports: PolicyTlsModel['ports'] = [];
  const pls = policy['portLevelSettings'];
  if (Array.isArray(pls)) {
    pls.forEach((item: unknown, i) => {
      if (!isMap(item)) return;
      const at = `${path}.portLevelSettings[${i}]`;
      // the port and the tls block's type are checked by traffic-policy.ts; unusable entries are skipped here
      const port = isMap(item['port']) ? item['port']['number'] : undefined;
      const n = typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535 ? port : null;
      // port-level settings do not inherit: no tls here means none for this port
      const portTls = isMap(item['tls']) ? readTls(ck, item['tls'], `${at}.tls`) : null;
      if (n !== null && !ports.some((p) => p.port === n)) ports.push({ port: n, tls: portTls });
    });
  }
  return { tls, ports };
}

function readTls(ck: Checker, raw: Record<string, unknown>, path: string): TlsSettingsModel | null {
  const f = Fields.of(ck, raw, path, TLS_FIELDS);
  if (f === null) return null;
  const written = f.string('mode') ?? 'DISABLE';
  const subjectAltNames = f.strings('subjectAltNames').map((s) => s.value);
  const sni = f.string('sni');
  const skip = f.bool('insecureSkipVerify');
  for (const k of USER_CERTS) f.string(k);
  if (!(MODES as readonly string[]).includes(written)) {
    f.ck.error(f.at('mode'), `unknown TLS mode ${written} (one of ${MODES.join(', ')})`);
    return null;
  }
  const mode = written as TlsModeSetting;
  if (mode === 'SIMPLE' || mode === 'MUTUAL') {
    f.ck.error(f.at('mode'), `TLS origination with mode ${mode} (user certificates) is not supported by meshlet; only ISTIO_MUTUAL (mesh certificates) or DISABLE`);
  }
  if (mode === 'ISTIO_MUTUAL') {
    const certs = USER_CERTS.filter((k) => f.has(k));
    if (certs.length > 0) f.ck.error(f.at(certs[0] as string), `cannot specify ${certs.join(', ')} with mode ISTIO_MUTUAL (the mesh certificates are used)`);
  }
  if (skip === true && mode !== 'SIMPLE' && mode !== 'MUTUAL') f.ck.warn(f.at('insecureSkipVerify'), `has no effect with mode ${mode}`);
  return { mode, subjectAltNames, sni };
}
