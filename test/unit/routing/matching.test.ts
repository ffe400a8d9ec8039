// Route-matching primitives: StringMatch kinds, query parameters, Host normalisation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import type { StringMatchSpec } from '../../../src/config/snapshot.js';
import { queryParam, type RequestView } from '../../../src/routing/request-view.js';
import { CompiledMatch } from '../../../src/routing/route.js';
import { normalizeHost } from '../../../src/routing/route-table.js';
import { StringMatcher } from '../../../src/routing/string-match.js';
import { indexOfScans } from '../../helpers/string-scans.js';

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

test('regex runs with RE2 semantics (code points, RE2 classes and flags), not JavaScript\'s', () => {
  const re = (value: string) => new StringMatcher({ kind: 'regex', value }, false);
  assert.ok(re('(?i)/api/.*').test('/API/x'), 'inline flag');
  assert.ok(re('\\pL+').test('héllo'), 'Unicode letter class');
  assert.ok(re('[[:alpha:]]+').test('abcXYZ'));
  assert.ok(!re('[[:alpha:]]+').test('ab1'));
  assert.ok(re('(?P<v>v[0-9]+)').test('v12'));
  assert.ok(re('abc\\z').test('abc'));
  assert.ok(re('\\Qa.b\\E').test('a.b'));
  assert.ok(!re('\\Qa.b\\E').test('axb'));
  assert.ok(re('.').test('\u{1F600}'), 'one dot, one code point (JavaScript without u: two code units)');
  assert.ok(!re('a.c').test('a\nc'), 'dot stops at a newline');
  assert.ok(re('(?s)a.c').test('a\nc'));
  assert.ok(!re('\\s').test('\v'), 'RE2 \\s is [\\t\\n\\f\\r ]: no vertical tab (JavaScript: yes)');
  assert.ok(!re('\\d').test('\u0663'), '\\d is ASCII only');
});

// Runs the matches in a worker thread, so that a backtracking engine fails the test at the
// deadline (the worker is terminated) instead of hanging it.
function matchInWorker(cases: [regex: string, input: string][], deadlineMs: number): Promise<boolean[]> {
  const code = `const { parentPort, workerData } = require('node:worker_threads');
import(workerData.url).then(({ StringMatcher }) => parentPort.postMessage(
  workerData.cases.map(([value, input]) => new StringMatcher({ kind: 'regex', value }, false).test(input))));`;
  const url = new URL('../../../src/routing/string-match.js', import.meta.url).href;
  const worker = new Worker(code, { eval: true, workerData: { url, cases } });
  return new Promise((resolve, reject) => {
    const deadline = setTimeout(() => {
      void worker.terminate();
      reject(new Error(`the matches did not finish within ${deadlineMs} ms`));
    }, deadlineMs);
    worker.once('message', (results: boolean[]) => {
      clearTimeout(deadline);
      void worker.terminate();
      resolve(results);
    });
    worker.once('error', (err) => {
      clearTimeout(deadline);
      reject(err);
    });
  });
}

test('regex match time is linear in the input: nested quantifiers cannot backtrack', async () => {
  // V8's backtracking RegExp needs ~10 s for `/(a+)+` on 30 a's and a '!', twice that per extra a
  const cases: [string, string][] = [];
  const want: boolean[] = [];
  for (const n of [30, 1000, 100_000]) {
    const as = `/${'a'.repeat(n)}`;
    cases.push(['/(a+)+', `${as}!`], ['/(a|aa)+', `${as}!`], ['(x+x+)+y', 'x'.repeat(n)], ['/(a+)+', as]);
    want.push(false, false, false, true);
  }
  assert.deepEqual(await matchInWorker(cases, 5000), want);
});

test('ignoreUriCase lower-cases exact/prefix values and paths; a regex stays as written (Istio), (?i) makes it case-insensitive', () => {
  assert.ok(new StringMatcher({ kind: 'prefix', value: '/API' }, true).test('/api/x'));
  const match = (uri: StringMatchSpec) => new CompiledMatch({
    name: null, uri, scheme: null, method: null, authority: null, headers: [], withoutHeaders: [], queryParams: [],
    ignoreUriCase: true, port: 0,
  });
  const req = (path: string): RequestView => ({ method: 'GET', path, query: '', authority: 'svc', scheme: 'http', headers: [], listenerPort: 80 });
  assert.ok(match({ kind: 'prefix', value: '/API' }).test(req('/Api/x')));
  assert.ok(match({ kind: 'exact', value: '/API' }).test(req('/aPI')));
  assert.ok(match({ kind: 'regex', value: '/API/.*' }).test(req('/API/x')));
  assert.ok(!match({ kind: 'regex', value: '/API/.*' }).test(req('/Api/x')), 'ignoreUriCase does not apply to a regex');
  assert.ok(!match({ kind: 'regex', value: '/api/.*' }).test(req('/Api/x')), 'nor is the path lower-cased for it');
  assert.ok(match({ kind: 'regex', value: '(?i)/API/.*' }).test(req('/Api/x')));
});

test('queryParam finds the first value, decodes it, and tells absent from empty', () => {
  assert.equal(queryParam('a=1&b=two%20words&b=3', 'b'), 'two words');
  assert.equal(queryParam('flag&x=1', 'flag'), '');
  assert.equal(queryParam('ab=1', 'a'), null);
  assert.equal(queryParam('', 'a'), null);
  assert.equal(queryParam('a=%E0%A4%A', 'a'), '%E0%A4%A', 'malformed escapes are kept as sent');
});

test('queryParam reads a query in one pass: the work grows linearly with it', () => {
  for (const query of ['a&'.repeat(2000), 'a=1&'.repeat(1000), `${'a&'.repeat(1000)}b=2`]) {
    const scans = indexOfScans(() => queryParam(query, 'b'));
    assert.ok(scans <= 2 * query.length + 2, `${scans} characters examined for a ${query.length}-character query`);
  }
  assert.equal(queryParam(`${'a&'.repeat(1000)}b=2`, 'b'), '2');
  assert.equal(queryParam('a&b&c=3&b=4', 'b'), '', 'a key without = is present and empty');
  assert.equal(queryParam('a&x=1&c=3', 'c'), '3');
});

test('normalizeHost strips port and trailing dot and lower-cases', () => {
  assert.equal(normalizeHost('Product-Service:9080'), 'product-service');
  assert.equal(normalizeHost('[::1]:80'), '::1');
  assert.equal(normalizeHost('example.com.'), 'example.com');
});
