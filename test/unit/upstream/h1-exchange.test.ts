// The HTTP/1.1 codec's exchange: reuse() leaves a used one exactly as the constructor leaves a new
// one, and recycle() takes back only an exchange the codec has let go of (ended, off its
// connection, never queued), once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { UpstreamHandler } from '../../../src/upstream/codec.js';
import { Exchange, takeExchange, type ExchangeOwner } from '../../../src/upstream/h1/exchange.js';
import type { Connection } from '../../../src/upstream/h1/connection.js';

const owner = { queuedAborted(): void {} } as ExchangeOwner;
const handler = {} as UpstreamHandler;

test('reuse() sets every field a new codec exchange starts with', () => {
  const fresh = new Exchange(owner, handler, 'HEAD', null, 5);
  const used = new Exchange({ queuedAborted(): void {} }, {} as UpstreamHandler, 'GET', null, -1);
  const junk = used as unknown as Record<string, unknown>;
  const fields = Object.keys(used);
  assert.ok(fields.length >= 14, `only ${fields.length} fields seen`);
  for (const k of fields) junk[k] = Symbol(k);
  used.reuse(owner, handler, 'HEAD', null, 5);
  assert.deepEqual(Object.keys(used), Object.keys(fresh));
  for (const k of fields) assert.equal(junk[k], (fresh as unknown as Record<string, unknown>)[k], `field ${k}`);
});

test('recycle() takes back an ended exchange off its connection that never waited, once; takeExchange() hands it out again', () => {
  const running = takeExchange(owner, handler, 'GET', null, -1);
  running.recycle();
  const onConn = takeExchange(owner, handler, 'GET', null, -1);
  assert.notEqual(onConn, running, 'a running exchange was not taken back');
  onConn.done = true;
  onConn.conn = {} as Connection;
  onConn.recycle();
  const waited = takeExchange(owner, handler, 'GET', null, -1);
  assert.ok(waited !== running && waited !== onConn, 'one still on its connection was not taken back');
  waited.done = true;
  waited.queuedAt = 1;
  waited.recycle();
  const ended = takeExchange(owner, handler, 'GET', null, -1);
  assert.ok(ended !== running && ended !== onConn && ended !== waited, 'one that waited in a queue was not taken back');
  ended.done = true;
  ended.recycle();
  ended.recycle();
  const again = takeExchange(owner, handler, 'POST', null, 3);
  assert.equal(again, ended);
  assert.deepEqual([again.done, again.method, again.contentLength], [false, 'POST', 3]);
  assert.notEqual(takeExchange(owner, handler, 'GET', null, -1), ended, 'taken back once');
});
