// Authz test helpers: compile AuthorizationPolicies from YAML into an evaluator, and build request
// attributes with defaults (a plaintext GET / from 10.0.0.1 on port 9080).
import assert from 'node:assert/strict';
import { formatIssue } from '../../../src/config/index.js';
import { AuthzEvaluator, AuthzRequest, type AuthzResult } from '../../../src/filters/authz/index.js';
import type { JwtAuth } from '../../../src/filters/jwt/auth.js';
import { compileYaml, errors } from '../config/helpers.js';

/** One AuthorizationPolicy document; `spec` is YAML indented by two spaces. */
export function policy(name: string, spec: string, namespace = 'default'): string {
  return `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ${name}, namespace: ${namespace}}
spec:
${spec.replace(/^\n/, '').replace(/^/gm, '  ')}
`;
}

export function evaluator(...docs: string[]): AuthzEvaluator | null {
  const r = compileYaml(docs.join('---\n'));
  assert.deepEqual(errors(r).map(formatIssue), []);
  assert.ok(r.snapshot);
  return r.snapshot.authz === null ? null : new AuthzEvaluator(r.snapshot.authz);
}

export interface Req {
  method?: string;
  path?: string;
  host?: string;
  port?: number;
  principal?: string | null;
  sourceIp?: string;
  headers?: string[];
  auth?: JwtAuth | null;
}

export function request(r: Req = {}): AuthzRequest {
  const a = new AuthzRequest();
  a.method = r.method ?? 'GET';
  a.path = r.path ?? '/';
  a.host = r.host ?? 'svc.default.svc.cluster.local';
  a.port = r.port ?? 9080;
  a.principal = r.principal ?? null;
  a.sourceIp = r.sourceIp ?? '10.0.0.1';
  a.headers = r.headers ?? [];
  a.auth = r.auth ?? null;
  return a;
}

export function check(ev: AuthzEvaluator | null, r: Req = {}): AuthzResult {
  assert.ok(ev, 'expected an evaluator (some policy applies)');
  return ev.evaluate(request(r));
}

export const allowed = (ev: AuthzEvaluator | null, r: Req = {}) => check(ev, r).allowed;
