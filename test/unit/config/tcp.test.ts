// TCP and TLS listeners in the config: the protocol of a Sidecar port (written, by port name, or
// from the ServiceEntries declaring it), VirtualService tcp/tls rules (validation and compiled
// routes), ServiceEntry default routes, connectionPool.tcp, and the warnings Istio users need.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatIssue } from '../../../src/config/index.js';
import type { Snapshot } from '../../../src/config/snapshot.js';
import { compileYaml, errors, expectError, warnings } from './helpers.js';

function ok(text: string): { snapshot: Snapshot; lines: string[] } {
  const r = compileYaml(text);
  assert.deepEqual(errors(r).map(formatIssue), []);
  assert.ok(r.snapshot);
  return { snapshot: r.snapshot, lines: warnings(r).map(formatIssue) };
}

function hasWarning(lines: string[], ...parts: string[]): void {
  assert.ok(lines.some((l) => parts.every((p) => l.includes(p))), `no warning with ${parts.join(' | ')} in:\n${lines.join('\n')}`);
}

function sidecar(egress: string, ingress = ''): string {
  return `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: sc}
spec:
${egress === '' ? '' : `  egress:\n${egress}`}${ingress === '' ? '' : `  ingress:\n${ingress}`}---
`;
}

function se(name: string, hosts: string[], ports: string, ns = ''): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}${ns === '' ? '' : `, namespace: ${ns}`}}
spec:
  hosts: [${hosts.join(', ')}]
  resolution: STATIC
  ports: [${ports}]
  endpoints: [{address: 10.0.0.1, labels: {version: v1}}, {address: 10.0.0.2, labels: {version: v2}}]
---
`;
}

test('a Sidecar port\'s protocol: written, from its name (<protocol>[-suffix]), from the ServiceEntries on that port, else sniffed (auto); UDP is not opened', () => {
  const { snapshot, lines } = ok(sidecar(`  - port: {number: 7001, protocol: TCP}
    hosts: ["*/*"]
  - port: {number: 7002, name: redis-cache}
    hosts: ["*/*"]
  - port: {number: 7003}
    hosts: ["*/*"]
  - port: {number: 7004, protocol: HTTPS}
    hosts: ["*/*"]
  - port: {number: 7005, name: web}
    hosts: ["*/*"]
  - port: {number: 7006, protocol: UDP}
    hosts: ["*/*"]
`, `  - port: {number: 7100, protocol: TLS}
    defaultEndpoint: 127.0.0.1:9000
  - port: {number: 7101, protocol: MYSQL}
    defaultEndpoint: 127.0.0.1:9001
`) + se('db', ['db.example'], '{number: 7003, name: db, protocol: MONGO}'));
  const traffic = Object.fromEntries(snapshot.listeners.map((l) => [l.port, `${l.protocol} ${l.traffic}`]));
  assert.deepEqual(traffic, {
    7001: 'TCP tcp', 7002: 'REDIS tcp', 7003: 'MONGO tcp', 7004: 'HTTPS tls', 7005: ' auto', 7100: 'TLS tcp', 7101: 'MYSQL tcp',
  });
  hasWarning(lines, 'spec.egress[5].port.protocol', 'UDP is not proxied');
  assert.ok(!lines.some((l) => l.includes('HTTP only')), lines.join('\n'));
});

test('tcp: a rule taking the listener port, weighted subsets; the route is compiled with its clusters', () => {
  const { snapshot, lines } = ok(sidecar(`  - port: {number: 6379, protocol: TCP}
    hosts: ["*/*"]
`) + se('cache', ['cache.example'], '{number: 6379, name: redis, protocol: REDIS}') + `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: cache}
spec:
  host: cache.example
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: cache}
spec:
  hosts: [cache.example]
  tcp:
  - match: [{port: 6379, sourceLabels: {app: x}}]
    route:
    - {destination: {host: cache.example, subset: v1}, weight: 80}
    - {destination: {host: cache.example, subset: v2}, weight: 20}
`);
  const routes = snapshot.listeners[0]?.tcpRoutes ?? [];
  assert.equal(routes.length, 1, JSON.stringify(routes));
  const r = routes[0];
  assert.equal(r?.name, 'cache.tcp.0');
  assert.equal(r?.source, 'VirtualService/default/cache');
  assert.equal(r?.totalWeight, 100);
  assert.deepEqual(r?.destinations.map((d) => [snapshot.clusters[d.clusterId]?.name, d.weight]), [
    ['outbound|6379|v1|cache.example', 80], ['outbound|6379|v2|cache.example', 20],
  ]);
  hasWarning(lines, 'spec.tcp[0].match[0].sourceLabels', 'broader than written');
});

test('tcp: without a VirtualService the ServiceEntry on the port is the route; a second service on the port is warned about', () => {
  const { snapshot, lines } = ok(sidecar(`  - port: {number: 5432, protocol: TCP}
    hosts: ["*/*"]
`) + se('pg', ['pg.example'], '{number: 5432, name: tcp, protocol: TCP}') + se('pg2', ['pg2.example'], '{number: 5432, name: tcp, protocol: TCP}'));
  const routes = snapshot.listeners[0]?.tcpRoutes ?? [];
  assert.deepEqual(routes.map((r) => [r.name, r.source]), [['default', 'ServiceEntry/default/pg'], ['default', 'ServiceEntry/default/pg2']]);
  hasWarning(lines, 'ServiceEntry/pg2: spec.ports', 'sends every connection to ServiceEntry/default/pg');
});

test('tcp: egress hosts scope the services a TCP listener reaches', () => {
  const { snapshot } = ok(sidecar(`  - port: {number: 5432, protocol: TCP}
    hosts: ["db/*"]
`) + se('pg', ['pg.example'], '{number: 5432, name: tcp, protocol: TCP}') + se('pg2', ['pg2.example'], '{number: 5432, name: tcp, protocol: TCP}', 'db'));
  assert.deepEqual(snapshot.listeners[0]?.tcpRoutes?.map((r) => r.source), ['ServiceEntry/db/pg2']);
});

test('a TCP listener nothing routes, and a tcp rule no listener takes: warnings', () => {
  const { lines } = ok(sidecar(`  - port: {number: 5555, protocol: TCP}
    hosts: ["*/*"]
`) + se('pg', ['pg.example'], '{number: 5432, name: tcp, protocol: TCP}') + `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: pg}
spec:
  hosts: [pg.example]
  tcp:
  - route: [{destination: {host: pg.example}}]
`);
  hasWarning(lines, 'Sidecar/sc: spec.egress[0].port', 'no ServiceEntry host', 'closed (NR)');
  hasWarning(lines, 'VirtualService/pg: spec.tcp[0]', 'no TCP listener takes this rule');
});

test('tls: sniHosts routes in order, then a default per service for its own names', () => {
  const { snapshot } = ok(sidecar(`  - port: {number: 443, protocol: TLS}
    hosts: ["*/*"]
`) + se('web', ['a.example', 'b.example'], '{number: 443, name: tls, protocol: TLS}') + `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: a}
spec:
  hosts: [a.example, "*.wild.example"]
  tls:
  - match: [{port: 443, sniHosts: [a.example, "*.wild.example"]}]
    route: [{destination: {host: b.example, port: {number: 443}}}]
`);
  const routes = snapshot.listeners[0]?.tcpRoutes ?? [];
  assert.deepEqual(routes.map((r) => [r.name, r.sniHosts]), [['a.tls.0', ['a.example', '*.wild.example']], ['default', ['b.example']]]);
  assert.equal(snapshot.clusters[routes[0]?.destinations[0]?.clusterId ?? -1]?.name, 'outbound|443||b.example');
});

test('tls: a rule needs match with sniHosts, each one of the VirtualService\'s hosts', () => {
  const vs = (match: string): string => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: t}
spec:
  hosts: [a.example]
  tls:
  - ${match}route: [{destination: {host: a.example}}]
`;
  expectError(vs(''), 'spec.tls[0].match', 'VirtualService/t', 0);
  expectError(vs('match: [{port: 443}]\n    '), 'spec.tls[0].match[0].sniHosts', 'VirtualService/t', 0);
  const line = expectError(vs('match: [{sniHosts: [other.example]}]\n    '), 'spec.tls[0].match[0].sniHosts[0]', 'VirtualService/t', 0);
  assert.match(line, /not one of the VirtualService's hosts/);
  expectError(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: t}
spec:
  hosts: [a.example]
  tcp:
  - match: [{port: 1}]
`, 'spec.tcp[0].route', 'VirtualService/t', 0);
});

test('connectionPool.tcp: idleTimeout (0s = off), maxConnectionDuration and tcpKeepalive are read; unset they stay unset', () => {
  const dr = (tcp: string): Snapshot => ok(sidecar(`  - port: {number: 5432, protocol: TCP}
    hosts: ["*/*"]
`) + se('pg', ['pg.example'], '{number: 5432, name: tcp, protocol: TCP}') + `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: pg}
spec:
  host: pg.example
  trafficPolicy: {connectionPool: {tcp: ${tcp}}}
`).snapshot;
  const pool = dr('{idleTimeout: 30s, maxConnectionDuration: 1h, tcpKeepalive: {time: 60s, interval: 5s, probes: 4}, connectTimeout: 2s}').clusters[0]?.pool;
  assert.equal(pool?.tcpIdleTimeoutMs, 30_000);
  assert.equal(pool?.maxConnectionDurationMs, 3_600_000);
  assert.deepEqual(pool?.tcpKeepalive, { probes: 4, timeMs: 60_000, intervalMs: 5000 });
  assert.equal(pool?.connectTimeoutMs, 2000);
  assert.equal(dr('{idleTimeout: 0s}').clusters[0]?.pool.tcpIdleTimeoutMs, 0);
  const unset = dr('{maxConnections: 5}').clusters[0]?.pool;
  assert.equal(unset?.tcpIdleTimeoutMs, undefined);
  assert.equal(unset?.tcpKeepalive, undefined);
});
