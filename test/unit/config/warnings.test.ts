// Problems that do not block a config: reported as warnings, and the snapshot is still built
// with Istio's semantics (relative weights, first resource wins, 503 for dangling references).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIssue } from '../../../src/config/index.js';
import { compileYaml, errors, serviceEntry, virtualService, warnings } from './helpers.js';

function ok(text: string) {
  const r = compileYaml(text);
  assert.deepEqual(errors(r).map(formatIssue), []);
  assert.ok(r.snapshot);
  return { snapshot: r.snapshot, warnings: warnings(r), lines: warnings(r).map(formatIssue) };
}

function hasWarning(lines: string[], ...parts: string[]): void {
  assert.ok(lines.some((l) => l.startsWith('warning: ') && parts.every((p) => l.includes(p))), `no warning with ${parts.join(' | ')} in:\n${lines.join('\n')}`);
}

test('weights summing to 80: a warning, and the weights are applied as relative weights', () => {
  const { snapshot, lines } = ok(`${serviceEntry('svc')}---\n${virtualService('w80', `
route:
- destination: {host: svc}
  weight: 50
- destination: {host: svc}
  weight: 30`)}`);
  hasWarning(lines, '(document 1) VirtualService/w80: spec.http[0].route:', 'sum to 80, not 100');
  const route = snapshot.virtualHosts[0]?.routes[0];
  assert.equal(route?.totalWeight, 80);
  assert.deepEqual(route?.destinations?.map((d) => d.weight), [50, 30]);
});

test('undefined subset: a warning, and clusterId -1 with the reason (503 NC at request time)', () => {
  const dr = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc}
spec:
  host: svc
  subsets: [{name: v1, labels: {version: v1}}]
`;
  const { snapshot, lines } = ok(`${serviceEntry('svc')}---\n${dr}---\n${virtualService('sub', `
route:
- destination: {host: svc, subset: v1}
  weight: 90
- destination: {host: svc, subset: v3}
  weight: 10`)}`);
  hasWarning(lines, '(document 2) VirtualService/sub: spec.http[0].route[1].destination.subset:', 'subset v3 is not defined');
  const [v1, v3] = snapshot.virtualHosts[0]?.routes[0]?.destinations ?? [];
  assert.equal(v3?.clusterId, -1);
  assert.equal(v3?.unresolved, 'subset v3 is not defined by any DestinationRule for host svc');
  assert.equal(v1?.unresolved, null);
  assert.equal(snapshot.clusters[v1?.clusterId ?? -1]?.endpoints.length, 0, 'the SE endpoint has no version label');
  hasWarning(lines, 'DestinationRule/svc: spec.subsets[0].labels:', 'selects no endpoints');
});

test('destination host without a ServiceEntry: a warning, clusterId -1', () => {
  const { snapshot, lines } = ok(virtualService('nose', 'route: [{destination: {host: nowhere.example.com}}]', 'front'));
  hasWarning(lines, '(document 0) VirtualService/nose: spec.http[0].route[0].destination.host:', 'no ServiceEntry for host nowhere.example.com');
  const d = snapshot.virtualHosts[0]?.routes[0]?.destinations?.[0];
  assert.deepEqual([d?.clusterId, d?.unresolved, d?.weight], [-1, 'no ServiceEntry for host nowhere.example.com', 100]);
});

test('destination port the ServiceEntry does not declare: a warning, clusterId -1', () => {
  const { snapshot, lines } = ok(`${serviceEntry('svc')}---\n${virtualService('port', 'route: [{destination: {host: svc, port: {number: 81}}}]')}`);
  hasWarning(lines, 'spec.http[0].route[0].destination.port.number:', 'port 81 is not a port');
  assert.equal(snapshot.virtualHosts[0]?.routes[0]?.destinations?.[0]?.clusterId, -1);
});

test('two DestinationRules for one host: a warning on the second, the first wins', () => {
  const dr = (name: string, lb: string) => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${name}}
spec:
  host: svc
  trafficPolicy: {loadBalancer: {simple: ${lb}}}
`;
  const { snapshot, lines } = ok(`${serviceEntry('svc')}---\n${dr('first', 'RANDOM')}---\n${dr('second', 'ROUND_ROBIN')}`);
  hasWarning(lines, '(document 2) DestinationRule/second: spec.host:', 'DestinationRule/first', 'ignored');
  assert.equal(snapshot.clusters[0]?.lb, 'RANDOM');
});

test('two VirtualServices for one host: a warning on the second, which loses that host', () => {
  const { snapshot, lines } = ok(`${serviceEntry('svc')}---
${virtualService('a', 'route: [{destination: {host: svc}}]', 'svc')}---
${virtualService('b', 'directResponse: {status: 503}', '"svc.default.svc.cluster.local", other.example.com')}`);
  hasWarning(lines, '(document 2) VirtualService/b: spec.hosts[0]:', 'already claimed', 'VirtualService/a');
  assert.deepEqual(snapshot.virtualHosts.map((v) => v.hosts), [
    ['svc', 'svc.default', 'svc.default.svc', 'svc.default.svc.cluster.local'],
    ['other.example.com'],
  ]);
});

test('unknown fields, deprecated and not-enforced settings, a tcp rule no listener takes: warnings only', () => {
  const dr = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc}
spec:
  host: svc
  trafficPolicy:
    loadBalancer: {simple: LEAST_CONN, localityLbSetting: {enabled: true}}
    connectionPool: {tcp: {maxConnections: 10}}
  subsets:
  - name: v1
    trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}
`;
  const { snapshot, lines } = ok(`${serviceEntry('svc', '  colour: blue\n')}---\n${dr}---
${virtualService('t', `
route: [{destination: {host: svc}}]
corsPolicy: {allowOrigins: [{exact: 'https://a.example'}]}
bogus: 1`)}  tcp: [{route: [{destination: {host: svc}}]}]
`);
  hasWarning(lines, 'ServiceEntry/svc: spec.colour:', 'unknown field, ignored');
  hasWarning(lines, 'VirtualService/t: spec.http[0].bogus:', 'unknown field, ignored');
  hasWarning(lines, 'VirtualService/t: spec.http[0].corsPolicy:', 'not supported');
  hasWarning(lines, 'VirtualService/t: spec.tcp[0]:', 'no TCP listener takes this rule');
  hasWarning(lines, 'spec.trafficPolicy.loadBalancer.simple:', 'LEAST_CONN is deprecated');
  hasWarning(lines, 'spec.trafficPolicy.loadBalancer.localityLbSetting:', 'not modelled');
  assert.equal(snapshot.clusters[0]?.lb, 'LEAST_REQUEST');
  assert.equal(snapshot.clusters[0]?.pool.maxConnections, 10);
});

test('rules after a catch-all rule are unreachable: warning', () => {
  const text = `${serviceEntry('svc')}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: order}
spec:
  hosts: [svc]
  http:
  - route: [{destination: {host: svc}}]
  - match: [{uri: {prefix: /api}}]
    route: [{destination: {host: svc}}]
`;
  hasWarning(ok(text).lines, 'VirtualService/order: spec.http[1]:', 'unreachable');
});

test('ignoreUriCase with a regex uri: a warning (Istio ignores case for exact and prefix only)', () => {
  const { lines } = ok(`${serviceEntry('svc')}---\n${virtualService('ci', `
match: [{uri: {regex: "/API/.*"}, ignoreUriCase: true}, {uri: {prefix: /API}, ignoreUriCase: true}]
route: [{destination: {host: svc}}]`)}`);
  hasWarning(lines, 'VirtualService/ci: spec.http[0].match[0].ignoreUriCase:', 'this regex stays case-sensitive (write (?i) in it)');
  assert.ok(!lines.some((l) => l.includes('match[1].ignoreUriCase')), lines.join('\n'));
});
