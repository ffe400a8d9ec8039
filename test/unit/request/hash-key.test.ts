// The consistent-hash key's cookie lookup: Cookie header parsing, and work linear in the header.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cookieValue } from '../../../src/request/hash-key.js';
import { indexOfScans } from '../../helpers/string-scans.js';

test('cookieValue finds a cookie across Cookie headers, trims it and drops its quotes', () => {
  const h = ['accept', '*/*', 'cookie', 'a=1; session=abc', 'cookie', 'user="bob" ; z'];
  assert.equal(cookieValue(h, 'session'), 'abc');
  assert.equal(cookieValue(h, 'user'), 'bob');
  assert.equal(cookieValue(h, 'z'), null, 'a name without = is no cookie');
  assert.equal(cookieValue(h, 'sess'), null);
  assert.equal(cookieValue(['cookie', 'x;y;session=1'], 'session'), '1');
});

test('cookieValue reads a Cookie header in one pass: the work grows linearly with it', () => {
  for (const cookie of ['a;'.repeat(2000), 'a=1;'.repeat(1000), `${'a;'.repeat(1000)}b=2`]) {
    const scans = indexOfScans(() => cookieValue(['cookie', cookie], 'b'));
    assert.ok(scans <= 2 * cookie.length + 2, `${scans} characters examined for a ${cookie.length}-character Cookie`);
  }
  assert.equal(cookieValue(['cookie', `${'a;'.repeat(1000)}b=2`], 'b'), '2');
});
