// RequestAuthentication validation and compilation: Istio's defaults (Authorization "Bearer " and
// access_token, 5 s timeout, OpenID discovery without jwksUri/jwks), and each bad field refused
// with its path (jwksUri in the clear off loopback, both jwks and jwksUri, a JWKS that is not one,
// a private key in it, bad header names) — the Telemetry kind's warnings and errors likewise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { formatIssue, type Snapshot } from '../../../src/config/index.js';
import { compileYaml, errors, expectError, warnings } from './helpers.js';

const RA = (name: string, spec: string): string => `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: ${name}, namespace: shop}
spec:
${spec.replace(/^\n/, '').replace(/^/gm, '  ')}
`;

function snap(text: string): Snapshot {
  const r = compileYaml(text);
  assert.deepEqual(errors(r).map(formatIssue), []);
  assert.ok(r.snapshot);
  return r.snapshot;
}

const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const PUBLIC = JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'k' }] });
const PRIVATE = JSON.stringify({ keys: [privateKey.export({ format: 'jwk' })] });

test('jwtRules compile with Istio\'s defaults; several resources add up in file order', () => {
  const s = snap(RA('a', `
jwtRules:
- issuer: https://idp.example.com
  jwksUri: https://idp.example.com/keys
  audiences: [shop]
- issuer: inline
  jwks: '${PUBLIC}'
  fromHeaders: [{name: X-Token}, {name: Authorization, prefix: "Token "}]
  fromParams: [t]
  fromCookies: [session]
  forwardOriginalToken: true
  outputPayloadToHeader: X-Payload
  outputClaimToHeaders: [{header: X-Sub, claim: sub}]
  timeout: 2s
`) + '---\n' + RA('b', 'jwtRules: [{issuer: "https://accounts.example.org"}]'));
  assert.deepEqual(s.jwtRules?.map((r) => [r.source, r.issuer, r.jwksUri, r.timeoutMs]), [
    ['shop/a', 'https://idp.example.com', 'https://idp.example.com/keys', 5000],
    ['shop/a', 'inline', null, 2000],
    ['shop/b', 'https://accounts.example.org', 'discovery:https://accounts.example.org', 5000],
  ]);
  assert.deepEqual(s.jwtRules?.[0]?.locations, [{ kind: 'header', name: 'authorization', prefix: 'Bearer ' }, { kind: 'param', name: 'access_token' }]);
  const r1 = s.jwtRules?.[1];
  assert.deepEqual(r1?.locations, [
    { kind: 'header', name: 'x-token', prefix: '' }, { kind: 'header', name: 'authorization', prefix: 'Token ' },
    { kind: 'param', name: 't' }, { kind: 'cookie', name: 'session' },
  ]);
  assert.equal(r1?.outputPayloadToHeader, 'x-payload');
  assert.deepEqual(r1?.outputClaimToHeaders, [{ header: 'x-sub', claim: 'sub' }]);
  assert.equal(r1?.forwardOriginalToken, true);
  const w = warnings(compileYaml(RA('b', 'jwtRules: [{issuer: "https://accounts.example.org"}]'))).map(formatIssue).join('\n');
  assert.match(w, /OpenID discovery at https:\/\/accounts\.example\.org\/\.well-known\/openid-configuration/);
  assert.equal(snap(RA('loop', 'jwtRules: [{issuer: i, jwksUri: "http://127.0.0.1:9000/jwks"}]')).jwtRules?.length, 1, 'http:// on loopback is allowed');
});

test('bad jwtRules are refused with their field path', () => {
  const cases: [string, string, RegExp][] = [
    ['jwtRules: [{jwksUri: "https://x/keys"}]', 'spec.jwtRules[0].issuer', /required field is missing/],
    ['jwtRules: [{issuer: i, jwksUri: "http://keys.example.com/jwks"}]', 'spec.jwtRules[0].jwksUri', /must use https:\/\/ \(plain http:\/\/ only to a loopback address/],
    ['jwtRules: [{issuer: i, jwksUri: "ftp://x/keys"}]', 'spec.jwtRules[0].jwksUri', /must be an https:\/\/ URL/],
    ['jwtRules: [{issuer: i, jwksUri: "not a url"}]', 'spec.jwtRules[0].jwksUri', /is not a URL/],
    [`jwtRules: [{issuer: i, jwksUri: "https://x/k", jwks: '${PUBLIC}'}]`, 'spec.jwtRules[0].jwks', /only one of jwks and jwksUri/],
    ['jwtRules: [{issuer: i, jwks: "{not json"}]', 'spec.jwtRules[0].jwks', /bad JWKS: not JSON/],
    ['jwtRules: [{issuer: i, jwks: \'{"keys": []}\'}]', 'spec.jwtRules[0].jwks', /has no key/],
    ['jwtRules: [{issuer: i, jwks: \'{"keys": [{"kty": "RSA", "n": "x", "e": "AQAB"}]}\'}]', 'spec.jwtRules[0].jwks', /keys\[0\] \(kty RSA\) is a \d+-bit key: at least 2048 bits/],
    ['jwtRules: [{issuer: i, jwks: \'{"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]}\'}]', 'spec.jwtRules[0].jwks', /keys\[0\] \(kty EC\) cannot be used/],
    [`jwtRules: [{issuer: i, jwks: '${PRIVATE}'}]`, 'spec.jwtRules[0].jwks', /private key/],
    ['jwtRules: [{issuer: plain-name}]', 'spec.jwtRules[0].issuer', /OpenID discovery at the issuer, which must then be a URL/],
    ['jwtRules: [{issuer: i, jwksUri: "https://x/k", fromHeaders: [{name: "bad header"}]}]', 'spec.jwtRules[0].fromHeaders[0].name', /not a valid header name/],
    ['jwtRules: [{issuer: i, jwksUri: "https://x/k", outputPayloadToHeader: host}]', 'spec.jwtRules[0].outputPayloadToHeader', /set by the proxy itself/],
    ['jwtRules: [{issuer: i, jwksUri: "https://x/k", outputClaimToHeaders: [{header: "x y", claim: sub}]}]', 'spec.jwtRules[0].outputClaimToHeaders[0].header', /not a valid header name/],
    ['jwtRules: [{issuer: i, jwksUri: "https://x/k", timeout: 5m}]', 'spec.jwtRules[0].timeout', /longer than meshlet's maximum/],
    ['jwtRules: [{issuer: i, jwksUri: "https://x/k", fromParams: [""]}]', 'spec.jwtRules[0].fromParams[0]', /non-empty string/],
  ];
  for (const [spec, path, reason] of cases) assert.match(expectError(RA('bad', spec), path, 'RequestAuthentication/bad', 0), reason, spec);
});

test('unknown fields and targetRef are warned about, never misread', () => {
  const w = warnings(compileYaml(RA('w', `
targetRef: {kind: Gateway, group: gateway.networking.k8s.io, name: gw}
jwtRules: [{issuer: i, jwksUri: "https://x/k", jwksCache: 1}]
`))).map(formatIssue).join('\n');
  assert.match(w, /spec\.targetRef: targetRef attaches the policy to a gateway/);
  assert.match(w, /spec\.jwtRules\[0\]\.jwksCache: unknown field, ignored/);
  assert.equal(snap(RA('w', 'targetRef: {kind: Gateway, name: gw}\njwtRules: [{issuer: i, jwksUri: "https://x/k"}]')).jwtRules, undefined, 'a targetRef policy does not apply to the sidecar');
});
