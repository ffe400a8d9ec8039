// `meshlet apply --store` and `meshlet delete --store`: the resulting set (what the store holds,
// with the files' resources added or replaced, or one resource removed) is validated by the same
// checker as a sidecar's files, every error at once; a rejected set writes nothing. An accepted
// one is written in one transaction that also rewrites the generation marker and holds only if
// the marker is unchanged since the read (no concurrent apply is overwritten); its revision is
// the new generation.
import { parseAllDocuments } from 'yaml';
import { compileTexts, parseConfigText, type ConfigIssue } from '../config/index.js';
import { resourceKey } from '../config/resource.js';
import type { SourceFile } from '../control/config-store.js';
import type { EtcdClient, TxnOp } from './etcd/client.js';
import { configKey, type StoreKeys } from './keys.js';
import { storeLayer } from './layer.js';
import { readStoreSet } from './sync.js';

export interface StoreChange {
  ok: boolean;
  /** errors (ok false) */
  errors: ConfigIssue[];
  warnings: ConfigIssue[];
  /** generation read before the change */
  generation: number;
  added: string[];
  changed: { key: string; before: string; after: string }[];
  removed: string[];
  unchanged: string[];
  /** after a write: the new generation */
  written: number | null;
  /** the transaction's compare failed: someone changed the store meanwhile */
  conflict: boolean;
}

export interface ChangeOptions {
  dryRun: boolean;
  /** refuse unless the store's generation is this one */
  ifGeneration: number | null;
}

/** The handled resources of the files: key → the document's text as written. */
function resourcesOf(keys: StoreKeys, files: readonly SourceFile[]): Map<string, { key: string; text: string }> {
  const out = new Map<string, { key: string; text: string }>();
  for (const f of files) {
    const docs = parseAllDocuments(f.text);
    for (const r of parseConfigText(f.file, f.text).resources) {
      const doc = docs[r.doc];
      if (doc === undefined) continue;
      // the document as written (comments kept), without the `---` that separated it in its file
      out.set(resourceKey(r), { key: configKey(keys, r), text: doc.toString().replace(/^---[^\n]*\n/, '') });
    }
  }
  return out;
}

/** A Sidecar in the store is every sidecar's: its listeners would be opened (or refused, until a restart) mesh-wide. */
function sidecarWarnings(incoming: Map<string, { key: string }>): ConfigIssue[] {
  return [...incoming.keys()].filter((k) => k.startsWith('Sidecar/')).map((k) => ({
    severity: 'warning', file: '<store>', doc: 0, resource: k, path: '',
    message: 'a Sidecar in the store applies to every sidecar of the mesh (a running sidecar refuses new listeners until it restarts); a sidecar\'s own Sidecar belongs in its local files',
  }));
}

const empty = (generation: number): StoreChange => ({
  ok: true, errors: [], warnings: [], generation, added: [], changed: [], removed: [], unchanged: [], written: null, conflict: false,
});

async function commit(client: EtcdClient, keys: StoreKeys, change: StoreChange, ops: TxnOp[], markerRevision: number, options: ChangeOptions): Promise<StoreChange> {
  if (options.ifGeneration !== null && options.ifGeneration !== change.generation) return { ...change, ok: false, conflict: true };
  if (options.dryRun || ops.length === 0) return change;
  const marker = JSON.stringify({ at: new Date().toISOString(), added: change.added.length, changed: change.changed.length, removed: change.removed.length });
  const res = await client.txn([{ key: keys.generation, modRevision: markerRevision }], [...ops, { put: { key: keys.generation, value: marker } }]);
  if (!res.succeeded) return { ...change, ok: false, conflict: true };
  return { ...change, written: res.revision };
}

/** Validates the store's set with `files` applied over it; writes it unless rejected, a dry run, or a conflict. */
export async function applyToStore(client: EtcdClient, keys: StoreKeys, files: SourceFile[], options: ChangeOptions): Promise<StoreChange> {
  const set = await readStoreSet(client, keys);
  const layer = storeLayer(keys, set);
  const incoming = resourcesOf(keys, files);
  const kept = layer.files.filter((f) => !incoming.has(f.resource));
  const { issues } = compileTexts([...kept, ...files], 1);
  const change = empty(set.generation);
  change.warnings = [...layer.skipped, ...issues.filter((i) => i.severity === 'warning'), ...sidecarWarnings(incoming)];
  change.errors = issues.filter((i) => i.severity === 'error');
  if (change.errors.length > 0) return { ...change, ok: false };
  const ops: TxnOp[] = [];
  for (const [resource, { key, text }] of incoming) {
    const before = set.config.get(key);
    if (before === text) change.unchanged.push(resource);
    else {
      if (before === undefined) change.added.push(resource);
      else change.changed.push({ key: resource, before, after: text });
      ops.push({ put: { key, value: text } });
    }
  }
  return commit(client, keys, change, ops, set.marker ?? 0, options);
}

/** Removes one resource, refused when the set without it has an error (a dangling reference the checker rejects). */
export async function deleteFromStore(client: EtcdClient, keys: StoreKeys, target: { kind: string; namespace: string; name: string }, options: ChangeOptions): Promise<StoreChange | null> {
  const set = await readStoreSet(client, keys);
  const key = configKey(keys, target);
  if (!set.config.has(key)) return null;
  const layer = storeLayer(keys, set);
  const { issues } = compileTexts(layer.files.filter((f) => f.file !== `etcd:${key}`), 1);
  const change = empty(set.generation);
  change.warnings = [...layer.skipped, ...issues.filter((i) => i.severity === 'warning')];
  change.errors = issues.filter((i) => i.severity === 'error');
  if (change.errors.length > 0) return { ...change, ok: false };
  change.removed.push(resourceKey(target));
  return commit(client, keys, change, [{ delete: { key } }], set.marker ?? 0, options);
}
