// VirtualService retries, fault injection and mirroring: Istio's defaults, parsing into the
// snapshot's RouteSpec, and the errors and warnings they give.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIssue, type RouteSpec } from '../../../src/config/index.js';
import { compileYaml, errors, expectError, serviceEntry, virtualService, warnings } from './helpers.js';

const VS = 'VirtualService/r';
const ROUTE = 'route: [{destination: {host: svc}}]';
/** A ServiceEntry for `svc` and `shadow` (documents 0 and 1), then VirtualService `r` for svc (document 2). */
const config = (rule: string) => `${serviceEntry('svc')}---\n${serviceEntry('shadow')}---\n${virtualService('r', rule)}`;

function compiled(rule: string): { route: RouteSpec; lines: string[]; clusters: string[] } {
  const r = compileYaml(config(rule));
  assert.deepEqual(errors(r).map(formatIssue), []);
  assert.ok(r.snapshot);
  const route = r.snapshot.virtualHosts[0]?.routes[0];
  assert.ok(route);
  return { route, lines: warnings(r).map(formatIssue), clusters: r.snapshot.clusters.map((c) => c.name) };
}

const hasWarning = (lines: string[], ...parts: string[]) =>
  assert.ok(lines.some((l) => parts.every((p) => l.includes(p))), `no warning with ${parts.join(' | ')} in:\n${lines.join('\n')}`);

const ISTIO_DEFAULT = {
  attempts: 2,
  perTryTimeoutMs: 0,
  retryOn: ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes'],
  retriableStatusCodes: [],
};

test('no retries block: Istio default policy (2 attempts, 503 not retried), on VirtualService and default routes', () => {
  const { route, lines } = compiled(`${ROUTE}\ntimeout: 3s`);
  assert.deepEqual(route.retries, ISTIO_DEFAULT);
  assert.equal(route.fault, null);
  assert.deepEqual(route.mirrors, []);
  assert.equal(route.timeoutMs, 3000);
  assert.deepEqual(lines, []);
  const r = compileYaml(serviceEntry('svc'));
  assert.deepEqual(r.snapshot?.virtualHosts[0]?.routes[0]?.retries, ISTIO_DEFAULT);
});

test('retries: attempts 0 disables; retryOn absent keeps the default conditions; perTryTimeout parsed', () => {
  assert.deepEqual(compiled(`${ROUTE}\nretries: {attempts: 0}`).route.retries, { attempts: 0, perTryTimeoutMs: 0, retryOn: [], retriableStatusCodes: [] });
  assert.deepEqual(compiled(`${ROUTE}\nretries: {attempts: 3, perTryTimeout: 1.5s}`).route.retries, { ...ISTIO_DEFAULT, attempts: 3, perTryTimeoutMs: 1500 });
});

test('retryOn: conditions and bare status codes, trimmed', () => {
  const { route } = compiled(`${ROUTE}\nretries: {attempts: 1, retryOn: "503,reset"}`);
  assert.deepEqual(route.retries, { attempts: 1, perTryTimeoutMs: 0, retryOn: ['reset'], retriableStatusCodes: [503] });
  const many = compiled(`${ROUTE}\nretries: {attempts: 4, retryOn: " 5xx , gateway-error,504,deadline-exceeded"}`).route.retries;
  assert.deepEqual([many.retryOn, many.retriableStatusCodes], [['5xx', 'gateway-error', 'deadline-exceeded'], [504]]);
});

test('retries errors: unknown retryOn token, negative attempts, bad perTryTimeout, policy with attempts 0', () => {
  const line = expectError(config(`${ROUTE}\nretries: {attempts: 2, retryOn: "5xx,sometimes"}`), 'spec.http[0].retries.retryOn', VS, 2);
  assert.match(line, /"sometimes" is not a retryOn condition/);
  expectError(config(`${ROUTE}\nretries: {attempts: -1}`), 'spec.http[0].retries.attempts', VS, 2);
  expectError(config(`${ROUTE}\nretries: {attempts: 2, perTryTimeout: soon}`), 'spec.http[0].retries.perTryTimeout', VS, 2);
  assert.match(expectError(config(`${ROUTE}\nretries: {attempts: 0, retryOn: 5xx}`), 'spec.http[0].retries', VS, 2), /disabled/);
});

test('retries: valid Istio conditions meshlet does not model, and retryRemoteLocalities, are warnings', () => {
  const { route, lines } = compiled(`${ROUTE}\nretries: {attempts: 2, retryOn: "reset,retriable-headers", retryRemoteLocalities: true}`);
  assert.deepEqual(route.retries.retryOn, ['reset']);
  hasWarning(lines, 'spec.http[0].retries.retryOn:', 'retriable-headers is not supported');
  hasWarning(lines, 'spec.http[0].retries.retryRemoteLocalities:', 'not supported');
});

test('fault: delay and abort with percentages (fractions allowed)', () => {
  const { route, lines } = compiled(`${ROUTE}
fault:
  delay: {fixedDelay: 250ms, percentage: {value: 12.5}}
  abort: {httpStatus: 503, percentage: {value: 100}}`);
  assert.deepEqual(route.fault, { delay: { percent: 12.5, fixedDelayMs: 250 }, abort: { percent: 100, httpStatus: 503, grpcStatus: -1 } });
  assert.deepEqual(lines, []);
});

test('fault without percentage is never injected (percent 0, with a warning); deprecated delay.percent is read', () => {
  const { route, lines } = compiled(`${ROUTE}\nfault: {delay: {fixedDelay: 1s}, abort: {httpStatus: 500}}`);
  assert.deepEqual(route.fault, { delay: { percent: 0, fixedDelayMs: 1000 }, abort: { percent: 0, httpStatus: 500, grpcStatus: -1 } });
  hasWarning(lines, 'spec.http[0].fault.abort:', 'never injected');
  const legacy = compiled(`${ROUTE}\nfault: {delay: {fixedDelay: 2s, percent: 30}}`);
  assert.deepEqual(legacy.route.fault, { delay: { percent: 30, fixedDelayMs: 2000 }, abort: null });
  hasWarning(legacy.lines, 'spec.http[0].fault.delay.percent:', 'deprecated');
});

test('fault errors: httpStatus out of range, percentage over 100, missing fixedDelay, empty fault, fault on a redirect', () => {
  assert.match(expectError(config(`${ROUTE}\nfault: {abort: {httpStatus: 700, percentage: {value: 5}}}`), 'spec.http[0].fault.abort.httpStatus', VS, 2), /200\.\.599/);
  expectError(config(`${ROUTE}\nfault: {abort: {httpStatus: 503, percentage: {value: 101}}}`), 'spec.http[0].fault.abort.percentage.value', VS, 2);
  expectError(config(`${ROUTE}\nfault: {delay: {percentage: {value: 5}}}`), 'spec.http[0].fault.delay.fixedDelay', VS, 2);
  expectError(config(`${ROUTE}\nfault: {}`), 'spec.http[0].fault', VS, 2);
  expectError(config(`redirect: {uri: /x}\nfault: {abort: {httpStatus: 503}}`), 'spec.http[0].fault', VS, 2);
});

test('fault: exponentialDelay and http2Error are warnings, and not injected', () => {
  const { route, lines } = compiled(`${ROUTE}
fault:
  delay: {exponentialDelay: 1s, percentage: {value: 50}}
  abort: {http2Error: PROTOCOL_ERROR, percentage: {value: 50}}`);
  assert.equal(route.fault, null);
  hasWarning(lines, 'spec.http[0].fault.delay.exponentialDelay:', 'not supported');
  hasWarning(lines, 'spec.http[0].fault.abort.http2Error:', 'not supported');
});

test('fault: abort.grpcStatus by name (its HTTP equivalent for non-gRPC requests); an unknown name or two kinds are errors', () => {
  const { route } = compiled(`${ROUTE}\nfault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 50}}}`);
  assert.deepEqual(route.fault, { delay: null, abort: { percent: 50, httpStatus: 503, grpcStatus: 14 } });
  const denied = compiled(`${ROUTE}\nfault: {abort: {grpcStatus: PERMISSION_DENIED, percentage: {value: 1}}}`);
  assert.deepEqual(denied.route.fault?.abort, { percent: 1, httpStatus: 403, grpcStatus: 7 });
  assert.match(expectError(config(`${ROUTE}\nfault: {abort: {grpcStatus: "14", percentage: {value: 5}}}`), 'spec.http[0].fault.abort.grpcStatus', VS, 2), /unknown gRPC status "14"/);
  assert.match(expectError(config(`${ROUTE}\nfault: {abort: {grpcStatus: UNAVAILABLE, httpStatus: 503, percentage: {value: 5}}}`), 'spec.http[0].fault.abort', VS, 2), /exactly one of/);
});

test('mirror + mirrorPercentage: resolved to a cluster no route uses, which the snapshot includes', () => {
  const answered = virtualService('s', 'directResponse: {status: 204}', 'shadow'); // no route to shadow at all
  const r = compileYaml(`${config(`${ROUTE}\nmirror: {host: shadow}\nmirrorPercentage: {value: 25}`)}---\n${answered}`);
  assert.deepEqual(r.issues.map(formatIssue), []);
  const s = r.snapshot;
  assert.ok(s);
  const m = s.virtualHosts[0]?.routes[0]?.mirrors[0];
  assert.deepEqual({ ...m, clusterId: undefined }, { clusterId: undefined, host: 'shadow', subset: null, percent: 25, unresolved: null });
  assert.equal(s.clusters[m?.clusterId ?? -1]?.name, 'outbound|80||shadow.default.svc.cluster.local');
  assert.deepEqual(s.clusters[m?.clusterId ?? -1]?.endpoints.map((e) => e.address), ['10.1.0.1']);
  assert.ok(s.virtualHosts.every((vh) => vh.routes.every((rt) => !rt.destinations?.some((d) => d.clusterId === m?.clusterId))));
  assert.equal(compiled(`${ROUTE}\nmirror: {host: shadow}`).route.mirrors[0]?.percent, 100, 'absent mirrorPercentage = 100');
});

test('mirrors[]: each with its own percentage (absent = 100)', () => {
  const { route, clusters } = compiled(`${ROUTE}
mirrors:
- destination: {host: shadow, port: {number: 80}}
  percentage: {value: 0.5}
- destination: {host: svc}`);
  assert.deepEqual(route.mirrors.map((m) => [m.host, m.percent, clusters[m.clusterId]]), [
    ['shadow', 0.5, 'outbound|80||shadow.default.svc.cluster.local'],
    ['svc', 100, 'outbound|80||svc.default.svc.cluster.local'],
  ]);
});

test('mirror and mirrors together: error; mirrorPercentage without mirror: warning', () => {
  assert.match(expectError(config(`${ROUTE}\nmirror: {host: shadow}\nmirrors: [{destination: {host: svc}}]`), 'spec.http[0].mirrors', VS, 2), /cannot be used together/);
  expectError(config(`${ROUTE}\nmirrors: [{destination: {host: shadow}, percentage: {value: -1}}]`), 'spec.http[0].mirrors[0].percentage.value', VS, 2);
  hasWarning(compiled(`${ROUTE}\nmirrorPercentage: {value: 5}`).lines, 'spec.http[0].mirrorPercentage:', 'applies to mirror only');
});

test('mirror to an unknown host: warning, clusterId -1 with the reason', () => {
  const { route, lines } = compiled(`${ROUTE}\nmirrors: [{destination: {host: nowhere}}]`);
  assert.deepEqual(route.mirrors, [{ clusterId: -1, host: 'nowhere', subset: null, percent: 100, unresolved: 'no ServiceEntry for host nowhere' }]);
  hasWarning(lines, `${VS}: spec.http[0].mirrors[0].destination.host:`, 'no ServiceEntry for host nowhere', 'mirrored');
  hasWarning(compiled(`${ROUTE}\nmirror: {host: nowhere}`).lines, 'spec.http[0].mirror.host:', 'no ServiceEntry');
});

test('retries and mirrors on a directResponse rule: warnings, nothing mirrored', () => {
  const { route, lines } = compiled(`directResponse: {status: 200}\nmirror: {host: shadow}\nretries: {attempts: 5}`);
  assert.deepEqual(route.mirrors, []);
  hasWarning(lines, 'spec.http[0].mirror:', 'no effect on a directResponse rule');
  hasWarning(lines, 'spec.http[0].retries:', 'no effect on a directResponse rule');
});
