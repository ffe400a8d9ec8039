// The HTTP/2 codes meshlet names without loading node:http2 are node:http2's own numbers.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { test } from 'node:test';
import * as m from '../../../src/http/http2-module.js';

test('the RFC 9113 codes and the END_STREAM flag match node:http2.constants, and the module loads on demand', () => {
  const c = http2.constants;
  assert.equal(m.NGHTTP2_NO_ERROR, c.NGHTTP2_NO_ERROR);
  assert.equal(m.NGHTTP2_INTERNAL_ERROR, c.NGHTTP2_INTERNAL_ERROR);
  assert.equal(m.NGHTTP2_REFUSED_STREAM, c.NGHTTP2_REFUSED_STREAM);
  assert.equal(m.NGHTTP2_CANCEL, c.NGHTTP2_CANCEL);
  assert.equal(m.NGHTTP2_FLAG_END_STREAM, c.NGHTTP2_FLAG_END_STREAM);
  assert.equal(m.http2Module(), http2);
});
