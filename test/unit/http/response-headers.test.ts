// filterResponseHeaders: the codec's header array for one response becomes the client's in place
// (issue 16: no second array per proxied response), with the same filtering as before.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  BAD_HEADER_VALUE, CONNECTION, CONTENT_LENGTH, DROP, filterResponseHeaders, HOP_BY_HOP, isHopByHop, KEEP, RESPONSE_FRAMING, responseHeaderKind,
} from '../../../src/http/headers.js';

test('filters in place: names lower-cased, hop-by-hop, framing and Connection-listed headers dropped; returns Content-Length', () => {
  const raw = ['Content-Type', 'text/plain', 'Connection', 'x-private, keep-alive', 'Content-Length', '12', 'X-Private', 'p',
    'Keep-Alive', 'timeout=5', 'Transfer-Encoding', 'chunked', 'Set-Cookie', 'a=1', 'set-cookie', 'b=2'];
  const same = raw;
  assert.equal(filterResponseHeaders(raw), 12);
  assert.equal(raw, same);
  assert.deepEqual(raw, ['content-type', 'text/plain', 'set-cookie', 'a=1', 'set-cookie', 'b=2']);
});

test('a CR, LF or NUL in a name or value: BAD_HEADER_VALUE and the array is left as it was', () => {
  const raw = ['x-a', 'ok', 'x-b', 'bad\r\nx-injected: 1'];
  assert.equal(filterResponseHeaders(raw), BAD_HEADER_VALUE);
  assert.deepEqual(raw, ['x-a', 'ok', 'x-b', 'bad\r\nx-injected: 1']);
  assert.equal(filterResponseHeaders(['x-a', 'ok', 'Content-Length', '1x']), -1, 'not a plain number');
});

test('responseHeaderKind drops exactly the hop-by-hop and framing names, reads Connection and Content-Length', () => {
  for (const name of HOP_BY_HOP) assert.equal(responseHeaderKind(name), name === 'connection' ? CONNECTION : DROP, name);
  for (const name of RESPONSE_FRAMING) assert.equal(responseHeaderKind(name), name === 'content-length' ? CONTENT_LENGTH : DROP, name);
  for (const name of ['server', 'etag', 'vary', 'tf', 'dates', 'trailers', 'upgrades', 'connections', 'keep-alivE', 'content-type', 'x-content-length',
    'proxy-connectio', 'transfer-encodinx', 'proxy-authenticat', 'proxy-authorizatio', 'set-cookie', '']) {
    assert.equal(responseHeaderKind(name), KEEP, name);
  }
});

test('isHopByHop is exactly HOP_BY_HOP (lowercase names)', () => {
  for (const name of HOP_BY_HOP) assert.equal(isHopByHop(name), true, name);
  for (const name of ['server', 'host', 'tf', 'trailers', 'upgrades', 'connections', 'keep-alivE', 'Connection', 'TE', 'content-length', 'date',
    'proxy-connectio', 'transfer-encodinx', 'proxy-authenticat', 'proxy-authorizatio', 'expect', '']) {
    assert.equal(isHopByHop(name), false, name);
  }
});
