// StringMatch regexes at validation: accepted and refused exactly as istiod does (RE2 syntax as
// Go's regexp parses it, at most 1024 bytes), in every field that takes a StringMatch, with the
// field path in the error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIssue } from '../../../src/config/index.js';
import { regexProblem } from '../../../src/config/validate/string-match.js';
import { compileYaml, errors, expectError, serviceEntry, virtualService } from './helpers.js';

const VS = 'VirtualService/re';
const P = 'spec.http[0].match[0]';

/** A config whose one match puts `re` (as a YAML double-quoted string) at `field`. */
function withRegex(field: string, re: string): string {
  const q = JSON.stringify(re);
  const match = {
    uri: `{uri: {regex: ${q}}}`,
    method: `{method: {regex: ${q}}}`,
    scheme: `{scheme: {regex: ${q}}}`,
    authority: `{authority: {regex: ${q}}}`,
    header: `{headers: {x-env: {regex: ${q}}}}`,
    withoutHeader: `{withoutHeaders: {x-env: {regex: ${q}}}}`,
    query: `{queryParams: {q: {regex: ${q}}}}`,
  }[field];
  assert.ok(match !== undefined, field);
  return `${serviceEntry('svc')}---\n${virtualService('re', `match: [${match}]\nroute: [{destination: {host: svc}}]`)}`;
}

const PATHS: Record<string, string> = {
  uri: `${P}.uri.regex`,
  method: `${P}.method.regex`,
  scheme: `${P}.scheme.regex`,
  authority: `${P}.authority.regex`,
  header: `${P}.headers.x-env.regex`,
  withoutHeader: `${P}.withoutHeaders.x-env.regex`,
  query: `${P}.queryParams.q.regex`,
};

// RE2 syntax, some of it unknown to JavaScript's RegExp or read differently by it
const ACCEPTED: [string, string][] = [
  ['/api/v[0-9]+/.*', 'a typical route'],
  ['(?i)/api/.*', 'inline flag'],
  ['(?i:abc)def', 'flag group'],
  ['(?s).*', 'dot matches newline'],
  ['(?m)^a$', 'multi-line'],
  ['(?U)a+', 'ungreedy'],
  ['\\pL+', 'one-letter Unicode class'],
  ['\\p{Greek}+', 'Unicode script'],
  ['\\PN', 'negated Unicode class'],
  ['[[:alpha:]]+', 'POSIX class'],
  ['[[:^digit:]]', 'negated POSIX class'],
  ['(?P<name>x)', 'Python-style named group'],
  ['(?<name>x)', 'named group'],
  ['\\Aabc\\z', 'text anchors'],
  ['\\Qa.b\\E', 'literal text'],
  ['\\x{41}\\x41', 'hex escapes'],
  ['a{2,1000}', 'repeat count up to 1000'],
  ['[^\\n]*', 'negated class with escape'],
  ['x'.repeat(1024), '1024 bytes'],
];

// Perl/JavaScript syntax RE2 lacks, and plain errors
const REFUSED: [string, RegExp][] = [
  ['(a)\\1', /backreference \\1 is not supported by RE2/],
  ['(?<n>a)\\k<n>', /named backreference \\k<…> is not supported by RE2/],
  ['(?P<n>a)(?P=n)', /named backreference \(\?P=…\) is not supported by RE2/],
  ['/api/(?=v1).*', /lookahead \(\?=…\) is not supported by RE2/],
  ['/api/(?!v1).*', /negative lookahead \(\?!…\) is not supported by RE2/],
  ['(?<=a)b', /lookbehind \(\?<=…\) is not supported by RE2/],
  ['(?<!a)b', /negative lookbehind \(\?<!…\) is not supported by RE2/],
  ['(?>a+)b', /atomic group \(\?>…\) is not supported by RE2/],
  ['a(?#note)b', /comment \(\?#…\) is not supported by RE2/],
  ['a++', /invalid regex: .*invalid nested repetition operator/],
  ['a{1001}', /invalid regex: .*invalid repeat count/],
  ['\\cA', /invalid regex: .*invalid escape sequence/],
  ['\\u0041', /invalid regex: .*invalid escape sequence/],
  ['\\C', /invalid regex: .*invalid escape sequence/], // RE2's any-byte: Go (and so istiod) refuses it
  ['[z-a]', /invalid regex: .*invalid character class range/],
  ['/api/(v1', /invalid regex: .*missing closing \)/],
  ['x'.repeat(1025), /regex is too large \(1025 bytes, max 1024\)/],
  ['é'.repeat(513), /regex is too large \(1026 bytes, max 1024\)/],
];

test('RE2 syntax is accepted in every StringMatch field', () => {
  for (const [re, what] of ACCEPTED) {
    assert.equal(regexProblem(re), null, what);
    for (const field of Object.keys(PATHS)) {
      const r = compileYaml(withRegex(field, re));
      assert.deepEqual(errors(r).map(formatIssue), [], `${what} in ${field}`);
      assert.notEqual(r.snapshot, null);
    }
  }
});

test('syntax RE2 refuses is refused at validation, with its field path and the reason', () => {
  for (const [re, reason] of REFUSED) {
    const line = expectError(withRegex('uri', re), PATHS.uri as string, VS, 1);
    assert.match(line, reason);
    if (!line.includes('too large')) assert.match(line, /Istio regexes use RE2 syntax \(https:\/\/github\.com\/google\/re2\/wiki\/Syntax\)/);
  }
});

test('a refused regex names its own field: method, scheme, authority, headers, withoutHeaders, queryParams', () => {
  for (const field of Object.keys(PATHS)) {
    const line = expectError(withRegex(field, '(?=x)'), PATHS[field] as string, VS, 1);
    assert.match(line, /lookahead/, field);
  }
});

test('an empty regex is refused', () => {
  assert.match(expectError(withRegex('header', ''), PATHS.header as string, VS, 1), /regex must not be empty/);
});
