// Exchange.reuse() leaves a used exchange exactly as the constructor leaves a new one (every field,
// whichever class of the three declares it), and retired() pools only a finished exchange, once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ResponseSink } from '../../../src/downstream/exchange.js';
import { Exchange, pooledExchanges } from '../../../src/request/exchange.js';
import type { ListenerRuntime } from '../../../src/worker/worker-state.js';

function listener(port: number): ListenerRuntime {
  const state = { gen: { id: port }, stats: null, accessLog: null, requestDone(): void {} };
  return { spec: { port }, state, inbound: false } as unknown as ListenerRuntime;
}

const sink = (name: string): ResponseSink => ({ name } as unknown as ResponseSink);

test('reuse() sets every field a new exchange starts with, whatever the last request left there', () => {
  const [s, l] = [sink('a'), listener(80)];
  const fresh = new Exchange(s, l);
  const used = new Exchange(sink('b'), listener(81));
  const fields = Object.keys(used);
  assert.ok(fields.length > 40, `only ${fields.length} fields seen`);
  const junk = used as unknown as Record<string, unknown>;
  for (const k of fields) junk[k] = Symbol(k); // as if a request had set each one
  used.reuse(s, l);
  assert.deepEqual(Object.keys(used), Object.keys(fresh), 'the same fields, in the same order (one hidden class)');
  for (const k of fields) {
    const [got, want] = [junk[k], (fresh as unknown as Record<string, unknown>)[k]];
    if (k === 't0') assert.ok(typeof got === 'number' && got >= (want as number), 't0 is read again');
    else assert.deepEqual(got, want, `field ${k}`);
  }
});

test('retired() pools a finished exchange once; an unfinished or pinned one is not pooled', () => {
  const before = pooledExchanges();
  const open = new Exchange(sink('a'), listener(80));
  open.retired();
  assert.equal(pooledExchanges(), before, 'not finished: the request is still going');
  const pinned = new Exchange(sink('a'), listener(80));
  pinned.pin();
  pinned.finish();
  pinned.retired();
  assert.equal(pooledExchanges(), before, 'pinned');
  const done = new Exchange(sink('a'), listener(80));
  done.finish();
  done.retired();
  done.retired();
  assert.equal(pooledExchanges(), before + 1, 'pooled once');
  const held = done as unknown as Record<string, unknown>;
  assert.deepEqual([held.sink, held.listener, held.gen, held.attempt, held.body, held.route, held.headers], [null, null, null, null, null, null, []],
    'a pooled exchange holds nothing of its request');
  assert.equal(done.ended, true, 'and stays finished until reused');
});
