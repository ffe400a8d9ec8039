// The control thread's JWKS fetch against a real loopback server: a good key set, OpenID discovery
// (issuer → jwks_uri → keys), and every way an endpoint can misbehave — a status, garbage, a JWKS
// that is not one, a body past 1 MiB, no answer (bounded by the time-out), a body that stops
// halfway, a discovery document pointing at plain http off loopback: each a clear error, no keys.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { fetchJwks } from '../../../src/control/jwks-service.js';

const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const JWKS = JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'k1' }] });
let server: http.Server;
let base = '';

before(async () => {
  server = http.createServer((req, res) => {
    switch (req.url) {
      case '/keys': res.end(JWKS); return;
      case '/.well-known/openid-configuration': res.end(JSON.stringify({ issuer: base, jwks_uri: `${base}/keys` })); return;
      case '/bad-discovery/.well-known/openid-configuration': res.end(JSON.stringify({ jwks_uri: 'http://keys.example.com/jwks' })); return;
      case '/status': res.statusCode = 503; res.end('busy'); return;
      case '/garbage': res.end('<html>'); return;
      case '/not-jwks': res.end('{"kty": "EC"}'); return;
      case '/huge': res.end(`{"keys": [], "pad": "${'x'.repeat(1100 * 1024)}"}`); return;
      case '/hang': return;
      case '/trickle': res.writeHead(200, { 'content-length': '1000' }); res.write('{"keys": ['); return;
      default: res.statusCode = 404; res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

test('a key set, directly and through OpenID discovery', async () => {
  assert.equal(await fetchJwks(`${base}/keys`, 1000), JWKS);
  assert.equal(await fetchJwks(`discovery:${base}/`, 1000), JWKS);
});

test('misbehaving endpoints: each a clear error', async () => {
  const cases: [string, RegExp][] = [
    [`${base}/status`, /status 503/],
    [`${base}/garbage`, /not JSON/],
    [`${base}/not-jwks`, /not a JWK set/],
    [`${base}/huge`, /larger than 1048576 bytes/],
    [`${base}/nothing-here`, /status 404/],
    [`discovery:${base}/bad-discovery`, /no usable jwks_uri/],
    ['http://127.0.0.1:1/keys', /ECONNREFUSED/],
  ];
  for (const [uri, why] of cases) await assert.rejects(fetchJwks(uri, 1000), why, uri);
  for (const uri of [`${base}/hang`, `${base}/trickle`]) {
    const t0 = Date.now();
    await assert.rejects(fetchJwks(uri, 300), /no answer within 300 ms|timed out/, uri);
    assert.ok(Date.now() - t0 < 2000, `${uri}: bounded by the time-out`);
  }
});
