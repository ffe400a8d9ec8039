// What the store contributes to a sidecar's config, and how it combines with the sidecar's own
// files. Each store key becomes one source "file" named `etcd:<key>`, so every issue names its
// key. A key that cannot be one resource (bad YAML/JSON, not a map, an unhandled kind, a
// resource whose kind/namespace/name differ from its key, a hand-written key of another shape)
// is skipped with a warning, as the loader skips an unhandled kind: it never fails the set.
// Layering: local files first, then the store's resources; a store resource with the same
// Kind/namespace/name as a local one is left out (the local one wins), with a warning.
import { parseConfigText, type ConfigIssue, type Loaded } from '../config/index.js';

type Parse = (file: string, text: string) => Loaded;
import { resourceKey } from '../config/resource.js';
import type { SourceFile } from '../control/config-store.js';
import { keyParts, type StoreKeys } from './keys.js';

/** The store's config and registered workloads at one revision. */
export interface StoreSet {
  /** newest mod revision under config/ (what `meshlet apply --if-generation` compares) */
  generation: number;
  /** store revision this set was read or last changed at */
  revision: number;
  /** mod revision of the generation marker when read (0: none), for the apply transaction's compare */
  marker?: number;
  /** key → value */
  config: Map<string, string>;
  workloads: Map<string, string>;
}

export interface StoreLayer {
  generation: number;
  revision: number;
  files: (SourceFile & { resource: string })[];
  /** keys skipped, as warnings naming the key */
  skipped: ConfigIssue[];
}

function skippedIssue(key: string, message: string): ConfigIssue {
  return { severity: 'warning', file: `etcd:${key}`, doc: 0, resource: '<key>', path: '', message: `skipped: ${message}` };
}

/** One store key → a source file, or why it is skipped. */
function readKey(key: string, text: string, expect: { kind: string | null; namespace: string; name: string }, parse: Parse): (SourceFile & { resource: string }) | string {
  const file = `etcd:${key}`;
  const { resources, issues } = parse(file, text);
  const problem = issues.find((i) => i.severity === 'error') ?? issues.find((i) => i.message.startsWith('skipped:'));
  if (problem !== undefined) return `${problem.path === '' ? '' : `${problem.path}: `}${problem.message.replace(/^skipped: /, '')}`;
  if (resources.length !== 1) return resources.length === 0 ? 'no resource in the value' : `${resources.length} resources in one key (one per key)`;
  const r = resources[0] as (typeof resources)[number];
  if ((expect.kind !== null && r.kind !== expect.kind) || r.namespace !== expect.namespace || r.name !== expect.name) {
    return `the value is ${resourceKey(r)}, the key says ${expect.kind ?? r.kind}/${expect.namespace}/${expect.name}`;
  }
  return { file, text, resource: resourceKey(r) };
}

export function storeLayer(keys: StoreKeys, set: StoreSet, parse: Parse = parseConfigText): StoreLayer {
  const files: StoreLayer['files'] = [];
  const skipped: ConfigIssue[] = [];
  for (const [key, value] of [...set.config].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (key === keys.generation) continue;
    const parts = keyParts(key, keys.config, 3);
    const got = parts === null ? 'not a <kind>/<namespace>/<name> key' : readKey(key, value, { kind: parts[0] as string, namespace: parts[1] as string, name: parts[2] as string }, parse);
    if (typeof got === 'string') skipped.push(skippedIssue(key, got));
    else files.push(got);
  }
  for (const [key, value] of [...set.workloads].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const parts = keyParts(key, keys.workloads, 2);
    const got = parts === null ? 'not a <namespace>/<name> key' : readKey(key, value, { kind: 'WorkloadEntry', namespace: parts[0] as string, name: parts[1] as string }, parse);
    if (typeof got === 'string') skipped.push(skippedIssue(key, got));
    else files.push(got);
  }
  return { generation: set.generation, revision: set.revision, files, skipped };
}

/** Local files layered over the store's resources (see the file comment). */
export function layerSources(local: readonly SourceFile[], layer: StoreLayer | null, parse: Parse = parseConfigText): { files: SourceFile[]; warnings: ConfigIssue[] } {
  if (layer === null) return { files: [...local], warnings: [] };
  const owner = new Map<string, string>();
  for (const f of local) for (const r of parse(f.file, f.text).resources) owner.set(resourceKey(r), f.file);
  const warnings = [...layer.skipped];
  const files: SourceFile[] = [...local];
  for (const f of layer.files) {
    const localFile = owner.get(f.resource);
    if (localFile === undefined) files.push({ file: f.file, text: f.text });
    else warnings.push({ severity: 'warning', file: f.file, doc: 0, resource: f.resource, path: '', message: `overridden by the local file ${localFile}` });
  }
  return { files, warnings };
}
