// SPIFFE ID parsing (the spec's rules), SAN string parsing, and lifetime parsing for --ttl.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatTtl, parseTtlMs } from '../../../src/tls/ca/ttl.js';
import { parseSpiffeId, parseSpiffeIdIn, sanEntries, SpiffeIdError } from '../../../src/tls/identity/spiffe.js';

test('a workload SPIFFE ID parses into trust domain, path and the Istio namespace/service account', () => {
  const id = parseSpiffeId('spiffe://cluster.local/ns/default/sa/web');
  assert.deepEqual(id, { uri: 'spiffe://cluster.local/ns/default/sa/web', trustDomain: 'cluster.local', path: '/ns/default/sa/web', namespace: 'default', serviceAccount: 'web' });
  const other = parseSpiffeId('spiffe://prod.example_1-a/payments/api.v2');
  assert.equal(other.path, '/payments/api.v2');
  assert.equal(other.namespace, undefined);
});

test('invalid SPIFFE IDs are refused with the rule they break', () => {
  const cases: [string, RegExp][] = [
    ['https://cluster.local/ns/a/sa/b', /expected spiffe:\/\//],
    ['spiffe:///ns/a', /empty trust domain/],
    ['spiffe://Cluster.local/ns/a', /trust domain/],
    ['spiffe://cluster.local:8443/ns/a', /trust domain/],
    ['spiffe://user@cluster.local/ns/a', /trust domain/],
    ['spiffe://cluster.local', /needs a path/],
    ['spiffe://cluster.local/', /empty path segment/],
    ['spiffe://cluster.local/ns//sa/b', /empty path segment/],
    ['spiffe://cluster.local/ns/a/', /empty path segment/],
    ['spiffe://cluster.local/ns/../sa/b', /"\." and "\.\."/],
    ['spiffe://cluster.local/ns/a?x=1', /outside \[A-Za-z0-9\._-\]/],
    ['spiffe://cluster.local/ns/a%20b', /outside/],
    ['spiffe://cluster.local/ns/a#frag', /outside/],
    [`spiffe://cluster.local/${'a'.repeat(2048)}`, /longer than 2048/],
  ];
  for (const [value, why] of cases) {
    assert.throws(() => parseSpiffeId(value), (err: unknown) => err instanceof SpiffeIdError && why.test(err.message), value);
  }
});

test('parseSpiffeIdIn checks the trust domain', () => {
  assert.equal(parseSpiffeIdIn('spiffe://cluster.local/ns/a/sa/b', 'cluster.local').uri, 'spiffe://cluster.local/ns/a/sa/b');
  assert.throws(() => parseSpiffeIdIn('spiffe://evil.local/ns/a/sa/b', 'cluster.local'), /outside trust domain "cluster.local"/);
});

test('SAN strings as node prints them, including quoted values', () => {
  assert.deepEqual(sanEntries(undefined), []);
  assert.deepEqual(sanEntries('URI:spiffe://td/ns/a/sa/b, DNS:localhost, IP Address:127.0.0.1'), ['URI:spiffe://td/ns/a/sa/b', 'DNS:localhost', 'IP Address:127.0.0.1']);
  assert.deepEqual(sanEntries('DNS:a, URI:"spiffe://td/x,y"'), ['DNS:a', 'URI:spiffe://td/x,y']);
});

test('lifetimes: 30s, 10m, 24h, 7d; anything else is refused with the flag named', () => {
  assert.equal(parseTtlMs('30s'), 30_000);
  assert.equal(parseTtlMs('10m'), 600_000);
  assert.equal(parseTtlMs('24h'), 86_400_000);
  assert.equal(parseTtlMs(' 7d '), 7 * 86_400_000);
  for (const bad of ['', '0s', '10', '1.5h', '-1h', '5x', 'h', '1h30m', '10ms']) {
    assert.throws(() => parseTtlMs(bad, '--ttl'), /--ttl: expected a lifetime like 30s/, bad);
  }
  assert.equal(formatTtl(86_400_000), '1d');
  assert.equal(formatTtl(90 * 60_000), '90m');
  assert.equal(formatTtl(4000), '4s');
});
