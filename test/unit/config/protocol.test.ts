// Istio's protocol selection (the protocol field, else the port name's prefix) and what follows
// from it: which clusters reach their endpoints over HTTP/2 (HTTP2/GRPC/GRPC-WEB ports,
// h2UpgradePolicy UPGRADE, inbound GRPC ports), and the warnings for ports meshlet cannot proxy.
import assert from 'node:assert/strict';
import test from 'node:test';
import { isHttp2Protocol, portProtocol, protocolFromName } from '../../../src/config/protocol.js';
import { compileYaml, errors, warnings } from './helpers.js';
import { formatIssueLines } from './traffic-policy-helpers.js';

test('the protocol field wins; otherwise the name prefix (grpc-web before the first dash); else unknown', () => {
  assert.equal(portProtocol('grpc', 'http-x'), 'GRPC');
  assert.equal(portProtocol(null, 'grpc'), 'GRPC');
  assert.equal(portProtocol(null, 'grpc-api'), 'GRPC');
  assert.equal(portProtocol(null, 'grpc-web'), 'GRPC-WEB');
  assert.equal(portProtocol(null, 'grpc-web-ui'), 'GRPC-WEB');
  assert.equal(portProtocol(null, 'http2-x'), 'HTTP2');
  assert.equal(portProtocol(null, 'HTTP2'), 'HTTP2');
  assert.equal(portProtocol(null, 'http'), 'HTTP');
  assert.equal(portProtocol(null, 'tcp-db'), 'TCP');
  assert.equal(portProtocol(null, 'web'), null);
  assert.equal(portProtocol(null, 'grpcx'), null);
  assert.equal(portProtocol(null, null), null);
  assert.equal(protocolFromName('mongo-primary'), 'MONGO');
  assert.deepEqual(['HTTP2', 'GRPC', 'GRPC-WEB', 'HTTP', 'TCP', null].map(isHttp2Protocol), [true, true, true, false, false, false]);
});

const se = (ports: string): string => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: svc}
spec:
  hosts: [svc]
  resolution: STATIC
  ports: [${ports}]
  endpoints: [{address: 10.0.0.1}]
`;
const routes = (ports: number[]): string => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs}
spec:
  hosts: [svc]
  http:
${ports.map((p) => `  - match: [{uri: {prefix: /p${p}}}]
    route: [{destination: {host: svc, port: {number: ${p}}}}]`).join('\n')}
`;
const route = (port: number): string => routes([port]);

test('clusters on HTTP2 / GRPC / GRPC-WEB ports (by field or name) are HTTP/2; HTTP and unnamed ports are not', () => {
  const r = compileYaml([
    se('{number: 1, name: a, protocol: GRPC}, {number: 2, name: grpc-b}, {number: 3, name: http2}, {number: 4, name: grpc-web}, {number: 5, name: http, protocol: HTTP}, {number: 6, name: web}'),
    routes([1, 2, 3, 4, 5, 6]),
  ].join('---\n'));
  assert.deepEqual(errors(r), [], formatIssueLines(r));
  const byPort = new Map(r.snapshot?.clusters.map((c) => [c.port, c.http2 === true]));
  assert.deepEqual([...byPort.entries()].sort((a, b) => a[0] - b[0]), [[1, true], [2, true], [3, true], [4, true], [5, false], [6, false]]);
});

test('h2UpgradePolicy: UPGRADE makes an HTTP port HTTP/2; DEFAULT and DO_NOT_UPGRADE do not; useClientProtocol overrides both; an unknown value is an error', () => {
  const dr = (policy: string, port = ''): string => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc}
spec:
  host: svc
  trafficPolicy:
    ${port === '' ? '' : `portLevelSettings:\n    - port: {number: ${port}}\n      `}connectionPool: {http: {h2UpgradePolicy: ${policy}, maxConcurrentStreams: 8}}
`;
  for (const [policy, want] of [['UPGRADE', true], ['DEFAULT', false], ['DO_NOT_UPGRADE', false]] as const) {
    const r = compileYaml([se('{number: 80, name: http}'), dr(policy), route(80)].join('---\n'));
    assert.deepEqual(errors(r), [], formatIssueLines(r));
    const c = r.snapshot?.clusters[0];
    assert.equal(c?.http2, want, policy);
    assert.equal(c?.pool.maxConcurrentStreams, 8);
  }
  const client = compileYaml([se('{number: 80, name: grpc}'), dr('UPGRADE').replace('maxConcurrentStreams: 8', 'useClientProtocol: true'), route(80)].join('---\n'));
  assert.deepEqual(errors(client), [], formatIssueLines(client));
  assert.equal(client.snapshot?.clusters[0]?.http2, false, 'useClientProtocol: neither the port nor the upgrade decides');
  assert.equal(client.snapshot?.clusters[0]?.clientProtocol, true);
  const bad = compileYaml([se('{number: 80, name: http}'), dr('SOMETIMES'), route(80)].join('---\n'));
  assert.match(formatIssueLines(bad), /trafficPolicy\.connectionPool\.http\.h2UpgradePolicy: unknown h2UpgradePolicy SOMETIMES/);
});

test('an inbound GRPC (or grpc-named) ingress port reaches the app over HTTP/2; an HTTP one does not; a tcp-named port is TCP', () => {
  const sidecar = `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: sc}
spec:
  ingress:
  - port: {number: 9001, protocol: GRPC, name: api}
    defaultEndpoint: 127.0.0.1:8001
  - port: {number: 9002, name: grpc-x}
    defaultEndpoint: 127.0.0.1:8002
  - port: {number: 9003, name: http-x}
    defaultEndpoint: 127.0.0.1:8003
  - port: {number: 9004, name: tcp-db}
    defaultEndpoint: 127.0.0.1:8004
`;
  const r = compileYaml(sidecar);
  assert.deepEqual(errors(r), [], formatIssueLines(r));
  const s = r.snapshot;
  assert.ok(s);
  const proto = s.listeners.filter((l) => l.direction === 'inbound').map((l) => [l.port, l.protocol, s.clusters[l.inboundClusterId]?.http2]);
  assert.deepEqual(proto, [[9001, 'GRPC', true], [9002, 'GRPC', true], [9003, 'HTTP', false], [9004, 'TCP', false]]);
  // a tcp-named port is proxied as TCP (not HTTP at all), without a warning
  assert.equal(s.listeners.find((l) => l.port === 9004)?.traffic, 'tcp');
  assert.deepEqual(warnings(r), [], formatIssueLines(r));
});
