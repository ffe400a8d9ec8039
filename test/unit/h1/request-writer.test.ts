// The request head writer's checks while it copies: a long value found valid is not checked again
// when the same value comes back, and that shortcut never lets a different (invalid) value through.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildHead, lastHeadError } from '../../../src/upstream/h1/request-writer.js';

const VALID = 'A'.repeat(40) + '+/='.repeat(20) + 'z'.repeat(40);

test('a long header value: written the same when it repeats; an invalid one of the same length after it is refused', () => {
  const first = buildHead('GET', '/', ['host', 'a', 'x-envoy-peer-metadata', VALID], 'a');
  // a copy that is not the same string object, then the same object again
  const copy = (VALID + '.').slice(0, -1);
  const second = buildHead('GET', '/', ['host', 'a', 'x-envoy-peer-metadata', copy], 'a');
  const third = buildHead('GET', '/', ['host', 'a', 'x-envoy-peer-metadata', VALID], 'a');
  assert.equal(first, `GET / HTTP/1.1\r\nhost: a\r\nx-envoy-peer-metadata: ${VALID}\r\n`);
  assert.equal(second, first);
  assert.equal(third, first);
  for (const bad of [`${VALID.slice(0, -1)}\n`, `${VALID.slice(0, 50)}\r\nInjected: 1${VALID.slice(63)}`, `${VALID.slice(0, -1)}\0`, `${VALID.slice(0, -1)}\u0100`]) {
    assert.equal(bad.length, VALID.length);
    assert.equal(buildHead('GET', '/', ['host', 'a', 'x-envoy-peer-metadata', bad], 'a'), null, JSON.stringify(bad.slice(-4)));
    assert.match(lastHeadError(), /invalid request header x-envoy-peer-metadata value/);
    // and the valid one still passes after a refusal
    assert.equal(buildHead('GET', '/', ['host', 'a', 'x-envoy-peer-metadata', VALID], 'a'), first);
  }
});
