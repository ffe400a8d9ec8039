// Route-matching primitives: StringMatch kinds, query parameters, Host normalisation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { queryParam } from '../../../src/routing/request-view.js';
import { normalizeHost } from '../../../src/routing/route-table.js';
import { StringMatcher } from '../../../src/routing/string-match.js';

test('StringMatch exact, prefix, regex (anchored full match)', () => {
  assert.ok(new StringMatcher({ kind: 'exact', value: '/a' }, false).test('/a'));
  assert.ok(!new StringMatcher({ kind: 'exact', value: '/a' }, false).test('/a/'));
  assert.ok(new StringMatcher({ kind: 'prefix', value: '/a' }, false).test('/ab'));
  const re = new StringMatcher({ kind: 'regex', value: 'v[0-9]+' }, false);
  assert.ok(re.test('v12'));
  assert.ok(!re.test('xv12'), 'anchored at the start');
  assert.ok(!re.test('v12x'), 'anchored at the end');
  const alt = new StringMatcher({ kind: 'regex', value: 'a|b' }, false);
  assert.ok(!alt.test('ab'), 'alternation is grouped before anchoring');
});

test('ignoreCase lower-cases exact/prefix values and makes regex case-insensitive', () => {
  assert.ok(new StringMatcher({ kind: 'prefix', value: '/API' }, true).test('/api/x'));
  assert.ok(new StringMatcher({ kind: 'regex', value: '/API/.*' }, true).test('/Api/x'));
});

test('queryParam finds the first value, decodes it, and tells absent from empty', () => {
  assert.equal(queryParam('a=1&b=two%20words&b=3', 'b'), 'two words');
  assert.equal(queryParam('flag&x=1', 'flag'), '');
  assert.equal(queryParam('ab=1', 'a'), null);
  assert.equal(queryParam('', 'a'), null);
  assert.equal(queryParam('a=%E0%A4%A', 'a'), '%E0%A4%A', 'malformed escapes are kept as sent');
});

test('normalizeHost strips port and trailing dot and lower-cases', () => {
  assert.equal(normalizeHost('Product-Service:9080'), 'product-service');
  assert.equal(normalizeHost('[::1]:80'), '::1');
  assert.equal(normalizeHost('example.com.'), 'example.com');
});
