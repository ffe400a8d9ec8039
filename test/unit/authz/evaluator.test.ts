// Istio AuthorizationPolicy semantics end to end: YAML → Snapshot.authz → AuthzEvaluator.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthzEvaluator, type AuthzResult } from '../../../src/filters/authz/index.js';
import { allowed, check, evaluator, policy, request } from './helpers.js';
import type { JwtAuth } from '../../../src/filters/jwt/auth.js';

const SLEEP = 'cluster.local/ns/default/sa/sleep';
const OTHER = 'cluster.local/ns/other/sa/bot';

test('no policy: no evaluator (the request path skips authz)', () => {
  assert.equal(evaluator('apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: s}\nspec: {egress: [{hosts: ["./*"]}]}\n'), null);
});

test('ALLOW without rules allows nothing (deny-all); rules: [{}] allows everything', () => {
  const none = evaluator(policy('allow-nothing', '{}'));
  assert.deepEqual(check(none), { allowed: false, policy: null, audit: null });
  const all = evaluator(policy('allow-all', 'rules: [{}]'));
  assert.deepEqual(check(all), { allowed: true, policy: 'default/allow-all', audit: null });
  const both = evaluator(policy('allow-nothing', '{}'), policy('allow-all', 'rules: [{}]'));
  assert.equal(check(both).policy, 'default/allow-all', 'another ALLOW policy may still match');
});

test('principals: exact, prefix, suffix, presence; plaintext never matches', () => {
  const ev = evaluator(policy('p', `
rules:
- from: [{source: {principals: ["${SLEEP}", "cluster.local/ns/team-*", "*/sa/robot"]}}]`));
  assert.ok(allowed(ev, { principal: SLEEP }));
  assert.ok(allowed(ev, { principal: 'cluster.local/ns/team-a/sa/x' }), 'prefix');
  assert.ok(allowed(ev, { principal: 'other.domain/ns/x/sa/robot' }), 'suffix');
  assert.ok(allowed(ev, { principal: `spiffe://${SLEEP}` }), 'a spiffe:// prefix from the caller is tolerated');
  assert.ok(!allowed(ev, { principal: 'cluster.local/ns/default/sa/sleepy' }));
  assert.ok(!allowed(ev, { principal: null }));
  const any = evaluator(policy('any', 'rules: [{from: [{source: {principals: ["*"]}}]}]'));
  assert.ok(allowed(any, { principal: OTHER }));
  assert.ok(!allowed(any, { principal: null }), '"*" means any authenticated peer');
});

test('notPrincipals: everyone but the listed (plaintext included)', () => {
  const ev = evaluator(policy('np', `
action: DENY
rules: [{from: [{source: {notPrincipals: ["${SLEEP}"]}}]}]`));
  assert.ok(allowed(ev, { principal: SLEEP }));
  const r = check(ev, { principal: OTHER });
  assert.deepEqual(r, { allowed: false, policy: 'default/np', audit: null });
  assert.ok(!allowed(ev, { principal: null }), 'plaintext is not sleep: denied');
  const mtlsOnly = evaluator(policy('require-mtls', 'action: DENY\nrules: [{from: [{source: {notPrincipals: ["*"]}}]}]'));
  assert.ok(!allowed(mtlsOnly, { principal: null }));
  assert.ok(allowed(mtlsOnly, { principal: OTHER }));
});

test('namespaces and notNamespaces come from the principal', () => {
  const ev = evaluator(policy('ns', `
rules:
- from: [{source: {namespaces: ["default", "prod-*"], notNamespaces: ["prod-legacy"]}}]`));
  assert.ok(allowed(ev, { principal: SLEEP }));
  assert.ok(allowed(ev, { principal: 'cluster.local/ns/prod-eu/sa/x' }));
  assert.ok(!allowed(ev, { principal: 'cluster.local/ns/prod-legacy/sa/x' }));
  assert.ok(!allowed(ev, { principal: OTHER }));
  assert.ok(!allowed(ev, { principal: 'cluster.local/ns/defaults/sa/x' }), 'exact namespace, not a prefix');
  assert.ok(!allowed(ev, { principal: null }));
});

test('serviceAccounts: ns/sa, or a bare name in the policy namespace', () => {
  const ev = evaluator(policy('sa', 'rules: [{from: [{source: {serviceAccounts: ["other/bot", "sleep"]}}]}]'));
  assert.ok(allowed(ev, { principal: OTHER }));
  assert.ok(allowed(ev, { principal: SLEEP }));
  assert.ok(!allowed(ev, { principal: 'cluster.local/ns/other/sa/sleep' }));
  assert.ok(!allowed(ev, { principal: 'cluster.local/ns/other/sa/botx' }));
});

test('ipBlocks with IPv4 and IPv6 CIDRs and single IPs; notIpBlocks', () => {
  const ev = evaluator(policy('ip', `
rules:
- from: [{source: {ipBlocks: ["10.0.0.0/8", "192.168.1.5", "2001:db8::/32"], notIpBlocks: ["10.66.0.0/16"]}}]`));
  assert.ok(allowed(ev, { sourceIp: '10.1.2.3' }));
  assert.ok(allowed(ev, { sourceIp: '192.168.1.5' }));
  assert.ok(!allowed(ev, { sourceIp: '192.168.1.6' }));
  assert.ok(allowed(ev, { sourceIp: '2001:db8:1::7' }));
  assert.ok(!allowed(ev, { sourceIp: '2001:db9::7' }));
  assert.ok(allowed(ev, { sourceIp: '::ffff:10.1.1.1' }), 'IPv4-mapped peer');
  assert.ok(!allowed(ev, { sourceIp: '10.66.1.1' }), 'notIpBlocks');
  const remote = evaluator(policy('remote', 'rules: [{from: [{source: {remoteIpBlocks: ["127.0.0.0/8"]}}]}]'));
  assert.ok(allowed(remote, { sourceIp: '127.0.0.1' }), 'remote.ip is the peer address (no trusted proxies)');
});

test('paths: exact, prefix, suffix, on the path as given (the listener normalised it already)', () => {
  const ev = evaluator(policy('paths', 'rules: [{to: [{operation: {paths: ["/healthz", "/api/*", "*.png"]}}]}]'));
  assert.ok(allowed(ev, { path: '/healthz' }));
  assert.ok(!allowed(ev, { path: '/healthz/x' }));
  assert.ok(allowed(ev, { path: '/api/v1/items' }));
  assert.ok(allowed(ev, { path: '/img/logo.png' }));
  assert.ok(!allowed(ev, { path: '/admin' }));
  const deny = evaluator(policy('no-admin', 'action: DENY\nrules: [{to: [{operation: {paths: ["/admin*"]}}]}]'));
  assert.ok(!allowed(deny, { path: '/admin/users' }));
  assert.ok(allowed(deny, { path: '/public/admin' }));
});

test('methods, notMethods, hosts (case-insensitive), ports', () => {
  const ev = evaluator(policy('op', `
rules:
- to:
  - operation:
      methods: [GET, HEAD]
      hosts: ["api.example.com", "*.internal"]
      ports: ["9080", 8080]
      notPaths: ["/private*"]`));
  const ok = { host: 'API.Example.com', port: 9080 };
  assert.ok(allowed(ev, ok));
  assert.ok(allowed(ev, { ...ok, method: 'HEAD', port: 8080 }));
  assert.ok(!allowed(ev, { ...ok, method: 'POST' }));
  assert.ok(allowed(ev, { ...ok, host: 'db.internal' }));
  assert.ok(!allowed(ev, { ...ok, host: 'api.example.com:9080' }), 'Istio compares the authority as sent, port included');
  assert.ok(!allowed(ev, { ...ok, port: 7000 }));
  assert.ok(!allowed(ev, { ...ok, path: '/private/x' }));
  const notGet = evaluator(policy('ro', 'action: DENY\nrules: [{to: [{operation: {notMethods: [GET, HEAD]}}]}]'));
  assert.ok(!allowed(notGet, { method: 'DELETE' }));
  assert.ok(allowed(notGet, { method: 'GET' }));
});

test('when: request headers (values, notValues, presence), source.ip, source.principal, source.namespace, destination.port', () => {
  const ev = evaluator(policy('when', `
rules:
- when:
  - {key: "request.headers[X-Tenant]", values: ["acme", "beta-*"]}
  - {key: "request.headers[x-debug]", notValues: ["*"]}
  - {key: source.ip, values: ["10.0.0.0/8"]}
  - {key: source.namespace, values: [default]}
  - {key: source.principal, notValues: ["*/sa/blocked"]}
  - {key: destination.port, values: ["9080"]}`));
  const base = { principal: SLEEP, headers: ['x-tenant', 'acme'] };
  assert.ok(allowed(ev, base));
  assert.ok(allowed(ev, { ...base, headers: ['x-tenant', 'beta-2'] }));
  assert.ok(!allowed(ev, { ...base, headers: ['x-tenant', 'other'] }));
  assert.ok(!allowed(ev, { ...base, headers: [] }), 'absent header does not match values');
  assert.ok(!allowed(ev, { ...base, headers: ['x-tenant', 'acme', 'x-debug', ''] }), 'notValues ["*"]: header must be absent');
  assert.ok(!allowed(ev, { ...base, sourceIp: '11.0.0.1' }));
  assert.ok(!allowed(ev, { ...base, principal: 'cluster.local/ns/default/sa/blocked' }));
  assert.ok(!allowed(ev, { ...base, principal: OTHER }));
  assert.ok(!allowed(ev, { ...base, port: 9081 }));
});

test('from, to and when of one rule are ANDed; rules and from entries are ORed', () => {
  const ev = evaluator(policy('and-or', `
rules:
- from: [{source: {principals: ["${SLEEP}"]}}, {source: {ipBlocks: ["127.0.0.1"]}}]
  to: [{operation: {methods: [GET]}}]
- to: [{operation: {paths: ["/public*"]}}]`));
  assert.ok(allowed(ev, { principal: SLEEP }));
  assert.ok(allowed(ev, { sourceIp: '127.0.0.1' }));
  assert.ok(!allowed(ev, { principal: SLEEP, method: 'POST' }));
  assert.ok(allowed(ev, { method: 'POST', path: '/public/x' }), 'second rule');
  assert.ok(!allowed(ev, { method: 'GET' }));
});

test('DENY takes precedence over a matching ALLOW', () => {
  const ev = evaluator(
    policy('allow-all', 'rules: [{}]'),
    policy('deny-other', `action: DENY\nrules: [{from: [{source: {namespaces: ["other"]}}]}]`),
  );
  assert.deepEqual(check(ev, { principal: OTHER }), { allowed: false, policy: 'default/deny-other', audit: null });
  assert.deepEqual(check(ev, { principal: SLEEP }), { allowed: true, policy: 'default/allow-all', audit: null });
});

test('only DENY policies: what they do not match is allowed', () => {
  const ev = evaluator(policy('deny-post', 'action: DENY\nrules: [{to: [{operation: {methods: [POST]}}]}]'));
  assert.deepEqual(check(ev, { method: 'GET' }), { allowed: true, policy: null, audit: null });
  assert.equal(check(ev, { method: 'POST' }).allowed, false);
});

test('AUDIT is reported but never changes the decision', () => {
  const auditOnly = evaluator(policy('audit-admin', 'action: AUDIT\nrules: [{to: [{operation: {paths: ["/admin*"]}}]}]'));
  assert.deepEqual(check(auditOnly, { path: '/admin/x' }), { allowed: true, policy: null, audit: 'default/audit-admin' });
  assert.deepEqual(check(auditOnly, { path: '/x' }), { allowed: true, policy: null, audit: null });
  const withDeny = evaluator(
    policy('audit-all', 'action: AUDIT\nrules: [{}]'),
    policy('deny-admin', 'action: DENY\nrules: [{to: [{operation: {paths: ["/admin*"]}}]}]'),
  );
  assert.deepEqual(check(withDeny, { path: '/admin' }), { allowed: false, policy: 'default/deny-admin', audit: 'default/audit-all' });
  assert.deepEqual(check(withDeny, { path: '/' }), { allowed: true, policy: null, audit: 'default/audit-all' });
});

const jwt = (principal: string, claims: Record<string, unknown> = {}, audiences: string[] = [], presenter = ''): JwtAuth => ({ principal, claims, audiences, presenter });

test('requestPrincipals match the verified JWT\'s iss/sub (string forms); without a JWT only notRequestPrincipals can hold', () => {
  const ev = evaluator(policy('jwt', 'rules: [{from: [{source: {requestPrincipals: ["https://idp.test/*"]}}]}, {from: [{source: {notRequestPrincipals: ["x/y"]}}], to: [{operation: {methods: [HEAD]}}]}]'));
  assert.ok(!allowed(ev, { principal: SLEEP }), 'an mTLS principal is not a request principal');
  assert.ok(allowed(ev, { auth: jwt('https://idp.test/alice') }));
  assert.ok(!allowed(ev, { auth: jwt('https://other.test/alice') }));
  assert.ok(allowed(ev, { method: 'HEAD' }), 'no JWT: not x/y');
  assert.ok(!allowed(ev, { method: 'HEAD', auth: jwt('x/y') }));
  const any = evaluator(policy('any', 'rules: [{from: [{source: {requestPrincipals: ["*"]}}]}]'));
  assert.ok(!allowed(any, {}), '"*": a JWT is required');
  assert.ok(allowed(any, { auth: jwt('i/s') }));
});

test('when request.auth.*: audiences (any), presenter, claims (string or list, nested), notValues', () => {
  const ev = evaluator(policy('claims', `
rules:
- when:
  - {key: request.auth.audiences, values: ["api-*"]}
  - {key: request.auth.presenter, values: [web]}
  - {key: "request.auth.claims[realm_access][roles]", values: [admin]}
  - {key: "request.auth.claims[tier]", notValues: [free]}
- to: [{operation: {paths: ["/me"]}}]
  when: [{key: request.auth.principal, values: ["*/alice"]}]`));
  const good = jwt('i/bob', { realm_access: { roles: ['user', 'admin'] }, tier: 'gold' }, ['x', 'api-read'], 'web');
  assert.ok(allowed(ev, { auth: good }));
  assert.ok(!allowed(ev, { auth: { ...good, audiences: ['x'] } }), 'no audience with the prefix');
  assert.ok(!allowed(ev, { auth: { ...good, presenter: '' } }), 'no azp');
  assert.ok(!allowed(ev, { auth: { ...good, claims: { ...good.claims, realm_access: { roles: ['user'] } } } }), 'role missing');
  assert.ok(!allowed(ev, { auth: { ...good, claims: { ...good.claims, realm_access: 'admin' } } }), 'not nested');
  assert.ok(!allowed(ev, { auth: { ...good, claims: { ...good.claims, tier: 'free' } } }), 'notValues');
  assert.ok(!allowed(ev, { auth: { ...good, claims: { realm_access: { roles: [7, 'admin-x'] } } } }), 'only string elements match');
  assert.ok(!allowed(ev, {}), 'no JWT: no claim');
  assert.ok(allowed(ev, { path: '/me', auth: jwt('https://idp/alice') }));
  const proto = evaluator(policy('proto', 'rules: [{when: [{key: "request.auth.claims[constructor]", values: ["*"]}]}]'));
  assert.ok(!allowed(proto, { auth: jwt('i/s') }), 'inherited properties are not claims');
});

test('a result object can be reused (no allocation per request), and the evaluator keeps no request', () => {
  const ev = evaluator(policy('deny-post', 'action: DENY\nrules: [{to: [{operation: {methods: [POST]}}]}]')) as AuthzEvaluator;
  const out: AuthzResult = { allowed: true, policy: null, audit: null };
  assert.equal(ev.evaluate(request({ method: 'POST' }), out), out);
  assert.deepEqual(out, { allowed: false, policy: 'default/deny-post', audit: null });
  ev.evaluate(request({ method: 'GET' }), out);
  assert.deepEqual(out, { allowed: true, policy: null, audit: null });
});

test('the compiled form survives structured cloning (snapshots are posted to workers)', () => {
  const ev = evaluator(policy('ip', 'rules: [{from: [{source: {ipBlocks: ["2001:db8::/32"]}}], when: [{key: "request.headers[x-a]", values: ["b"]}]}]'));
  const spec = structuredClone((ev as unknown as { spec: unknown }).spec);
  const cloned = new AuthzEvaluator(spec as ConstructorParameters<typeof AuthzEvaluator>[0]);
  assert.ok(cloned.evaluate(request({ sourceIp: '2001:db8::1', headers: ['x-a', 'b'] })).allowed);
  assert.ok(!cloned.evaluate(request({ sourceIp: '2001:db9::1', headers: ['x-a', 'b'] })).allowed);
});
