// Stopgap identity source for `meshlet run --identity-cert/--identity-key/--identity-ca`: the
// files are re-read when they change (a Secret volume update, a cert-manager renewal) and the new
// identity is applied; a half-written or mismatched set is refused and the running identity stays.
import { watch } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log.js';
import { readIdentityFiles, type IdentityFiles, type WorkloadIdentity } from './workload-identity.js';

const SETTLE_MS = 100;

export function watchIdentityFiles(files: IdentityFiles, log: Logger, apply: (identity: WorkloadIdentity) => Promise<void>): () => void {
  let timer: NodeJS.Timeout | null = null;
  let last = '';
  const reload = async (): Promise<void> => {
    try {
      const identity = await readIdentityFiles(files);
      if (identity.certPem + identity.caPem === last) return;
      last = identity.certPem + identity.caPem;
      await apply(identity);
    } catch (err) {
      log.error({ err: (err as Error).message }, 'identity files could not be used; the running identity stays');
    }
  };
  void readIdentityFiles(files).then((id) => { last = id.certPem + id.caPem; }, () => undefined);
  // directories are watched, not files: tools replace files by renaming new ones over them
  const byDir = new Map<string, Set<string>>();
  for (const f of [files.cert, files.key, files.ca]) {
    const dir = path.dirname(path.resolve(f));
    if (!byDir.has(dir)) byDir.set(dir, new Set());
    byDir.get(dir)?.add(path.basename(f));
  }
  const watchers = [...byDir].map(([dir, names]) => watch(dir, (_event, name) => {
    if (name !== null && !names.has(name) && !name.startsWith('..')) return; // `..data` swaps of Kubernetes Secret volumes count
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(() => void reload(), SETTLE_MS);
  }));
  return () => {
    if (timer !== null) clearTimeout(timer);
    for (const w of watchers) w.close();
  };
}
