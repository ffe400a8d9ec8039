// Duration bounds: every duration meshlet waits for becomes a Node.js timer, which holds at most
// 2^31-1 ms (a longer one fires at once: `timeout: 600h` answered every request 504 at once, and a
// 600h fault delay injected nothing). Each duration field accepts exactly that maximum and refuses
// one millisecond more, naming the field path and the maximum; CLI duration flags likewise.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDurationMs } from '../../../src/cli/args.js';
import { compileYaml, errors, expectError, serviceEntry, virtualService } from './helpers.js';
import { formatIssueLines } from './traffic-policy-helpers.js';

/** 2^31-1: the longest timer Node.js can set */
const MAX_TIMER_MS = 2147483647;
const MAX = `${MAX_TIMER_MS}ms`;
const OVER = `${MAX_TIMER_MS + 1}ms`;

const vs = (rule: string): string => `${serviceEntry('svc')}---\n${virtualService('bad', rule)}`;
const dr = (policy: string): string => `${serviceEntry('svc')}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: bad}
spec:
  host: svc
  trafficPolicy: ${policy}
`;
const ROUTE = 'route: [{destination: {host: svc}}]';

/** [field path, config with the duration D in that field] */
const FIELDS: [string, string, (d: string) => string][] = [
  ['VirtualService/bad', 'spec.http[0].timeout', (d) => vs(`timeout: ${d}\n${ROUTE}`)],
  ['VirtualService/bad', 'spec.http[0].retries.perTryTimeout', (d) => vs(`retries: {attempts: 2, perTryTimeout: ${d}}\n${ROUTE}`)],
  ['VirtualService/bad', 'spec.http[0].fault.delay.fixedDelay', (d) => vs(`fault: {delay: {fixedDelay: ${d}, percentage: {value: 100}}}\n${ROUTE}`)],
  ['DestinationRule/bad', 'spec.trafficPolicy.connectionPool.tcp.connectTimeout', (d) => dr(`{connectionPool: {tcp: {connectTimeout: ${d}}}}`)],
  ['DestinationRule/bad', 'spec.trafficPolicy.connectionPool.tcp.idleTimeout', (d) => dr(`{connectionPool: {tcp: {idleTimeout: ${d}}}}`)],
  ['DestinationRule/bad', 'spec.trafficPolicy.connectionPool.http.idleTimeout', (d) => dr(`{connectionPool: {http: {idleTimeout: ${d}}}}`)],
  ['DestinationRule/bad', 'spec.trafficPolicy.outlierDetection.interval', (d) => dr(`{outlierDetection: {interval: ${d}}}`)],
  ['DestinationRule/bad', 'spec.trafficPolicy.outlierDetection.baseEjectionTime', (d) => dr(`{outlierDetection: {baseEjectionTime: ${d}}}`)],
  ['DestinationRule/bad', 'spec.trafficPolicy.loadBalancer.warmupDurationSecs', (d) => dr(`{loadBalancer: {simple: ROUND_ROBIN, warmupDurationSecs: ${d}}}`)],
];

test('each duration field accepts the longest Node.js timer', () => {
  for (const [, path, config] of FIELDS) {
    const r = compileYaml(config(MAX));
    assert.deepEqual(errors(r), [], `${path}: ${formatIssueLines(r)}`);
    assert.ok(r.snapshot, path);
  }
  const s = compileYaml(vs(`timeout: ${MAX}\nretries: {attempts: 1, perTryTimeout: ${MAX}}\n${ROUTE}`)).snapshot;
  const route = s?.virtualHosts.flatMap((h) => h.routes).find((r) => r.timeoutMs > 0);
  assert.equal(route?.timeoutMs, MAX_TIMER_MS);
  assert.equal(route?.retries.perTryTimeoutMs, MAX_TIMER_MS);
});

test('each duration field refuses 1ms more, and 600h, naming the field and the maximum', () => {
  for (const [resource, path, config] of FIELDS) {
    for (const d of [OVER, '600h']) {
      const line = expectError(config(d), path, resource, 1);
      assert.match(line, new RegExp(`duration ${d} is longer than meshlet's maximum of 596h31m23\\.647s \\(2147483647ms`), line);
    }
  }
  assert.match(expectError(vs(`timeout: 600h\n${ROUTE}`), 'spec.http[0].timeout', 'VirtualService/bad', 1), /omit timeout for none/);
});

test('a duration too large for a number is refused as too long, not as imprecise', () => {
  const line = expectError(vs(`timeout: ${'9'.repeat(400)}h\n${ROUTE}`), 'spec.http[0].timeout', 'VirtualService/bad', 1);
  assert.match(line, /is longer than meshlet's maximum/);
});

test('warmupDurationSecs as a bare number of seconds is bounded the same way', () => {
  const path = 'spec.trafficPolicy.loadBalancer.warmupDurationSecs';
  assert.equal(errors(compileYaml(dr(`{loadBalancer: {simple: ROUND_ROBIN, warmupDurationSecs: ${Math.floor(MAX_TIMER_MS / 1000)}}}`))).length, 0);
  assert.match(expectError(dr(`{loadBalancer: {simple: ROUND_ROBIN, warmupDurationSecs: ${Math.floor(MAX_TIMER_MS / 1000) + 1}}}`), path, 'DestinationRule/bad', 1), /must be in 0\.\.2147483/);
});

test('a consistent-hash cookie ttl is a Max-Age, not a timer: longer values are kept', () => {
  const r = compileYaml(dr('{loadBalancer: {consistentHash: {httpCookie: {name: s, ttl: 8760h}}}}'));
  assert.deepEqual(errors(r), [], formatIssueLines(r));
  assert.equal(r.snapshot?.clusters[0]?.hash?.cookieTtlMs, 8760 * 3600 * 1000);
});

test('CLI duration flags: the longest timer is accepted, more is refused naming the flag', () => {
  assert.equal(parseDurationMs(MAX, '--drain-timeout'), MAX_TIMER_MS);
  assert.throws(() => parseDurationMs(OVER, '--drain-timeout'), /^Error: --drain-timeout: at most 2147483647ms .*got "2147483648ms"$/);
  assert.throws(() => parseDurationMs('36000m', '--upstream-idle-timeout'), /--upstream-idle-timeout: at most 2147483647ms/);
  assert.throws(() => parseDurationMs('9'.repeat(400), '--trace-batch-delay'), /--trace-batch-delay: at most/);
});
