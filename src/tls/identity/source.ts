// What the sidecar's mTLS side consumes: the current workload identity and an 'update' event when
// it rotates. BaseIdentitySource holds the current identity and logs loudly when it lapses.
import { EventEmitter } from 'node:events';
import type { Logger } from '../../log.js';

export interface WorkloadIdentity {
  spiffeId: string;
  /** leaf certificate (PEM) */
  certPem: string;
  /** secret: never log */
  keyPem: string;
  /** trust bundle (PEM): the mesh root(s) peers must chain to */
  caPem: string;
  notBefore: Date;
  notAfter: Date;
}

export interface IdentitySource {
  /** resolves with the first valid identity, rejects with a clear reason when there is none */
  start(): Promise<WorkloadIdentity>;
  /** the identity in force; throws before start() has resolved */
  current(): WorkloadIdentity;
  on(event: 'update', listener: (id: WorkloadIdentity) => void): this;
  off(event: 'update', listener: (id: WorkloadIdentity) => void): this;
  close(): Promise<void>;
}

export abstract class BaseIdentitySource extends EventEmitter implements IdentitySource {
  #current: WorkloadIdentity | null = null;
  #expiry: NodeJS.Timeout | null = null;

  protected constructor(protected readonly log: Logger, protected readonly what: string) { super(); }

  abstract start(): Promise<WorkloadIdentity>;
  abstract close(): Promise<void>;

  current(): WorkloadIdentity {
    if (this.#current === null) throw new Error(`${this.what}: no identity yet (start() has not resolved)`);
    return this.#current;
  }

  /** Replaces the identity; emits 'update' except for the first one (start() returns that). */
  protected setIdentity(id: WorkloadIdentity): void {
    const first = this.#current === null;
    this.#current = id;
    this.armExpiry(id);
    if (!first) this.emit('update', id);
  }

  protected stopExpiryWatch(): void {
    if (this.#expiry !== null) clearTimeout(this.#expiry);
    this.#expiry = null;
  }

  private armExpiry(id: WorkloadIdentity): void {
    this.stopExpiryWatch();
    // setTimeout holds at most ~24.8 days (a longer one fires at once): a longer-lived identity
    // waits in steps, re-armed until it has really lapsed
    const ms = Math.min(id.notAfter.getTime() - Date.now(), 2 ** 31 - 1);
    this.#expiry = setTimeout(() => {
      if (Date.now() < id.notAfter.getTime()) return this.armExpiry(id);
      this.log.error({ spiffeId: id.spiffeId, notAfter: id.notAfter.toISOString(), source: this.what }, 'workload identity expired and was not replaced: peers will refuse it');
    }, Math.max(0, ms)).unref();
  }
}

export function sameIdentity(a: WorkloadIdentity, b: WorkloadIdentity): boolean {
  return a.certPem === b.certPem && a.keyPem === b.keyPem && a.caPem === b.caPem;
}
