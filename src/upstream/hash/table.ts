// Consistent-hash tables over a cluster's endpoints, built once per config generation from the
// endpoint addresses only (never from worker-local state), so every worker and every reload that
// keeps the endpoints builds the same table. Lookup walks on from the key's position to the first
// endpoint the caller accepts (not ejected, not the one a retry is moving away from).
import { fmix32, hash32 } from './hash32.js';

export interface HashTable {
  /** index of the endpoint for `keyHash`; `accept(i)` filters; -1 when none is accepted */
  lookup(keyHash: number, accept: (i: number) => boolean): number;
}

/**
 * Envoy's ring hash (ketama style): each endpoint gets replicas proportional to its weight so the
 * ring has at least `minSize` entries; a key takes the first entry clockwise of its hash.
 */
export class RingHash implements HashTable {
  private readonly points: Uint32Array;
  private readonly owners: Int32Array;

  constructor(names: readonly string[], weights: readonly number[], minSize: number) {
    const total = weights.reduce((a, b) => a + b, 0) || 1;
    // points per unit of weight, rounded up to a power of two: removing or adding an endpoint
    // rarely changes it, so the other endpoints keep exactly their points and only the changed
    // endpoint's keys move (the ring holds between minSize and 2 × minSize points)
    let perWeight = 1;
    while (perWeight * total < minSize) perWeight *= 2;
    const entries: [number, number][] = [];
    for (let i = 0; i < names.length; i++) {
      const replicas = Math.max(1, Math.round(perWeight * (weights[i] ?? 1)));
      for (let r = 0; r < replicas; r++) entries.push([hash32(`${names[i]}_${r}`), i]);
    }
    // ties broken by endpoint name order so the ring does not depend on input order
    entries.sort((a, b) => a[0] - b[0] || byCodeUnits(names[a[1]] as string, names[b[1]] as string));
    this.points = Uint32Array.from(entries, (e) => e[0]);
    this.owners = Int32Array.from(entries, (e) => e[1]);
  }

  lookup(keyHash: number, accept: (i: number) => boolean): number {
    const n = this.points.length;
    if (n === 0) return -1;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.points[mid] as number) < keyHash) lo = mid + 1;
      else hi = mid;
    }
    for (let k = 0; k < n; k++) {
      const owner = this.owners[(lo + k) % n] as number;
      if (accept(owner)) return owner;
    }
    return -1;
  }
}

/**
 * Maglev (Eisenbud et al., 2016): a lookup table of prime size where each endpoint claims slots in
 * the order of its own permutation; removing one of N endpoints moves about 1/N of the keys.
 */
export class Maglev implements HashTable {
  private readonly table: Int32Array;

  constructor(names: readonly string[], size: number) {
    const m = size;
    this.table = new Int32Array(m).fill(-1);
    const n = names.length;
    if (n === 0) return;
    const order = names.map((_, i) => i).sort((a, b) => byCodeUnits(names[a] as string, names[b] as string));
    const offset = order.map((i) => hash32(names[i] as string, 0x9e3779b9) % m);
    const skip = order.map((i) => (hash32(names[i] as string, 0x7f4a7c15) % (m - 1)) + 1);
    const next = new Array<number>(n).fill(0);
    let filled = 0;
    while (filled < m) {
      for (let j = 0; j < n && filled < m; j++) {
        let c = ((offset[j] as number) + (next[j] as number) * (skip[j] as number)) % m;
        while (this.table[c] !== -1) {
          next[j] = (next[j] as number) + 1;
          c = ((offset[j] as number) + (next[j] as number) * (skip[j] as number)) % m;
        }
        this.table[c] = order[j] as number;
        next[j] = (next[j] as number) + 1;
        filled++;
      }
    }
  }

  lookup(keyHash: number, accept: (i: number) => boolean): number {
    const m = this.table.length;
    const start = keyHash % m;
    for (let k = 0; k < m; k++) {
      // a rejected slot rehashes rather than walking neighbours (Maglev neighbours are unrelated)
      const slot = k === 0 ? start : fmix32(keyHash + k) % m;
      const owner = this.table[slot] as number;
      if (owner >= 0 && accept(owner)) return owner;
      if (k > 64) break;
    }
    for (let i = 0; i < m; i++) if (accept(this.table[i] as number)) return this.table[i] as number;
    return -1;
  }
}

/** Plain code-unit order: the same on every sidecar whatever its locale (localeCompare is ICU collation). */
function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
