// The pools' wait queue: FIFO, aborted entries skipped and not counted, expiry by waiting time
// sparing the oldest entries, and a long queue taken from the front stays compact.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WaitQueue, type Waiter } from '../../../src/upstream/wait-queue.js';

interface Entry extends Waiter { id: number }
const entry = (id: number): Entry => ({ id, queued: false, queuedAt: 0 });

test('entries come out in arrival order; an aborted one is skipped and no longer counted', () => {
  const q = new WaitQueue<Entry>();
  const [a, b, c] = [entry(1), entry(2), entry(3)];
  q.push(a, 10);
  q.push(b, 11);
  q.push(c, 12);
  assert.equal(q.live, 3);
  assert.ok(a.queued && a.queuedAt === 10);
  assert.equal(q.remove(b), true);
  assert.equal(q.remove(b), false, 'removing twice counts once');
  assert.equal(q.live, 2);
  assert.equal(q.shift(), a);
  assert.equal(a.queued, false);
  assert.equal(q.shift(), c);
  assert.equal(q.shift(), null);
  assert.equal(q.live, 0);
});

test('expire takes out entries that waited the timeout, sparing the oldest n, and stops at the first younger one', () => {
  const q = new WaitQueue<Entry>();
  const es = [0, 10, 20, 30, 90].map((t, i) => {
    const e = entry(i);
    q.push(e, t);
    return e;
  });
  const expired = q.expire(100, 75, 1); // waited ≥ 75 ms: t ≤ 25, the oldest spared
  assert.deepEqual(expired.map((e) => e.id), [1, 2]);
  assert.equal(q.live, 3);
  assert.deepEqual(q.drain().map((e) => e.id), [0, 3, 4]);
  assert.ok(es.every((e) => !e.queued));
});

test('a queue that never empties is compacted as its front is taken', () => {
  const q = new WaitQueue<Entry>();
  let next = 0;
  for (let i = 0; i < 10; i++) q.push(entry(next++), 0);
  for (let round = 0; round < 5000; round++) {
    q.push(entry(next++), 0);
    assert.equal(q.shift()?.id, round);
  }
  assert.equal(q.live, 10);
  const inner = (q as unknown as { items: unknown[] }).items;
  assert.ok(inner.length < 2100, `backing array ${inner.length}`);
});
