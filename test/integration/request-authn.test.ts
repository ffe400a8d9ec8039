// RequestAuthentication end to end: a real JWKS server on loopback (RS256, ES256 and EdDSA keys),
// tokens signed with jose, an inbound sidecar in front of an echo app. Istio's semantics: no token
// passes authentication (AuthorizationPolicy decides: requestPrincipals, notRequestPrincipals,
// request.auth.claims[…] nested, audiences, presenter); a bad token is 401 with Envoy's reason,
// counted, and the worker keeps serving; the token is removed unless forwardOriginalToken; output
// headers carry the payload and claims (a client's own copies never pass). The JWKS endpoint
// turning to garbage or hanging leaves the last good keys serving; a sidecar whose first fetch
// hangs answers 401 after the time-out. AUDIT policies log and count, never decide.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT, type JWK, type JWTPayload } from 'jose';
import { request } from 'undici';
import { controlRequest } from '../../src/control/control-client.js';
import { defaultControlSocket } from '../../src/control/socket-path.js';
import { makeCa, makeLeaf } from '../helpers/certs.js';
import { startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { freePort } from '../helpers/ports.js';
import { echoUpstream, type Upstream } from '../helpers/upstream.js';

const ISSUER = 'https://issuer.test';
type KeyLike = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
type Alg = 'RS256' | 'ES256' | 'EdDSA';
const keys = new Map<Alg, { privateKey: KeyLike; jwk: JWK }>();
let rogue: KeyLike;
let inlineKey: { privateKey: KeyLike; jwk: JWK };
let jwksMode: 'ok' | 'garbage' | 'hang' | 'error' = 'ok';
let jwksHits = 0;
let jwksServer: http.Server;
let jwksPort = 0;
let app: Upstream;
let m: Meshlet;
let inbound = 0;
let egress = 0;

function jwksBody(): string {
  return JSON.stringify({ keys: [...keys.values()].map((k) => k.jwk) });
}

async function sign(claims: JWTPayload, opts: { alg?: Alg; kid?: string; key?: KeyLike; iss?: string; aud?: string | string[]; exp?: number | string; nbf?: number } = {}): Promise<string> {
  const alg = opts.alg ?? 'RS256';
  let jwt = new SignJWT(claims).setProtectedHeader({ alg, kid: opts.kid ?? alg }).setIssuer(opts.iss ?? ISSUER).setIssuedAt();
  jwt = jwt.setAudience(opts.aud ?? 'shop');
  jwt = jwt.setExpirationTime(opts.exp ?? '1h');
  if (opts.nbf !== undefined) jwt = jwt.setNotBefore(opts.nbf);
  return jwt.sign(opts.key ?? (keys.get(alg) as { privateKey: KeyLike }).privateKey);
}

function config(): string {
  return `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: api}
spec:
  ingress:
  - port: {number: ${inbound}, protocol: HTTP, name: http}
    defaultEndpoint: 127.0.0.1:${app.port}
  egress:
  - port: {number: ${egress}, protocol: HTTP}
    hosts: ["*/*"]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt}
spec:
  jwtRules:
  - issuer: ${ISSUER}
    jwksUri: http://127.0.0.1:${jwksPort}/jwks.json
    audiences: [shop, shop-admin]
    timeout: 500ms
    outputPayloadToHeader: x-jwt-payload
    outputClaimToHeaders:
    - {header: x-user-email, claim: email}
    - {header: x-tier, claim: org.tier}
  - issuer: inline-issuer
    jwks: '${JSON.stringify({ keys: [inlineKey.jwk] })}'
    fromParams: [token]
    forwardOriginalToken: true
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: api}
spec:
  rules:
  - to: [{operation: {paths: ["/open*"]}}]
  - from: [{source: {requestPrincipals: ["${ISSUER}/*", "inline-issuer/*"]}}]
    to: [{operation: {paths: ["/secure*"]}}]
  - to: [{operation: {paths: ["/admin"]}}]
    when:
    - {key: "request.auth.claims[org][role]", values: [admin]}
    - {key: request.auth.audiences, values: [shop-admin]}
  - from: [{source: {notRequestPrincipals: ["*"]}}]
    to: [{operation: {paths: ["/anonymous-only"]}}]
  - to: [{operation: {paths: ["/presenter"]}}]
    when: [{key: request.auth.presenter, values: [web-app]}, {key: "request.auth.claims[groups]", values: ["ops*"]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: audit-open}
spec:
  action: AUDIT
  rules: [{to: [{operation: {paths: ["/open/audited"]}}]}]
`;
}

const yaml = config;

before(async () => {
  for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) {
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
    keys.set(alg, { privateKey, jwk: { ...(await exportJWK(publicKey)), kid: alg, alg, use: 'sig' } });
  }
  rogue = (await generateKeyPair('RS256')).privateKey;
  const inl = await generateKeyPair('EdDSA', { extractable: true });
  inlineKey = { privateKey: inl.privateKey, jwk: { ...(await exportJWK(inl.publicKey)), kid: 'inline' } };
  jwksServer = http.createServer((req, res) => {
    jwksHits++;
    if (jwksMode === 'hang') return; // never answers
    if (jwksMode === 'error') { res.statusCode = 500; res.end('oops'); return; }
    res.setHeader('content-type', 'application/json');
    res.end(jwksMode === 'garbage' ? '{"keys": [{"kty": "RSA", "n": "garbage"}' : jwksBody());
  });
  await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
  jwksPort = (jwksServer.address() as AddressInfo).port;
  app = await echoUpstream('api');
  inbound = await freePort();
  egress = await freePort();
  m = await startMeshlet(yaml(), { noSidecar: true, workers: 2, args: ['--jwks-refresh', '1s', '--access-log', 'stdout'] });
});

after(async () => {
  await m?.stop();
  await app?.close();
  jwksServer?.closeAllConnections();
  await new Promise<void>((r) => (jwksServer === undefined ? r() : jwksServer.close(() => r())));
});

interface Echo { url: string; headers: Record<string, string | undefined> }

async function call(path: string, token?: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  const res = await request(`http://127.0.0.1:${inbound}${path}`, { headers: { host: 'api', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...headers } });
  return { status: res.statusCode, body: await res.body.text(), headers: res.headers };
}

async function metrics(): Promise<string> {
  return (await request(`http://127.0.0.1:${m.adminPort}/stats/prometheus`)).body.text();
}

/** Worker counters are reported once a second: wait (bounded) for `name{labels}` to reach `min`. */
async function counter(re: RegExp, min: number): Promise<number> {
  const deadline = Date.now() + 5000;
  let v = 0;
  while (Date.now() < deadline) {
    const mm = re.exec(await metrics());
    v = mm === null ? 0 : Number(mm[1]);
    if (v >= min) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  return v;
}

test('no token passes authentication: AuthorizationPolicy decides (open 200, requestPrincipals 403, notRequestPrincipals 200)', async () => {
  assert.equal((await call('/open')).status, 200);
  const secure = await call('/secure');
  assert.equal(secure.status, 403);
  assert.equal(secure.body, 'RBAC: access denied');
  assert.equal((await call('/anonymous-only')).status, 200);
});

test('valid RS256, ES256 and EdDSA tokens: principal iss/sub; token removed; payload and claims in output headers', async () => {
  for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) {
    const token = await sign({ sub: `user-${alg}`, email: 'ann@example.com', org: { tier: 'gold', role: 'user' } }, { alg });
    const r = await call('/secure/data', token, { 'x-user-email': 'forged@example.com' });
    assert.equal(r.status, 200, `${alg}: ${r.body}`);
    const echo = JSON.parse(r.body) as Echo;
    assert.equal(echo.headers.authorization, undefined, 'forwardOriginalToken false: the token is removed');
    assert.equal(echo.headers['x-user-email'], 'ann@example.com', 'the claim, not the client\'s copy');
    assert.equal(echo.headers['x-tier'], 'gold', 'nested claim org.tier');
    const payload = JSON.parse(Buffer.from(echo.headers['x-jwt-payload'] as string, 'base64url').toString()) as JWTPayload;
    assert.equal(payload.sub, `user-${alg}`);
    assert.equal(payload.iss, ISSUER);
  }
  // without a token, a client's own output headers never reach the app
  const forged = JSON.parse((await call('/open', undefined, { 'x-user-email': 'forged@example.com', 'x-jwt-payload': 'e30' })).body) as Echo;
  assert.equal(forged.headers['x-user-email'], undefined);
  assert.equal(forged.headers['x-jwt-payload'], undefined);
  assert.equal((await call('/anonymous-only', await sign({ sub: 'u' }))).status, 403, 'notRequestPrincipals ["*"] refuses any authenticated caller');
});

test('access_token query parameter (Istio\'s default location) and an inline-JWKS rule read from ?token= and forwarded', async () => {
  const viaParam = await call(`/secure/q?access_token=${await sign({ sub: 'p' })}`);
  assert.equal(viaParam.status, 200, viaParam.body);
  const inline = await new SignJWT({ sub: 'svc' }).setProtectedHeader({ alg: 'EdDSA', kid: 'inline' }).setIssuer('inline-issuer').setExpirationTime('5m').sign(inlineKey.privateKey);
  const r = await call(`/secure/inline?token=${inline}`);
  assert.equal(r.status, 200, r.body);
  assert.ok((JSON.parse(r.body) as Echo).url.includes(`token=${inline}`), 'forwardOriginalToken: the parameter reaches the app');
});

test('AuthorizationPolicy when: nested claims, audiences, presenter and list claims with a prefix', async () => {
  const admin = await sign({ sub: 'a', org: { role: 'admin' } }, { aud: ['shop', 'shop-admin'] });
  assert.equal((await call('/admin', admin)).status, 200);
  assert.equal((await call('/admin', await sign({ sub: 'u', org: { role: 'user' } }, { aud: ['shop', 'shop-admin'] }))).status, 403, 'role user');
  assert.equal((await call('/admin', await sign({ sub: 'a', org: { role: 'admin' } }, { aud: 'shop' }))).status, 403, 'audience shop-admin missing');
  assert.equal((await call('/presenter', await sign({ sub: 'p', azp: 'web-app', groups: ['dev', 'ops-oncall'] }))).status, 200);
  assert.equal((await call('/presenter', await sign({ sub: 'p', azp: 'cli', groups: ['ops'] }))).status, 403, 'other presenter');
  assert.equal((await call('/presenter', await sign({ sub: 'p', azp: 'web-app', groups: ['dev'] }))).status, 403, 'no group with the prefix');
});

test('bad tokens: each a 401 with Envoy\'s reason and www-authenticate, counted; the worker keeps serving', async () => {
  const now = Math.floor(Date.now() / 1000);
  const cases: [string, string, string][] = [
    ['malformed', 'not-a-jwt', 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections'],
    ['malformed', 'a.b.c.d', 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections'],
    ['bad_json', `${Buffer.from('{"alg":').toString('base64url')}.e30.c2ln`, 'Jwt header or payload is an invalid JSON'],
    ['bad_alg', new UnsecuredJWT({ sub: 'x', iss: ISSUER, aud: 'shop' }).encode(), 'Jwt header [alg] is not supported'],
    ['bad_alg', await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'HS256' }).setIssuer(ISSUER).sign(new TextEncoder().encode('secret-secret-secret-secret-1234')), 'Jwt header [alg] is not supported'],
    ['no_key', await sign({ sub: 'x' }, { kid: 'unknown-kid', key: rogue }), 'Jwks doesn\'t have key to match kid or alg from Jwt'],
    ['signature', await sign({ sub: 'x' }, { kid: 'RS256', key: rogue }), 'Jwt verification fails'],
    ['expired', await sign({ sub: 'x' }, { exp: now - 120 }), 'Jwt is expired'],
    ['not_yet_valid', await sign({ sub: 'x' }, { nbf: now + 3600, exp: now + 7200 }), 'Jwt not yet valid'],
    ['audience', await sign({ sub: 'x' }, { aud: 'elsewhere' }), 'Audiences in Jwt are not allowed'],
    ['unknown_issuer', await sign({ sub: 'x' }, { iss: 'https://stranger.test' }), 'Jwt issuer is not configured'],
  ];
  const counts = new Map<string, number>();
  for (const [kind, token, reason] of cases) {
    const r = await call('/open', token);
    assert.equal(r.status, 401, `${kind}: ${r.body}`);
    assert.equal(r.body, reason, kind);
    assert.equal(r.headers['www-authenticate'], 'Bearer error="invalid_token"');
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  // within the clock skew (60 s), a just-expired token still passes, as Envoy's
  assert.equal((await call('/secure', await sign({ sub: 'x' }, { exp: now - 10 }))).status, 200);
  assert.equal((await call('/secure', await sign({ sub: 'ok' }))).status, 200, 'still serving');
  for (const [kind, n] of counts) {
    const v = await counter(new RegExp(`meshlet_http_filter_total\\{filter="jwt",action="denied_${kind}"\\} (\\d+)`), n);
    assert.equal(v, n, `denied_${kind}`);
  }
  assert.ok(/"msg":"worker (crashed|exited)/.test(m.output()) === false, 'no worker crashed');
});

test('AUDIT: a matching request is logged with the policy and counted; the decision does not change', async () => {
  const r = await call('/open/audited', undefined, { 'x-request-id': 'audited-1' });
  assert.equal(r.status, 200);
  assert.equal(await counter(/meshlet_authz_audit_total\{policy="default\/audit-open"\} (\d+)/, 1), 1);
  const deadline = Date.now() + 5000;
  while (!m.output().includes('"x_request_id":"audited-1"') && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
  assert.match(m.output(), /"x_request_id":"audited-1"[^\n]*"authz_audit_policy":"default\/audit-open"/);
});

test('the JWKS endpoint turns to garbage, errors or hangs: the last good keys keep serving; fetch failures are counted', { timeout: 30_000 }, async () => {
  const token = await sign({ sub: 'steady' });
  for (const mode of ['garbage', 'error', 'hang'] as const) {
    jwksMode = mode;
    const before = await counter(/meshlet_jwks_fetch_total\{jwks_uri="[^"]+",result="error"\} (\d+)/, 0);
    // refreshed every second; a hanging fetch gives up after the rule's 500 ms
    const after = await counter(/meshlet_jwks_fetch_total\{jwks_uri="[^"]+",result="error"\} (\d+)/, before + 1);
    assert.ok(after > before, `${mode}: a failed fetch is counted (${before} → ${after})`);
    assert.equal((await call('/secure', token)).status, 200, `${mode}: last good keys`);
    // a new token with a fresh key id is still checked against the last good set
    assert.equal((await call('/secure', await sign({ sub: 'new' }, { kid: 'rotated', key: rogue }))).status, 401);
  }
  jwksMode = 'ok';
  assert.match(m.output(), /JWKS refresh failed; the last good keys keep serving/);
});

test('hot reload: a new jwksUri is waited for (slow JWKS: 200); one whose first fetch hangs or is garbage answers 401 after its time-out', { timeout: 30_000 }, async () => {
  const hanging = http.createServer(() => undefined);
  await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
  const port = (hanging.address() as AddressInfo).port;
  const other = await generateKeyPair('ES256', { extractable: true });
  const otherJwks = JSON.stringify({ keys: [{ ...(await exportJWK(other.publicKey)), kid: 'o1' }] });
  let slowMode: 'slow' | 'garbage' = 'slow';
  const slow = http.createServer((_req, res) => {
    if (slowMode === 'garbage') { res.end('<html>not json</html>'); return; }
    setTimeout(() => res.end(otherJwks), 300);
  });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  const slowPort = (slow.address() as AddressInfo).port;
  const yamlWith = (uri: string, timeout: string): string => `${yaml()}---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: other}
spec:
  jwtRules: [{issuer: "https://other.test", jwksUri: "${uri}", timeout: ${timeout}}]
`;
  try {
    // keys answered 300 ms after the apply: the first request waits for them, then passes
    const waited = await controlRequest(defaultControlSocket(m.adminPort), { op: 'apply', yaml: yamlWith(`http://127.0.0.1:${slowPort}/keys`, '2s') });
    assert.equal(waited.ok, true, JSON.stringify(waited));
    const otherToken = await new SignJWT({ sub: 'o' }).setProtectedHeader({ alg: 'ES256', kid: 'o1' }).setIssuer('https://other.test').setExpirationTime('5m').sign(other.privateKey);
    // (a token that did not verify would be 401 even on /open)
    const first = await call('/open', otherToken);
    assert.equal(first.status, 200, first.body);
    // the same server answering garbage from the start (a new uri: no last good keys) → 401
    slowMode = 'garbage';
    const garbage = await controlRequest(defaultControlSocket(m.adminPort), { op: 'apply', yaml: yamlWith(`http://127.0.0.1:${slowPort}/keys2`, '1s') });
    assert.equal(garbage.ok, true);
    const g = await call('/open', otherToken);
    assert.equal(g.status, 401);
    assert.equal(g.body, 'Jwks remote fetch is failed');
    const reply = await controlRequest(defaultControlSocket(m.adminPort), { op: 'apply', yaml: yamlWith(`http://127.0.0.1:${port}/keys`, '400ms') });
    assert.equal(reply.ok, true, JSON.stringify(reply));
    const token = await sign({ sub: 'x' }, { iss: 'https://other.test' });
    const t0 = Date.now();
    const r = await call('/open', token);
    assert.equal(r.status, 401);
    assert.equal(r.body, 'Jwks remote fetch is failed');
    assert.ok(Date.now() - t0 < 3000, 'bounded by the fetch time-out');
    assert.equal((await call('/open')).status, 200, 'no token: still served');
    assert.equal((await call('/secure', await sign({ sub: 'y' }))).status, 200, 'the other rule\'s keys are unaffected');
  } finally {
    hanging.closeAllConnections();
    hanging.close();
    slow.closeAllConnections();
    slow.close();
  }
  // a configuration error is refused with its path, and the running config keeps serving
  const bad = await controlRequest(defaultControlSocket(m.adminPort), { op: 'apply', yaml: yamlWith('http://keys.example.com/jwks', '1s') });
  assert.equal(bad.ok, false);
  assert.match((bad.errors as string[]).join('\n'), /jwtRules\[0\]\.jwksUri.*must use https:\/\//);
  const reset = await controlRequest(defaultControlSocket(m.adminPort), { op: 'apply', yaml: yaml() });
  assert.equal(reset.ok, true);
  assert.ok(jwksHits > 0);
});

test('jwksUri over HTTPS: the server certificate is verified (a trusted CA serves keys; an unknown one gets 401)', { timeout: 30_000 }, async () => {
  const trusted = makeCa('jwks');
  const untrusted = makeCa('stranger');
  const serve = async (ca: ReturnType<typeof makeCa>, body: string): Promise<https.Server> => {
    const leaf = makeLeaf(ca, 'spiffe://jwks.test/server', { ips: ['127.0.0.1'] });
    const srv = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (_req, res) => res.end(body));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    return srv;
  };
  const good = await serve(trusted, jwksBody());
  const bad = await serve(untrusted, jwksBody());
  const caFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'meshlet-jwks-ca-')), 'ca.pem');
  writeFileSync(caFile, trusted.certPem);
  const port = await freePort();
  const out = await freePort();
  const tlsYaml = `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: tls}
spec:
  ingress: [{port: {number: ${port}, protocol: HTTP, name: http}, defaultEndpoint: "127.0.0.1:${app.port}"}]
  egress: [{port: {number: ${out}, protocol: HTTP}, hosts: ["*/*"]}]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: tls}
spec:
  jwtRules:
  - {issuer: "${ISSUER}", jwksUri: "https://127.0.0.1:${(good.address() as AddressInfo).port}/keys", timeout: 2s}
  - {issuer: "https://untrusted.test", jwksUri: "https://127.0.0.1:${(bad.address() as AddressInfo).port}/keys", timeout: 2s}
`;
  const s2 = await startMeshlet(tlsYaml, { noSidecar: true, env: { ...process.env, NODE_EXTRA_CA_CERTS: caFile } });
  try {
    const get = async (token: string): Promise<{ status: number; body: string }> => {
      const res = await request(`http://127.0.0.1:${port}/`, { headers: { host: 'api', authorization: `Bearer ${token}` } });
      return { status: res.statusCode, body: await res.body.text() };
    };
    assert.equal((await get(await sign({ sub: 'tls' }))).status, 200, 'keys fetched over HTTPS from a trusted server');
    const refused = await get(await sign({ sub: 'x' }, { iss: 'https://untrusted.test' }));
    assert.equal(refused.status, 401);
    assert.equal(refused.body, 'Jwks remote fetch is failed');
    assert.match(s2.output(), /"err":"JWKS https:\/\/127\.0\.0\.1:\d+\/keys: [^"]*(certificate|issuer)[^"]*"[^\n]*JWKS fetch failed/i, s2.output());
  } finally {
    await s2.stop();
    good.closeAllConnections();
    good.close();
    bad.closeAllConnections();
    bad.close();
  }
});
