// DestinationRule trafficPolicy: connectionPool, outlierDetection, consistentHash, slow start,
// and Istio's merge of top level / subset / portLevelSettings, per component.
import assert from 'node:assert/strict';
import test from 'node:test';
import { UNLIMITED } from '../../../src/config/validate/traffic-policy.js';
import { compileYaml, errors, expectError, formatIssueLines } from './traffic-policy-helpers.js';

const SE = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: svc}
spec:
  hosts: [svc]
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}, {number: 81, name: http-alt, protocol: HTTP}]
  endpoints:
  - {address: 10.1.0.1, labels: {version: v1}}
  - {address: 10.1.0.2, labels: {version: v2}}
`;

function vs(dests: string): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs}
spec:
  hosts: [svc]
  http:
  - route: [${dests}]
`;
}

function dr(body: string, meta = ''): string {
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc${meta}}
spec:
  host: svc
${body.replace(/^/gm, '  ')}
`;
}

function compile(drBody: string, dests = '{destination: {host: svc}}', meta = '') {
  const r = compileYaml(`${SE}---\n${dr(drBody, meta)}---\n${vs(dests)}`);
  assert.deepEqual(errors(r), [], formatIssueLines(r));
  assert.ok(r.snapshot);
  return r.snapshot;
}

test('no trafficPolicy: Istio defaults (LEAST_REQUEST, unlimited pool, no outlier detection)', () => {
  const s = compile('subsets: [{name: v1, labels: {version: v1}}]', '{destination: {host: svc, subset: v1}}');
  const c = s.clusters[0];
  assert.ok(c);
  assert.equal(c.lb, 'LEAST_REQUEST');
  assert.equal(c.hash, null);
  assert.equal(c.outlier, null);
  assert.equal(c.pool.maxConnections, UNLIMITED);
  assert.equal(c.pool.maxPendingRequests, UNLIMITED);
  assert.equal(c.pool.maxRetries, UNLIMITED);
  assert.equal(c.pool.maxRequestsPerConnection, 0);
});

test('connectionPool and outlierDetection are read with Envoy defaults for unset fields', () => {
  const s = compile(`trafficPolicy:
  connectionPool:
    tcp: {maxConnections: 3, connectTimeout: 250ms}
    http: {http1MaxPendingRequests: 2, maxRequestsPerConnection: 10, maxRetries: 4, idleTimeout: 30s, http2MaxRequests: 7}
  outlierDetection: {consecutive5xxErrors: 3, interval: 1s, baseEjectionTime: 2s}
subsets: [{name: v1, labels: {version: v1}}]`, '{destination: {host: svc, subset: v1}}');
  const c = s.clusters[0];
  assert.ok(c);
  assert.deepEqual(c.pool, {
    maxConnections: 3, connectTimeoutMs: 250, maxPendingRequests: 2, maxRequests: 7,
    maxRequestsPerConnection: 10, maxRetries: 4, idleTimeoutMs: 30_000, h2Upgrade: false, maxConcurrentStreams: 0, useClientProtocol: false,
  });
  assert.deepEqual(c.outlier, {
    consecutive5xx: 3, consecutiveGateway: 0, intervalMs: 1000, baseEjectionMs: 2000, maxEjectionPercent: 10, minHealthPercent: 0,
  });
});

test('a subset policy replaces the top-level component it sets; others are inherited', () => {
  const s = compile(`trafficPolicy:
  loadBalancer: {simple: ROUND_ROBIN}
  connectionPool: {tcp: {maxConnections: 5}}
subsets:
- name: v1
  labels: {version: v1}
  trafficPolicy:
    connectionPool: {http: {http1MaxPendingRequests: 1}}
- name: v2
  labels: {version: v2}`, '{destination: {host: svc, subset: v1}, weight: 50}, {destination: {host: svc, subset: v2}, weight: 50}');
  const v1 = s.clusters.find((c) => c.subset === 'v1');
  const v2 = s.clusters.find((c) => c.subset === 'v2');
  assert.equal(v1?.lb, 'ROUND_ROBIN');
  // the subset's connectionPool replaces the whole component: maxConnections back to the default
  assert.equal(v1?.pool.maxConnections, UNLIMITED);
  assert.equal(v1?.pool.maxPendingRequests, 1);
  assert.equal(v2?.pool.maxConnections, 5);
});

test('portLevelSettings apply to their port only and do not inherit fields of the component', () => {
  const s = compile(`trafficPolicy:
  connectionPool: {tcp: {maxConnections: 5}, http: {maxRetries: 9}}
  portLevelSettings:
  - port: {number: 81}
    connectionPool: {http: {maxRetries: 1}}
    loadBalancer: {simple: RANDOM}`, '{destination: {host: svc, port: {number: 80}}, weight: 50}, {destination: {host: svc, port: {number: 81}}, weight: 50}');
  const p80 = s.clusters.find((c) => c.port === 80);
  const p81 = s.clusters.find((c) => c.port === 81);
  assert.equal(p80?.pool.maxConnections, 5);
  assert.equal(p80?.pool.maxRetries, 9);
  assert.equal(p80?.lb, 'LEAST_REQUEST');
  assert.equal(p81?.pool.maxConnections, UNLIMITED);
  assert.equal(p81?.pool.maxRetries, 1);
  assert.equal(p81?.lb, 'RANDOM');
});

test('consistentHash: each key kind, ring hash by default, maglev when asked', () => {
  const header = compile('trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: X-User}}}').clusters[0]?.hash;
  assert.deepEqual(header, { key: 'header', name: 'x-user', cookiePath: '', cookieTtlMs: 0, algorithm: 'ring', size: 1024 });
  const cookie = compile('trafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {name: user, ttl: 60s, path: /}, maglev: {tableSize: 251}}}}').clusters[0]?.hash;
  assert.deepEqual(cookie, { key: 'cookie', name: 'user', cookiePath: '/', cookieTtlMs: 60_000, algorithm: 'maglev', size: 251 });
  assert.equal(compile('trafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true, ringHash: {minimumRingSize: 64}}}}').clusters[0]?.hash?.size, 64);
  assert.equal(compile('trafficPolicy: {loadBalancer: {consistentHash: {httpQueryParameterName: u}}}').clusters[0]?.hash?.key, 'query');
});

test('warmupDurationSecs and the peak-EWMA annotation', () => {
  assert.equal(compile('trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN, warmupDurationSecs: 30s}}').clusters[0]?.warmupMs, 30_000);
  const ewma = compile('trafficPolicy: {connectionPool: {tcp: {maxConnections: 5}}}', undefined, `, annotations: {meshlet.io/load-balancer: peak-ewma}`);
  assert.equal(ewma.clusters[0]?.lb, 'PEAK_EWMA');
});

test('invalid traffic policies name the field', () => {
  const bad = (body: string, path: string) => expectError(`${SE}---\n${dr(body)}`, path, 'DestinationRule/svc', 1);
  bad('trafficPolicy: {loadBalancer: {consistentHash: {}}}', 'spec.trafficPolicy.loadBalancer.consistentHash');
  bad('trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: a, useSourceIp: true}}}', 'spec.trafficPolicy.loadBalancer.consistentHash');
  bad('trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN, consistentHash: {httpHeaderName: a}}}', 'spec.trafficPolicy.loadBalancer');
  bad('trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: a, maglev: {tableSize: 100}}}}', 'spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize');
  bad('trafficPolicy: {connectionPool: {tcp: {maxConnections: -1}}}', 'spec.trafficPolicy.connectionPool.tcp.maxConnections');
  bad('trafficPolicy: {connectionPool: {http: {idleTimeout: soon}}}', 'spec.trafficPolicy.connectionPool.http.idleTimeout');
  bad('trafficPolicy: {outlierDetection: {maxEjectionPercent: 150}}', 'spec.trafficPolicy.outlierDetection.maxEjectionPercent');
  bad('trafficPolicy: {outlierDetection: {baseEjectionTime: 3}}', 'spec.trafficPolicy.outlierDetection.baseEjectionTime');
  bad('trafficPolicy: {portLevelSettings: [{connectionPool: {tcp: {maxConnections: 1}}}]}', 'spec.trafficPolicy.portLevelSettings[0].port');
  bad('subsets: [{name: v1, labels: {version: v1}, trafficPolicy: {loadBalancer: {simple: FASTEST}}}]', 'spec.subsets[0].trafficPolicy.loadBalancer.simple');
});
