// A worker's JWKS: the key sets the control thread fetched (src/control/jwks-service.ts) by jwksUri,
// and inline `jwks` key sets, turned into jose key resolvers once per key-set text. A jwksUri whose
// first fetch has not answered yet is pending: requests needing it wait (bounded by the fetch's
// time-out) and go on when its result arrives. After a failed refresh the last good keys stay.
// jose must be loaded (loadJose) before a key set is added.
import type { JWTVerifyGetKey } from 'jose';
import { jose } from './jose.js';

type LocalJwks = Parameters<ReturnType<typeof jose>['createLocalJWKSet']>[0];

/** The control thread's word on one jwksUri: the key set (JSON text), or why there is none. */
export interface JwksUpdate {
  uri: string;
  /** null: no usable key set (yet): the fetch failed and no earlier one succeeded */
  jwks: string | null;
  error: string | null;
}

export interface KeySet {
  /** null while pending, or when no fetch ever succeeded */
  keys: JWTVerifyGetKey | null;
  pending: boolean;
  error: string | null;
}

export class JwksStore {
  private readonly byUri = new Map<string, KeySet>();
  private readonly inlineSets = new Map<string, JWTVerifyGetKey>();
  private readonly waiters = new Map<string, (() => void)[]>();

  constructor(initial: readonly JwksUpdate[] = []) {
    for (const u of initial) this.update(u);
  }

  /** The key set of a jwksUri; unknown ones are pending until the control thread reports them. */
  get(uri: string): KeySet {
    let k = this.byUri.get(uri);
    if (k === undefined) {
      k = { keys: null, pending: true, error: null };
      this.byUri.set(uri, k);
    }
    return k;
  }

  /** `fn` runs once `uri` is no longer pending (at once when it is not). */
  whenReady(uri: string, fn: () => void): void {
    if (!this.get(uri).pending) {
      fn();
      return;
    }
    const list = this.waiters.get(uri);
    if (list === undefined) this.waiters.set(uri, [fn]);
    else list.push(fn);
  }

  update(u: JwksUpdate): void {
    const k = this.get(u.uri);
    let keys: JWTVerifyGetKey | null = null;
    if (u.jwks !== null) {
      try {
        keys = jose().createLocalJWKSet(JSON.parse(u.jwks) as LocalJwks);
      } catch (err) {
        u = { ...u, error: `unusable key set: ${(err as Error).message}` };
      }
    }
    // a failed refresh keeps the last good keys
    if (keys !== null) k.keys = keys;
    k.error = keys !== null ? null : u.error;
    k.pending = false;
    const list = this.waiters.get(u.uri);
    if (list !== undefined) {
      this.waiters.delete(u.uri);
      for (const fn of list) fn();
    }
  }

  /** An inline `jwks` (validated at config time) as a key resolver, built once per text. */
  inline(text: string): JWTVerifyGetKey {
    let k = this.inlineSets.get(text);
    if (k === undefined) {
      k = jose().createLocalJWKSet(JSON.parse(text) as LocalJwks);
      this.inlineSets.set(text, k);
    }
    return k;
  }
}
