// Consistent-hash tables: keys spread over endpoints, the same table from the same endpoints in
// any order, and removing one of N endpoints moves only about 1/N of the keys (ring hash, Maglev).
import assert from 'node:assert/strict';
import test from 'node:test';
import { hash32 } from '../../../src/upstream/hash/hash32.js';
import { Maglev, RingHash, type HashTable } from '../../../src/upstream/hash/table.js';

const N = 10;
const KEYS = Array.from({ length: 20_000 }, (_, i) => hash32(`user-${i}`));
const names = Array.from({ length: N }, (_, i) => `10.0.0.${i + 1}:8080`);
const all = (): boolean => true;

function owners(t: HashTable, list: readonly string[]): string[] {
  return KEYS.map((k) => list[t.lookup(k, all)] as string);
}

for (const [kind, build] of [
  ['ring hash', (list: readonly string[]) => new RingHash(list, list.map(() => 1), 1024)],
  ['maglev', (list: readonly string[]) => new Maglev(list, 65537)],
] as const) {
  test(`${kind}: balanced, order-independent, and removing one of ${N} endpoints moves about 1/${N} of keys`, () => {
    const before = owners(build(names), names);
    const counts = new Map<string, number>();
    for (const o of before) counts.set(o, (counts.get(o) ?? 0) + 1);
    assert.equal(counts.size, N);
    for (const c of counts.values()) assert.ok(c > KEYS.length / N / 2 && c < (KEYS.length / N) * 2, `share ${c}`);
    const shuffled = [...names].reverse();
    assert.deepEqual(owners(build(shuffled), shuffled), before, 'same endpoints in another order → same owners');
    const removed = names[3] as string;
    const fewer = names.filter((n) => n !== removed);
    const after = owners(build(fewer), fewer);
    let moved = 0;
    for (let i = 0; i < KEYS.length; i++) {
      if (before[i] === removed) continue; // these must move
      if (after[i] !== before[i]) moved++;
    }
    const share = moved / KEYS.length;
    // only the removed endpoint's keys (~1/N) have to move; others may move a little (Maglev) or not at all (ring)
    assert.ok(share < 0.3 / N + (kind === 'maglev' ? 0.05 : 0), `${(share * 100).toFixed(2)}% of keys that did not need to move moved`);
  });
}

test('lookup skips endpoints the caller rejects (ejected, or the one a retry leaves) and -1 when none is left', () => {
  const t = new RingHash(names, names.map(() => 1), 1024);
  const k = KEYS[0] as number;
  const first = t.lookup(k, all);
  const next = t.lookup(k, (i) => i !== first);
  assert.notEqual(next, first);
  assert.ok(next >= 0);
  assert.equal(t.lookup(k, () => false), -1);
});
