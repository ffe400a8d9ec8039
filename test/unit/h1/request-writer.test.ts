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

test('framing headers in any case are left out, a Host in any case counts as the host, x-forwarded-proto (their length) is written', () => {
  const head = buildHead('GET', '/', ['Content-Length', '5', 'TRANSFER-encoding', 'chunked', 'x-forwarded-proto', 'http', 'HoSt', 'a'], 'default', '\r\n');
  assert.equal(head, 'GET / HTTP/1.1\r\nx-forwarded-proto: http\r\nHoSt: a\r\n\r\n');
  assert.equal(buildHead('GET', '/', ['Host', 'a', 'host', 'b'], 'default'), null);
  assert.match(lastHeadError(), /duplicate host header/);
  // same lengths, other names: written as they are
  assert.equal(buildHead('GET', '/', ['hose', 'x', 'content-lengtx', '1', 'x-transfer-encode', 'y'], 'h', '\r\n'),
    'GET / HTTP/1.1\r\nhose: x\r\ncontent-lengtx: 1\r\nx-transfer-encode: y\r\nhost: h\r\n\r\n');
});
