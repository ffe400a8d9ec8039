// Config text meshlet writes into HTTP messages as it is — header values, rewrite/redirect URIs and
// authorities, the consistent-hash cookie, direct response bodies — is refused at load when it
// cannot go on the wire unchanged, with the field path and the encoded form to write instead.
// (Before, non-ASCII header values and rewrites passed, and then every request on the route failed
// as 502 UPE "bad upstream response", blaming the app; a Ċ (U+010A) in a value was written as LF.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileYaml, errors, expectError, serviceEntry, virtualService } from './helpers.js';
import { formatIssueLines } from './traffic-policy-helpers.js';

const vs = (rule: string): string => `${serviceEntry('svc')}---\n${virtualService('bad', rule)}`;
const VS = 'VirtualService/bad';
const ROUTE = 'route: [{destination: {host: svc}}]';

function accepted(config: string): void {
  const r = compileYaml(config);
  assert.deepEqual(errors(r), [], formatIssueLines(r));
  assert.ok(r.snapshot);
}

/** Header operation blocks at rule and destination level: [path prefix, rule with `block` there]. */
const HEADER_PLACES: [string, (block: string) => string][] = [
  ['spec.http[0].headers', (b) => `headers: ${b}\n${ROUTE}`],
  ['spec.http[0].route[0].headers', (b) => `route: [{destination: {host: svc}, headers: ${b}}]`],
];

test('header values outside printable ASCII are refused in every set/add, request and response, rule and destination', () => {
  for (const [prefix, rule] of HEADER_PLACES) {
    for (const side of ['request', 'response']) {
      for (const op of ['set', 'add']) {
        const path = `${prefix}.${side}.${op}.x-a`;
        const line = expectError(vs(rule(`{${side}: {${op}: {x-a: "日本 ok"}}}`)), path, VS, 1);
        assert.match(line, /header value contains "日" \(U\+65E5\), which is not ASCII/, line);
        assert.match(line, /percent-encoded "%E6%97%A5%E6%9C%AC ok"/, line);
        // latin1 letters too: meshlet's codec would send é as the single byte 0xE9, not as UTF-8
        expectError(vs(rule(`{${side}: {${op}: {x-a: "café"}}}`)), path, VS, 1);
        // a Ċ (U+010A) would have been written as its low byte: a line feed
        assert.match(expectError(vs(rule(`{${side}: {${op}: {x-a: "a\\u010aX-Injected: 1"}}}`)), path, VS, 1), /U\+010A/);
        assert.match(expectError(vs(rule(`{${side}: {${op}: {x-a: "a\\ud800"}}}`)), path, VS, 1), /contains U\+D800/);
        accepted(vs(rule(`{${side}: {${op}: {x-a: "printable ASCII, with\\ttab: ok %E6%97%A5"}}}`)));
      }
    }
  }
});

test('header names outside tokens are refused in set, add and remove', () => {
  for (const [prefix, rule] of HEADER_PLACES) {
    for (const side of ['request', 'response']) {
      for (const op of ['set', 'add']) {
        assert.match(expectError(vs(rule(`{${side}: {${op}: {x-é: v}}}`)), `${prefix}.${side}.${op}["x-é"]`, VS, 1), /not a valid header name/);
      }
      assert.match(expectError(vs(rule(`{${side}: {remove: [ok, "x-é"]}}`)), `${prefix}.${side}.remove[1]`, VS, 1), /not a valid header name/);
    }
  }
});

test('a host header set or added on requests must be a valid ASCII authority', () => {
  for (const [prefix, rule] of HEADER_PLACES) {
    const line = expectError(vs(rule('{request: {set: {host: "bücher.example:8080"}}}')), `${prefix}.request.set.host`, VS, 1);
    assert.match(line, /write the internationalized name in its ASCII form: "xn--bcher-kva\.example:8080"/, line);
    assert.match(expectError(vs(rule('{request: {add: {host: "a b"}}}')), `${prefix}.request.add.host`, VS, 1), /not a valid authority/);
    accepted(vs(rule('{request: {set: {host: "xn--bcher-kva.example:8080"}}}')));
  }
});

test('rewrite.uri: non-ASCII, spaces, bad escapes and fragments are refused with the percent-encoded form', () => {
  const path = 'spec.http[0].rewrite.uri';
  assert.match(expectError(vs(`rewrite: {uri: "/日本 x"}\n${ROUTE}`), path, VS, 1), /"日" \(U\+65E5\) cannot be sent in a URI as it is; write it percent-encoded: "\/%E6%97%A5%E6%9C%AC%20x"/);
  assert.match(expectError(vs(`rewrite: {uri: "/a b"}\n${ROUTE}`), path, VS, 1), /write it percent-encoded: "\/a%20b"/);
  assert.match(expectError(vs(`rewrite: {uri: "/a\\u0000"}\n${ROUTE}`), path, VS, 1), /U\+0000 cannot be sent/);
  assert.match(expectError(vs(`rewrite: {uri: "/a%zz"}\n${ROUTE}`), path, VS, 1), /"%" must start a percent-encoded byte/);
  assert.match(expectError(vs(`rewrite: {uri: "/a#b"}\n${ROUTE}`), path, VS, 1), /a fragment \(#…\) is never sent to a server/);
  accepted(vs(`rewrite: {uri: "/%E6%97%A5/a-b_c.d~e!$&'()*+,;=:@/?q=1&r=%20"}\n${ROUTE}`));
});

test('rewrite.authority: an internationalized name is refused with its ASCII form; other non-authorities too', () => {
  const path = 'spec.http[0].rewrite.authority';
  assert.match(expectError(vs(`rewrite: {authority: "bücher.example"}\n${ROUTE}`), path, VS, 1), /"ü" \(U\+00FC\), which is not ASCII; write the internationalized name in its ASCII form: "xn--bcher-kva\.example"/);
  assert.match(expectError(vs(`rewrite: {authority: "a/b"}\n${ROUTE}`), path, VS, 1), /"a\/b" is not a valid authority/);
  assert.match(expectError(vs(`rewrite: {authority: "a:99999"}\n${ROUTE}`), path, VS, 1), /port 99999 .* is above 65535/);
  accepted(vs(`rewrite: {authority: "xn--bcher-kva.example:8080"}\n${ROUTE}`));
  accepted(vs(`rewrite: {authority: "[::1]:8080"}\n${ROUTE}`));
});

test('redirect.uri and redirect.authority follow the same rules; a redirect may carry a fragment', () => {
  assert.match(expectError(vs('redirect: {uri: "/é"}'), 'spec.http[0].redirect.uri', VS, 1), /write it percent-encoded: "\/%C3%A9"/);
  assert.match(expectError(vs('redirect: {uri: "/a#b c"}'), 'spec.http[0].redirect.uri', VS, 1), /write it percent-encoded: "\/a#b%20c"/);
  assert.match(expectError(vs('redirect: {authority: "bücher.example"}'), 'spec.http[0].redirect.authority', VS, 1), /"xn--bcher-kva\.example"/);
  accepted(vs('redirect: {uri: "/new#section-2", authority: "example.com"}'));
});

test('directResponse: bytes that are not UTF-8 and strings that are not Unicode are refused, not mangled', () => {
  const dr = (body: string): string => vs(`directResponse: {status: 200, body: ${body}}`);
  assert.match(expectError(dr('{bytes: "/w=="}'), 'spec.http[0].directResponse.body.bytes', VS, 1), /do not decode to UTF-8 text/);
  assert.match(expectError(dr('{string: "a\\ud800"}'), 'spec.http[0].directResponse.body.string', VS, 1), /unpaired surrogate/);
  const r = compileYaml(dr(`{bytes: "${Buffer.from('日本\n').toString('base64')}"}`));
  assert.deepEqual(errors(r), [], formatIssueLines(r));
  assert.equal(r.snapshot?.virtualHosts[0]?.routes[0]?.directResponse?.body, '日本\n');
});

test('directResponse: the 1MB limit counts bytes, not characters', () => {
  const path = 'spec.http[0].directResponse.body';
  // 400k three-byte characters: 1.2MB of UTF-8 in 400k JavaScript characters (no assert on the
  // result itself: a failure message diffing a 1.2MB snapshot takes minutes)
  const r = compileYaml(vs(`directResponse: {status: 200, body: {string: "${'日'.repeat(400_000)}"}}`));
  assert.ok(r.snapshot === null, 'a 1.2MB body must be refused');
  assert.ok(errors(r).some((i) => i.path === path && /smaller than 1MB/.test(i.message)), 'no error at the body');
});

test('consistent-hash cookie: the name and path go into Set-Cookie and must be sendable', () => {
  const dr = (cookie: string): string => `${serviceEntry('svc')}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: bad}
spec: {host: svc, trafficPolicy: {loadBalancer: {consistentHash: {httpCookie: ${cookie}}}}}
`;
  const at = 'spec.trafficPolicy.loadBalancer.consistentHash.httpCookie';
  assert.match(expectError(dr('{name: "a b", ttl: 10s}'), `${at}.name`, 'DestinationRule/bad', 1), /not a valid cookie name/);
  assert.match(expectError(dr('{name: s, path: "/é", ttl: 10s}'), `${at}.path`, 'DestinationRule/bad', 1), /cookie path contains "é"/);
  assert.match(expectError(dr('{name: s, path: "/a;Secure", ttl: 10s}'), `${at}.path`, 'DestinationRule/bad', 1), /";" would end the cookie attribute/);
  accepted(dr('{name: session-id, path: /api, ttl: 10s}'));
});
