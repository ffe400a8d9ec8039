// The last store set a sidecar applied, saved locally so that a sidecar starting while the store
// is unreachable can serve it (with a warning). One JSON file in a private directory (0700, file
// 0600), replaced atomically (write + rename) after each applied set.
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { StoreSet } from './layer.js';

const FILE = 'store-set.json';

/** `--store-cache` default: under the admin port's temp dir. */
export function defaultCacheDir(adminPort: number): string {
  return path.join(os.tmpdir(), `meshlet-${adminPort}`, 'store-cache');
}

export function saveStoreSet(dir: string, set: StoreSet, prefix: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700); // an existing directory is made private too
  const tmp = path.join(dir, `${FILE}.${process.pid}.tmp`);
  const body = { prefix, generation: set.generation, revision: set.revision, savedAt: new Date().toISOString(), config: [...set.config], workloads: [...set.workloads] };
  writeFileSync(tmp, JSON.stringify(body), { mode: 0o600 });
  renameSync(tmp, path.join(dir, FILE));
}

/** The saved set for this prefix, or null (none, unreadable, or another prefix's). */
export function loadStoreSet(dir: string, prefix: string): (StoreSet & { savedAt: string }) | null {
  try {
    const body = JSON.parse(readFileSync(path.join(dir, FILE), 'utf8')) as {
      prefix: string; generation: number; revision: number; savedAt: string; config: [string, string][]; workloads: [string, string][];
    };
    if (body.prefix !== prefix) return null;
    return { generation: body.generation, revision: body.revision, savedAt: body.savedAt, config: new Map(body.config), workloads: new Map(body.workloads) };
  } catch {
    return null;
  }
}
