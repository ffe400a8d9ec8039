// `--register FILE`: the WorkloadEntry describing this sidecar's workload, completed with
// defaults (address: the inbound listener's bind address; ports: the Sidecar's ingress ports by
// name; serviceAccount: the one in the sidecar's SPIFFE identity), named uniquely per sidecar
// (`<name>-<sidecar id>`), annotated with the identity it serves with (auto mTLS uses it), and
// validated by the same checker as any config file.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { parse } from 'yaml';
import { MESH_IDENTITY_ANNOTATION } from '../config/identity.js';
import { compileTexts, formatIssue } from '../config/index.js';
import type { Snapshot } from '../config/snapshot.js';
import { isMap } from '../config/validate/checker.js';
import { isDnsLabel } from '../config/validate/values.js';
import { parseSpiffeId } from '../tls/identity/spiffe.js';

/** Annotation naming the sidecar that registered a WorkloadEntry (with MESH_IDENTITY_ANNOTATION). */
export const SIDECAR_ANNOTATION = 'meshlet.io/sidecar';

export interface Registration {
  namespace: string;
  name: string;
  /** the WorkloadEntry as stored (JSON) */
  value: string;
  /** where the local app listens (registration waits until it accepts connections), or null */
  app: { address: string; port: number } | null;
  /** the workload as the file names it (metadata.name, spec.labels, spec.serviceAccount, spec.address): this sidecar's own metadata */
  workload: { name: string; labels: Record<string, string>; serviceAccount: string | null; address: string };
}

/** `<hostname>-<admin port>`, made a DNS label: unique per sidecar on a host. */
export function sidecarId(adminPort: number, hostname = os.hostname()): string {
  const host = hostname.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 50) || 'host';
  return `${host}-${adminPort}`;
}

function firstPublicIpv4(): string | null {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return null;
}

export function readRegistration(file: string, snapshot: Snapshot, sidecar: string, spiffe: string | null): Registration {
  let doc: unknown;
  try {
    doc = parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`--register ${file}: ${(err as Error).message}`);
  }
  if (!isMap(doc) || doc.kind !== 'WorkloadEntry' || !isMap(doc.metadata) || typeof doc.metadata.name !== 'string') {
    throw new Error(`--register ${file}: expected one WorkloadEntry (apiVersion networking.istio.io/v1, kind WorkloadEntry, metadata.name)`);
  }
  const meta = doc.metadata;
  const spec: Record<string, unknown> = isMap(doc.spec) ? { ...doc.spec } : {};
  const namespace = typeof meta.namespace === 'string' ? meta.namespace : 'default';
  const inbound = snapshot.listeners.filter((l) => l.direction === 'inbound');
  if (spec.address === undefined) {
    const bind = inbound[0]?.bind ?? '127.0.0.1';
    spec.address = bind === '0.0.0.0' || bind === '::' ? (firstPublicIpv4() ?? '127.0.0.1') : bind;
  }
  if (spec.ports === undefined && inbound.length > 0) {
    spec.ports = Object.fromEntries(inbound.map((l, i) => [isDnsLabel(l.name) ? l.name : i === 0 ? 'http' : `port-${l.port}`, l.port]));
  }
  const id = spiffe === null ? null : parseSpiffeId(spiffe);
  if (spec.serviceAccount === undefined && id !== null && id.namespace === namespace && id.serviceAccount !== undefined) spec.serviceAccount = id.serviceAccount;
  const name = `${meta.name}-${sidecar}`.slice(0, 253);
  const annotations: Record<string, string> = { ...(isMap(meta.annotations) ? meta.annotations as Record<string, string> : {}), [SIDECAR_ANNOTATION]: sidecar };
  if (spiffe !== null) annotations[MESH_IDENTITY_ANNOTATION] = spiffe;
  const entry = {
    apiVersion: typeof doc.apiVersion === 'string' ? doc.apiVersion : 'networking.istio.io/v1',
    kind: 'WorkloadEntry',
    metadata: { name, namespace, ...(isMap(meta.labels) ? { labels: meta.labels } : {}), annotations },
    spec,
  };
  const value = JSON.stringify(entry);
  const { issues } = compileTexts([{ file, text: value }], 1);
  const errors = issues.filter((i) => i.severity === 'error');
  if (errors.length > 0) throw new Error(`--register ${file}: the WorkloadEntry (defaults applied) is invalid:\n${errors.map(formatIssue).join('\n')}`);
  const cluster = inbound[0] === undefined ? undefined : snapshot.clusters[inbound[0].inboundClusterId];
  const ep = cluster?.endpoints[0];
  const labels = isMap(spec.labels) ? Object.fromEntries(Object.entries(spec.labels).filter((e): e is [string, string] => typeof e[1] === 'string')) : {};
  const workload = {
    name: String(meta.name), labels, serviceAccount: typeof spec.serviceAccount === 'string' ? spec.serviceAccount : null, address: String(spec.address),
  };
  return { namespace, name, value, app: ep === undefined ? null : { address: ep.address, port: ep.port }, workload };
}
