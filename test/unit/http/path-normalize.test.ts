// Path normalisation against its references: istio.io's "Authorization Policy Normalization" page
// (the percent-encoded character table and its examples), Istio's own normalization integration
// test (tests/integration/security/normalization_test.go: the expected path per mode), and Envoy's
// path_utility_test.cc (canonicalPath, mergeSlashes, unescapeSlashes, removeQueryAndFragment).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  normalizePath, normalizeRequestTarget, PATH_NORMALIZATIONS, type PathNormalization,
} from '../../../src/http/path-normalize.js';

/** A raw request target split at its first '?' (path before, query after), normalised and joined again; null = 400. */
function target(raw: string, mode: PathNormalization = 'BASE'): string | null {
  const q = raw.indexOf('?');
  const t = { path: q < 0 ? raw : raw.slice(0, q), query: q < 0 ? '' : raw.slice(q + 1) };
  if (!normalizeRequestTarget(t, mode)) return null;
  return t.query === '' ? t.path : `${t.path}?${t.query}`;
}

function hex2(i: number): string {
  return i.toString(16).padStart(2, '0');
}

// istio.io, "Path Related / 1. Single percent-encoded character (%HH)": decoded → result per mode
// (the table is case-insensitive: both cases are checked below)
const ISTIO_PERCENT_TABLE: { code: number; to: string; mode: 'BASE' | 'DECODE_AND_MERGE_SLASHES' }[] = [
  { code: 0x2d, to: '-', mode: 'BASE' },
  { code: 0x2e, to: '.', mode: 'BASE' },
  { code: 0x2f, to: '/', mode: 'DECODE_AND_MERGE_SLASHES' },
  ...Array.from({ length: 10 }, (_, i) => ({ code: 0x30 + i, to: String(i), mode: 'BASE' as const })),
  ...Array.from({ length: 26 }, (_, i) => ({ code: 0x41 + i, to: String.fromCharCode(0x41 + i), mode: 'BASE' as const })),
  { code: 0x5c, to: '\\', mode: 'DECODE_AND_MERGE_SLASHES' },
  { code: 0x5f, to: '_', mode: 'BASE' },
  ...Array.from({ length: 26 }, (_, i) => ({ code: 0x61 + i, to: String.fromCharCode(0x61 + i), mode: 'BASE' as const })),
  { code: 0x7e, to: '~', mode: 'BASE' },
];

test('istio.io table: each percent-encoded character, in the mode that decodes it and in the one that does not', () => {
  for (const { code, to, mode } of ISTIO_PERCENT_TABLE) {
    for (const h of [hex2(code), hex2(code).toUpperCase()]) {
      // `\` is then normalised to `/` like a literal backslash (table row 2)
      const decoded = `/x${to === '\\' ? '/' : to}y`;
      assert.equal(normalizePath(`/x%${h}y`, mode), decoded, `%${h} with ${mode}`);
      assert.equal(normalizePath(`/x%${h}y`, 'MERGE_SLASHES'), mode === 'BASE' ? decoded : `/x%${h}y`, `%${h} with MERGE_SLASHES`);
      assert.equal(normalizePath(`/x%${h}y`, 'NONE'), `/x%${h}y`, `%${h} with NONE`);
    }
  }
  // %00: always rejected with 400
  for (const mode of PATH_NORMALIZATIONS) assert.equal(normalizePath('/x%00y', mode), null, mode);
});

test("Istio's percent-encoded sweep: %01..%ff after /admin, DECODE_AND_MERGE_SLASHES", () => {
  const decodes = new Map(ISTIO_PERCENT_TABLE.map((r) => [r.code, r.to === '\\' ? '/' : r.to]));
  for (let i = 1; i <= 0xff; i++) {
    const input = `/admin%${hex2(i)}`;
    assert.equal(normalizePath(input, 'DECODE_AND_MERGE_SLASHES'), decodes.has(i) ? `/admin${decodes.get(i)}` : input, input);
  }
});

test('istio.io examples (rows 1 to 5)', () => {
  assert.equal(target('/some%2fdata/%61%62%63', 'DECODE_AND_MERGE_SLASHES'), '/some/data/abc');
  assert.equal(target('/some\\data'), '/some/data');
  assert.equal(target('/some//data///abc', 'MERGE_SLASHES'), '/some/data/abc');
  assert.equal(target('/some//data///abc'), '/some//data///abc', 'BASE does not merge');
  assert.equal(target('/public/./data/abc/../xyz'), '/public/data/xyz');
  assert.equal(target('/foo?v=1'), '/foo?v=1', 'the query reaches the app as sent');
  assert.equal(target('/foo/../bar?v=/../%2e%2e'), '/bar?v=/../%2e%2e', 'normalisation is for the path only');
});

// tests/integration/security/normalization_test.go: [input, expected path] per mode
const ISTIO_CASES: Record<string, [PathNormalization, [string, string][]]> = {
  None: ['NONE', [
    ['/', '/'], ['/app#foo', '/app'], ['/app/', '/app/'], ['/app/../admin', '/app/../admin'], ['/app', '/app'],
    ['/app//', '/app//'], ['/app/%2f', '/app/%2f'], ['/app%2f/', '/app%2f/'], ['/xyz%30..//abc', '/xyz%30..//abc'],
    ['/app/%2E./admin', '/app/%2E./admin'], ['/app\\admin', '/app\\admin'], ['/app/\\/\\/\\admin', '/app/\\/\\/\\admin'],
    ['/%2Fapp%5cadmin%5Cabc', '/%2Fapp%5cadmin%5Cabc'],
    ['/%5Capp%2f%5c%2F%2e%2e%2fadmin%5c\\abc', '/%5Capp%2f%5c%2F%2e%2e%2fadmin%5c\\abc'],
    ['/app//../admin', '/app//../admin'], ['/app//../../admin', '/app//../../admin'],
  ]],
  Base: ['BASE', [
    ['/', '/'], ['/app#foo', '/app'], ['/app/', '/app/'], ['/app/../admin', '/admin'], ['/app', '/app'],
    ['/app//', '/app//'], ['/app/%2f', '/app/%2f'], ['/app%2f/', '/app%2f/'], ['/xyz%30..//abc', '/xyz0..//abc'],
    ['/app/%2E./admin', '/admin'], ['/app\\admin', '/app/admin'], ['/app/\\/\\/\\admin', '/app//////admin'],
    ['/%2Fapp%5cadmin%5Cabc', '/%2Fapp%5cadmin%5Cabc'],
    ['/%5Capp%2f%5c%2F%2e%2e%2fadmin%5c\\abc', '/%5Capp%2f%5c%2F..%2fadmin%5c/abc'],
    ['/app//../admin', '/app/admin'], ['/app//../../admin', '/admin'],
  ]],
  MergeSlashes: ['MERGE_SLASHES', [
    ['/', '/'], ['/app#foo', '/app'], ['/app/', '/app/'], ['/app/../admin', '/admin'], ['/app', '/app'],
    ['/app//', '/app/'], ['/app/%2f', '/app/%2f'], ['/app%2f/', '/app%2f/'], ['/xyz%30..//abc', '/xyz0../abc'],
    ['/app/%2E./admin', '/admin'], ['/app\\admin', '/app/admin'], ['/app/\\/\\/\\admin', '/app/admin'],
    ['/%2Fapp%5cadmin%5Cabc', '/%2Fapp%5cadmin%5Cabc'],
    ['/%5Capp%2f%5c%2F%2e%2e%2fadmin%5c\\abc', '/%5Capp%2f%5c%2F..%2fadmin%5c/abc'],
    ['/app//../admin', '/app/admin'], ['/app//../../admin', '/admin'],
  ]],
  DecodeAndMergeSlashes: ['DECODE_AND_MERGE_SLASHES', [
    ['/', '/'], ['/app#foo', '/app'], ['/app/', '/app/'], ['/app/../admin', '/admin'], ['/app', '/app'],
    ['/app//', '/app/'], ['/app/%2f', '/app/'], ['/app%2f/', '/app/'], ['/xyz%30..//abc', '/xyz0../abc'],
    ['/app/%2E./admin', '/admin'], ['/app\\admin', '/app/admin'], ['/app/\\/\\/\\admin', '/app/admin'],
    ['/%2Fapp%5cadmin%5Cabc', '/app/admin/abc'], ['/%5Capp%2f%5c%2F%2e%2e%2fadmin%5c\\abc', '/app/admin/abc'],
    ['/app//../admin', '/app/admin'], ['/app//../../admin', '/admin'],
    ['/%c0%2e%c0%2e/admin', '/%c0.%c0./admin'], ['/%c0%2fadmin', '/%c0/admin'],
  ]],
  NotNormalized: ['DECODE_AND_MERGE_SLASHES', [
    '/0x2e0x2e/admin', '/0x2e0x2e0x2fadmin', '/0x2e0x2e0x5cadmin', '/0x2f0x2fadmin', '/0x5c0x5cadmin',
    '/%25c0%25ae%25c1%259cadmin', '/%25c0%25ae%25c0%25ae/admin', '/%25c0%25afadmin', '/%25c1%259cadmin',
    '/%252e%252e/admin', '/%252e%252e%252fadmin', '/%c1%9cadmin', '/%c0%ae%c0%ae/admin', '/%c0%afadmin',
    '/.../admin', '/..../admin', '/..;/admin', '/;/admin', '/admin;a=b', '/admin;a=b/xyz', '/admin,a=b/xyz', '/Admin', '/ADMIN',
  ].map((p): [string, string] => [p, p])],
};

test("Istio's normalization integration table, per mode", () => {
  for (const [name, [mode, cases]] of Object.entries(ISTIO_CASES)) {
    for (const [input, expected] of cases) assert.equal(target(input, mode), expected, `${name}: ${input}`);
  }
  assert.equal(target('/admin%00', 'DECODE_AND_MERGE_SLASHES'), null, 'Invalid: /admin%00 → 400');
});

test("Envoy's canonicalPath cases (path_utility_test.cc), BASE", () => {
  for (const p of ['/xyz', '/x/y/z', '/A/B/C']) assert.equal(normalizePath(p, 'BASE'), p);
  for (const p of ['/xyz/.%00../abc', '/xyz/%00.%00./abc', '/xyz/AAAAA%%0000/abc']) assert.equal(normalizePath(p, 'BASE'), null, p);
  const pairs: [string, string][] = [
    ['/a/b/../c', '/a/c'], ['/a/b/./c', '/a/b/c'], ['/a/b/../../../../c', '/c'], ['/a/..\\c', '/c'],
    ['/%c0%af', '/%c0%af'], ['/%5c%25', '/%5c%25'], ['/a/b/%2E%2E/c', '/a/c'], ['/a/b/%2E./c', '/a/c'],
    ['/a/b/%2E/c', '/a/b/c'], ['/../a/b', '/a/b'], ['/./a/b', '/a/b'], ['/a/b/%2e%2e/c', '/a/c'],
    ['/a/%2F%2f/c', '/a/%2F%2f/c'],
    // a path that is not absolute (the listener never passes one) gets its leading '/'
    ['a/b/../c', '/a/c'], ['..', '/'],
  ];
  for (const [input, expected] of pairs) assert.equal(normalizePath(input, 'BASE'), expected, input);
});

test("Envoy's mergeSlashes cases: after BASE, the query untouched", () => {
  const pairs: [string, string][] = [
    ['/a//b/c/', '/a/b/c/'], ['/a', '/a'], ['//a/b/c', '/a/b/c'], ['/a//b/c', '/a/b/c'], ['/a/b/c//', '/a/b/c/'],
    ['/a///b/c', '/a/b/c'], ['/a////b/c', '/a/b/c'], ['/a//b?a=///c', '/a/b?a=///c'], ['//a/?b', '/a/?b'],
  ];
  for (const [input, expected] of pairs) assert.equal(target(input, 'MERGE_SLASHES'), expected, input);
});

test("Envoy's unescapeSlashes cases, then BASE and merged slashes (DECODE_AND_MERGE_SLASHES)", () => {
  const pairs: [string, string][] = [
    ['/%2f%2F', '/'], ['/a%2Fb%2fc/', '/a/b/c/'], ['/%2b', '/%2b'], ['/abc%2', '/abc%2'], ['/foo%', '/foo%'],
    ['/a%2F', '/a/'], ['/%%2fa/', '/%/a/'], ['/%2%2fa/', '/%2/a/'], ['/%5c%5C', '/'], ['/a%5Cb%5cc/', '/a/b/c/'],
  ];
  for (const [input, expected] of pairs) assert.equal(normalizePath(input, 'DECODE_AND_MERGE_SLASHES'), expected, input);
});

test("Envoy's removeQueryAndFragment cases: the fragment goes, from the first '#' in the path or the query", () => {
  const pairs: [string, string][] = [
    ['/abc', '/abc'], ['/abc?', '/abc'], ['/abc?param=value', '/abc?param=value'], ['/abc#', '/abc'], ['/abc#fragment', '/abc'],
    ['/abc#fragment?param=value', '/abc'], ['/abc##', '/abc'], ['/abc#?', '/abc'], ['/abc#?param=value', '/abc'],
    ['/abc?#', '/abc'], ['/abc?#fragment', '/abc'], ['/abc?param=value#', '/abc?param=value'],
    ['/abc?param=value#fragment', '/abc?param=value'], ['/a/../b%00#x', null as unknown as string],
  ];
  for (const [input, expected] of pairs) assert.equal(target(input), expected, input);
  for (const mode of PATH_NORMALIZATIONS) assert.equal(target('/secret#x?y', mode), '/secret', mode);
});

test('decoding happens once: an escape never becomes a new escape for the app to decode again', () => {
  // %25 (%) is not unreserved: kept, so %252e stays %252e (Istio's NotNormalized cases above)
  assert.equal(normalizePath('/%252e%252e/admin', 'BASE'), '/%252e%252e/admin');
  // a stray % followed by encoded hex digits: decoding them would spell %2e
  assert.equal(normalizePath('/a/%%32%65%%32%65/admin', 'BASE'), '/a/%%32e%%32e/admin');
  assert.equal(normalizePath('/%%34%31', 'BASE'), '/%%341');
  assert.equal(normalizePath('/%2%65', 'BASE'), '/%2%65');
  assert.equal(normalizePath('/%z%65', 'BASE'), '/%ze', 'a non-hex char after the % makes no escape');
  assert.equal(normalizePath('/%%67', 'BASE'), '/%g', 'g is not a hex digit');
});

test('paths with nothing to normalise; long and non-ASCII paths', () => {
  const p = '/api/v1/orders/12345/items?';
  assert.equal(normalizePath(p.slice(0, -1), 'BASE'), '/api/v1/orders/12345/items');
  assert.equal(normalizePath('/a//b', 'BASE'), '/a//b');
  assert.equal(normalizePath('/.well-known/x', 'BASE'), '/.well-known/x');
  assert.equal(normalizePath('/caf\u00e9/%C3%A9/\ufffd', 'BASE'), '/caf\u00e9/%C3%A9/\ufffd');
  const long = `/${'seg%61/'.repeat(3000)}..`;
  assert.equal(normalizePath(long, 'BASE'), `/${'sega/'.repeat(2999)}`);
  assert.equal(normalizePath(`/x${'%41'.repeat(10_000)}`, 'BASE'), `/x${'A'.repeat(10_000)}`);
});
