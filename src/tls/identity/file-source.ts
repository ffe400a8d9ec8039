// FileIdentitySource: key.pem / cert.pem / ca.pem from a directory (e.g. a mounted Kubernetes
// secret or `meshlet ca issue --out`), re-read when the directory changes. An invalid or
// half-written set is logged and ignored: the previous identity stays in force.
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { createLogger, type Logger } from '../../log.js';
import { BaseIdentitySource, sameIdentity, type WorkloadIdentity } from './source.js';
import { verifyChainAndIdentity } from './verify.js';

export const IDENTITY_FILES = { key: 'key.pem', cert: 'cert.pem', ca: 'ca.pem' } as const;

export interface FileIdentityOptions {
  /** quiet period after the last change before re-reading (writers touch three files) */
  debounceMs?: number;
  log?: Logger;
}

/** Reads and validates the three files of `dir`; throws with the reason. */
export function readIdentityDir(dir: string): WorkloadIdentity {
  const read = (name: string): string => readFileSync(path.join(dir, name), 'utf8');
  const keyPem = read(IDENTITY_FILES.key);
  const certPem = read(IDENTITY_FILES.cert);
  const caPem = read(IDENTITY_FILES.ca);
  const v = verifyChainAndIdentity({ cert: certPem, caPem, keyPem });
  return { spiffeId: v.spiffeId, certPem, keyPem, caPem, notBefore: v.notBefore, notAfter: v.notAfter };
}

export class FileIdentitySource extends BaseIdentitySource {
  #watcher: FSWatcher | null = null;
  #debounce: NodeJS.Timeout | null = null;
  readonly #debounceMs: number;

  constructor(readonly dir: string, opts: FileIdentityOptions = {}) {
    super(opts.log ?? createLogger('info', 'meshlet-identity'), `identity files in ${dir}`);
    this.#debounceMs = opts.debounceMs ?? 250;
  }

  async start(): Promise<WorkloadIdentity> {
    let id: WorkloadIdentity;
    try {
      id = readIdentityDir(this.dir);
    } catch (err) {
      throw new Error(`${this.what}: ${(err as Error).message}`);
    }
    this.setIdentity(id);
    // watch the directory, not the files: writers replace files by rename (and Kubernetes swaps a
    // symlink). Like a server, a started source holds the process until close().
    this.#watcher = watch(this.dir, () => this.changed());
    this.#watcher.on('error', (err) => this.log.error({ err, dir: this.dir }, 'identity directory watch failed; the current identity stays until restart'));
    this.log.info({ spiffeId: id.spiffeId, notAfter: id.notAfter.toISOString(), dir: this.dir }, 'workload identity loaded');
    return id;
  }

  private changed(): void {
    if (this.#debounce !== null) clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => { this.#debounce = null; this.reload(); }, this.#debounceMs);
  }

  private reload(): void {
    if (this.#watcher === null) return;
    let id: WorkloadIdentity;
    try {
      id = readIdentityDir(this.dir);
    } catch (err) {
      const cur = this.current();
      this.log.warn({ dir: this.dir, reason: (err as Error).message, keeping: cur.spiffeId, notAfter: cur.notAfter.toISOString() }, 'identity files changed but are not a valid set; keeping the current identity');
      return;
    }
    if (sameIdentity(id, this.current())) return;
    this.log.info({ spiffeId: id.spiffeId, notAfter: id.notAfter.toISOString(), dir: this.dir }, 'workload identity updated');
    this.setIdentity(id);
  }

  async close(): Promise<void> {
    this.#watcher?.close();
    this.#watcher = null;
    if (this.#debounce !== null) clearTimeout(this.#debounce);
    this.stopExpiryWatch();
  }
}
