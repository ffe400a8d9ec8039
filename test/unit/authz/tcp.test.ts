// AuthorizationPolicy on TCP connections, as Istio's "Authorization for TCP traffic": principals,
// namespaces, ipBlocks and ports apply; an ALLOW rule with an HTTP-only field (methods, paths,
// hosts, request headers) never matches; in a DENY rule those fields are dropped, so it denies more.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatIssue } from '../../../src/config/index.js';
import { AuthzEvaluator, AuthzRequest } from '../../../src/filters/authz/index.js';
import { tcpAuthzSpec } from '../../../src/filters/authz/tcp.js';
import { compileYaml, errors } from '../config/helpers.js';
import { policy } from './helpers.js';

function tcpEvaluator(...docs: string[]): AuthzEvaluator {
  const r = compileYaml(docs.join('---\n'));
  assert.deepEqual(errors(r).map(formatIssue), []);
  const spec = tcpAuthzSpec(r.snapshot?.authz ?? null);
  assert.ok(spec);
  return new AuthzEvaluator(spec);
}

/** A TCP connection: no method, path, host or headers. */
function conn(principal: string | null, port = 9000, sourceIp = '10.0.0.1'): AuthzRequest {
  const a = new AuthzRequest();
  a.port = port;
  a.principal = principal;
  a.sourceIp = sourceIp;
  return a;
}

const A = 'spiffe://cluster.local/ns/a/sa/a';
const B = 'spiffe://cluster.local/ns/b/sa/b';

test('ALLOW by principal, namespace, ipBlocks and ports applies to TCP connections', () => {
  const ev = tcpEvaluator(policy('p', `
action: ALLOW
rules:
- from: [{source: {principals: [cluster.local/ns/a/sa/a]}}]
  to: [{operation: {ports: ["9000"]}}]
- from: [{source: {namespaces: [b], ipBlocks: [10.9.0.0/16]}}]`));
  assert.equal(ev.evaluate(conn(A)).allowed, true);
  assert.equal(ev.evaluate(conn(A, 9001)).allowed, false);
  assert.equal(ev.evaluate(conn(B)).allowed, false);
  assert.equal(ev.evaluate(conn(B, 9000, '10.9.3.4')).allowed, true);
  assert.equal(ev.evaluate(conn(null)).allowed, false);
});

test('an ALLOW rule with an HTTP-only field never matches a TCP connection (Istio drops the rule)', () => {
  const ev = tcpEvaluator(policy('p', `
action: ALLOW
rules:
- to: [{operation: {methods: [GET], ports: ["9000"]}}]`));
  assert.equal(ev.evaluate(conn(A)).allowed, false);
  const when = tcpEvaluator(policy('q', `
action: ALLOW
rules:
- from: [{source: {principals: [cluster.local/ns/a/sa/a]}}]
  when: [{key: "request.headers[x-user]", values: [alice]}]`));
  assert.equal(when.evaluate(conn(A)).allowed, false);
});

test('a DENY rule loses its HTTP-only fields: it denies every TCP connection its other fields match', () => {
  const ev = tcpEvaluator(policy('d', `
action: DENY
rules:
- to: [{operation: {methods: [GET]}}]`));
  assert.equal(ev.evaluate(conn(A)).allowed, false);
  const ported = tcpEvaluator(policy('d2', `
action: DENY
rules:
- to: [{operation: {methods: [GET], ports: ["9000"]}}]`));
  assert.equal(ported.evaluate(conn(A, 9000)).allowed, false);
  assert.equal(ported.evaluate(conn(A, 9001)).allowed, true);
});
