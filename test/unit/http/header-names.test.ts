// Known response header names: matched by exact bytes (so raw case is kept), lowered by lookup.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { knownHeaderName, lowerHeaderName } from '../../../src/http/header-names.js';

function match(s: string, pad = ''): string | null {
  const b = Buffer.from(`${pad}${s}:`, 'latin1');
  return knownHeaderName(b, pad.length, pad.length + s.length);
}

test('known header names: exact spellings match, other cases and near misses do not', () => {
  for (const s of ['Server', 'server', 'Content-Type', 'content-type', 'ETag', 'etag', 'Set-Cookie', 'X-Request-Id']) {
    assert.equal(match(s, 'xx'), s);
  }
  for (const s of ['SERVER', 'Content-type', 'Servers', 'Serve', 'X-Custom', '']) assert.equal(match(s), null, s);
});

test('lowerHeaderName: known and unknown names', () => {
  assert.equal(lowerHeaderName('Content-Type'), 'content-type');
  assert.equal(lowerHeaderName('content-type'), 'content-type');
  assert.equal(lowerHeaderName('X-MiXeD-CaSe'), 'x-mixed-case');
  assert.equal(lowerHeaderName('SERVER'), 'server');
});
