// Invalid configs: each is rejected (no snapshot) with an error naming the file, the document
// index, `Kind/name` and the exact field path; and all errors of a file come back together.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIssue } from '../../../src/config/index.js';
import { compileYaml, errors, expectError, serviceEntry, virtualService } from './helpers.js';

/** The invalid resource is document 1, after a valid ServiceEntry for `svc`. */
const withSe = (doc: string) => `${serviceEntry('svc')}---\n${doc}`;
const vs = (rule: string) => withSe(virtualService('bad', rule));
const VS = 'VirtualService/bad';

test('negative weight', () => {
  const line = expectError(vs(`
route:
- destination: {host: svc}
  weight: 110
- destination: {host: svc}
  weight: -10`), 'spec.http[0].route[1].weight', VS, 1);
  assert.match(line, /must be >= 0, got -10/);
});

test('weights summing to zero', () => {
  expectError(vs(`
route:
- destination: {host: svc}
  weight: 0
- destination: {host: svc}`), 'spec.http[0].route', VS, 1);
  expectError(vs(`
route:
- destination: {host: svc}
  weight: 0`), 'spec.http[0].route', VS, 1);
});

test('weight that is a string, or not an integer', () => {
  assert.match(expectError(vs(`
route:
- destination: {host: svc}
  weight: "100"`), 'spec.http[0].route[0].weight', VS, 1), /expected an integer, got a string \("100"\)/);
  assert.match(expectError(vs(`
route:
- destination: {host: svc}
  weight: 2.5`), 'spec.http[0].route[0].weight', VS, 1), /expected an integer, got 2.5/);
});

test('regex that does not compile', () => {
  const line = expectError(vs(`
match: [{uri: {regex: "/api/(v1"}}]
route: [{destination: {host: svc}}]`), 'spec.http[0].match[0].uri.regex', VS, 1);
  assert.match(line, /invalid regex/);
});

test('regex constructs RE2 rejects: lookahead, lookbehind, backreference', () => {
  const cases: [string, RegExp][] = [
    ['/api/(?=v1).*', /lookahead/],
    ['/(?<!x)y', /negative lookbehind/],
    ['/(a)\\\\1', /backreference \\1/],
    ['/(?<n>a)\\\\k<n>', /named backreference/],
  ];
  for (const [re, reason] of cases) {
    const line = expectError(vs(`
match: [{uri: {regex: "${re}"}}]
route: [{destination: {host: svc}}]`), 'spec.http[0].match[0].uri.regex', VS, 1);
    assert.match(line, reason);
    assert.match(line, /RE2/);
  }
});

test('uppercase header name in a match', () => {
  const line = expectError(vs(`
match: [{headers: {X-Foo: {exact: bar}}}]
route: [{destination: {host: svc}}]`), 'spec.http[0].match[0].headers.X-Foo', VS, 1);
  assert.match(line, /must be lowercase \(write x-foo\)/);
});

test('StringMatch with two kinds, or with none', () => {
  assert.match(expectError(vs(`
match: [{uri: {exact: /a, prefix: /b}}]
route: [{destination: {host: svc}}]`), 'spec.http[0].match[0].uri', VS, 1), /exactly one of exact, prefix, regex \(found exact and prefix\)/);
  assert.match(expectError(vs(`
match: [{method: {}}]
route: [{destination: {host: svc}}]`), 'spec.http[0].match[0].method', VS, 1), /found none/);
});

test('missing destination host', () => {
  assert.match(expectError(vs(`
route:
- destination: {subset: v1}`), 'spec.http[0].route[0].destination.host', VS, 1), /required field is missing/);
});

test('VirtualService without hosts', () => {
  const doc = `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: nohosts}
spec:
  http: [{route: [{destination: {host: svc}}]}]
`;
  expectError(withSe(doc), 'spec.hosts', 'VirtualService/nohosts', 1);
});

test('rule with both route and redirect, and a rule with no action', () => {
  assert.match(expectError(vs(`
redirect: {uri: /new}
route: [{destination: {host: svc}}]`), 'spec.http[0]', VS, 1), /exactly one of route, redirect, directResponse \(found route and redirect\)/);
  assert.match(expectError(vs(`
name: nothing
timeout: 1s`), 'spec.http[0]', VS, 1), /needs one of route, redirect or directResponse/);
});

test('redirectCode 200', () => {
  assert.match(expectError(vs(`
redirect: {uri: /new, redirectCode: 200}`), 'spec.http[0].redirect.redirectCode', VS, 1), /200 is not a valid redirect code/);
});

test('bad durations', () => {
  for (const bad of ['"5 seconds"', '10', '"0.5ms"', '"0s"']) {
    expectError(vs(`
timeout: ${bad}
route: [{destination: {host: svc}}]`), 'spec.http[0].timeout', VS, 1);
  }
});

test('header value with CR/LF', () => {
  const line = expectError(vs(`
headers:
  request:
    set: {x-foo: "a\\r\\nx-injected: 1"}
route: [{destination: {host: svc}}]`), 'spec.http[0].headers.request.set.x-foo', VS, 1);
  assert.match(line, /control character/);
});

test('ServiceEntry port 70000, duplicate port names, hostname endpoint with STATIC', () => {
  const se = `apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata: {name: ext}
spec:
  hosts: [ext.example.com]
  resolution: STATIC
  ports:
  - {number: 70000, name: http}
  - {number: 81, name: http}
  endpoints:
  - address: backend.example.com
`;
  assert.match(expectError(se, 'spec.ports[0].number', 'ServiceEntry/ext', 0), /must be in 1\.\.65535, got 70000/);
  assert.match(expectError(se, 'spec.ports[1].name', 'ServiceEntry/ext', 0), /duplicate port name http/);
  assert.match(expectError(se, 'spec.endpoints[0].address', 'ServiceEntry/ext', 0), /not an IP address/);
});

test('ServiceEntry with both endpoints and workloadSelector', () => {
  expectError(serviceEntry('svc', '  workloadSelector: {labels: {app: svc}}\n'), 'spec.workloadSelector', 'ServiceEntry/svc', 0);
});

test('duplicate subset name', () => {
  const dr = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc-dr}
spec:
  host: svc
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v1, labels: {version: v2}}
`;
  assert.match(expectError(withSe(dr), 'spec.subsets[1].name', 'DestinationRule/svc-dr', 1), /duplicate subset name v1/);
});

test('Sidecar: ingress without defaultEndpoint, unix endpoint, colliding listeners', () => {
  const sc = `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: sc}
spec:
  ingress:
  - port: {number: 9080, protocol: HTTP}
  - port: {number: 9081, protocol: HTTP}
    defaultEndpoint: unix:///var/run/app.sock
  - port: {number: 9082, protocol: HTTP}
    defaultEndpoint: 127.0.0.1:8080
  egress:
  - port: {number: 9082, protocol: HTTP}
    bind: 127.0.0.1
    hosts: ["./*"]
`;
  expectError(sc, 'spec.ingress[0].defaultEndpoint', 'Sidecar/sc', 0);
  assert.match(expectError(sc, 'spec.ingress[1].defaultEndpoint', 'Sidecar/sc', 0), /not supported/);
  assert.match(expectError(sc, 'spec.egress[0].port.number', 'Sidecar/sc', 0), /collides with 127\.0\.0\.1:9082/);
});

test('YAML syntax error names the line', () => {
  const r = compileYaml(`${serviceEntry('svc')}---\nkind: VirtualService\nspec:\n  hosts: [a\n  http: x\n`);
  assert.equal(r.snapshot, null);
  const e = errors(r);
  assert.ok(e.length >= 1);
  const line = formatIssue(e[0]!);
  assert.match(line, /^error: test\.yaml \(document 1\) <document>: YAML syntax error: .* at line \d+, column \d+$/);
});

test('document without kind, and without metadata.name', () => {
  const noKind = `apiVersion: networking.istio.io/v1\nmetadata: {name: x}\nspec: {}\n`;
  assert.match(expectError(`${serviceEntry('svc')}---\n${noKind}`, 'kind', '<document>', 1), /required field is missing/);
  const noName = `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {namespace: x}\nspec: {}\n`;
  expectError(noName, 'metadata.name', 'VirtualService/<unnamed>', 0);
  assert.match(expectError('- a\n- b\n', '', '<document>', 0), /must be a map/);
});

test('the same Kind/namespace/name twice: error on the second', () => {
  const line = expectError(`${serviceEntry('svc')}---\n${serviceEntry('svc')}`, 'metadata.name', 'ServiceEntry/svc', 1);
  assert.match(line, /duplicate resource: ServiceEntry\/default\/svc is already defined in test\.yaml \(document 0\)/);
});

test('several errors in one file are all reported together', () => {
  const r = compileYaml(`${serviceEntry('svc')}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: many}
spec:
  hosts: [svc]
  http:
  - match: [{uri: {regex: "(?=x)"}, headers: {Bad: {exact: a}}}]
    route:
    - destination: {host: svc}
      weight: -1
    - destination: {}
      weight: "x"
  - redirect: {uri: /x, redirectCode: 200}
    timeout: soon
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: other}
spec:
  ports: [{number: 0}]
`);
  assert.equal(r.snapshot, null);
  const got = errors(r).map((i) => `${i.doc} ${i.resource} ${i.path}`);
  for (const want of [
    '1 VirtualService/many spec.http[0].match[0].uri.regex',
    '1 VirtualService/many spec.http[0].match[0].headers.Bad',
    '1 VirtualService/many spec.http[0].route[0].weight',
    '1 VirtualService/many spec.http[0].route[1].destination.host',
    '1 VirtualService/many spec.http[0].route[1].weight',
    '1 VirtualService/many spec.http[1].redirect.redirectCode',
    '1 VirtualService/many spec.http[1].timeout',
    '2 ServiceEntry/other spec.hosts',
    '2 ServiceEntry/other spec.ports[0].number',
  ]) {
    assert.ok(got.includes(want), `missing "${want}" in:\n${got.join('\n')}`);
  }
});
