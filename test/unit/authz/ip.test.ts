// IP parsing and CIDR containment: IPv4, IPv6 (compressed, embedded IPv4, zones), IPv4-mapped peers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cidrContains, compileCidr, parseIp } from '../../../src/filters/authz/ip.js';
import type { CidrSpec } from '../../../src/config/security-spec.js';

function words(s: string): number[] | null {
  const out = new Uint32Array(4);
  const f = parseIp(s, out);
  return f === 0 ? null : f === 4 ? [out[0]!] : [...out];
}

function cidr(text: string): CidrSpec {
  const c = compileCidr(text);
  assert.ok(typeof c !== 'string', String(c));
  return c;
}

function inside(block: string, ip: string): boolean {
  const out = new Uint32Array(4);
  return cidrContains(cidr(block), parseIp(ip, out), out);
}

test('parses IPv4 and IPv6 forms into 32-bit words', () => {
  assert.deepEqual(words('10.1.2.3'), [0x0a010203]);
  assert.deepEqual(words('255.255.255.255'), [0xffffffff]);
  assert.deepEqual(words('2001:db8::1'), [0x20010db8, 0, 0, 1]);
  assert.deepEqual(words('::'), [0, 0, 0, 0]);
  assert.deepEqual(words('::1'), [0, 0, 0, 1]);
  assert.deepEqual(words('fe80::1%eth0'), [0xfe800000, 0, 0, 1]);
  assert.deepEqual(words('::ffff:10.0.0.1'), [0, 0, 0xffff, 0x0a000001]);
  assert.deepEqual(words('1:2:3:4:5:6:7:8'), [0x10002, 0x30004, 0x50006, 0x70008]);
  assert.deepEqual(words('1::'), [0x10000, 0, 0, 0]);
  for (const bad of ['', '10.0.0', '10.0.0.256', '01.2.3.4', '1:2:3:4:5:6:7:8:9', '1::2::3', 'g::1', '12345::', 'a.b.c.d', '1:2:3:4:5:6:7']) {
    assert.equal(words(bad), null, bad);
  }
});

test('IPv4 CIDRs, single IPs and /0', () => {
  assert.ok(inside('10.0.0.0/8', '10.200.3.4'));
  assert.ok(!inside('10.0.0.0/8', '11.0.0.1'));
  assert.ok(inside('192.168.1.7', '192.168.1.7'));
  assert.ok(!inside('192.168.1.7', '192.168.1.8'));
  assert.ok(inside('0.0.0.0/0', '8.8.8.8'));
  assert.ok(inside('10.1.2.3/24', '10.1.2.200'), 'host bits in the block are masked off');
  assert.ok(!inside('10.0.0.0/8', '::1'));
});

test('IPv6 CIDRs, and IPv4-mapped peers against IPv4 blocks', () => {
  assert.ok(inside('2001:db8::/32', '2001:db8:ffff::1'));
  assert.ok(!inside('2001:db8::/32', '2001:db9::1'));
  assert.ok(inside('2001:db8:0:0:8000::/65', '2001:db8::8000:0:0:1'));
  assert.ok(!inside('2001:db8::/65', '2001:db8::8000:0:0:1'));
  assert.ok(inside('::1', '::1'));
  assert.ok(!inside('2001:db8::/32', '10.0.0.1'));
  assert.ok(inside('10.0.0.0/8', '::ffff:10.9.9.9'));
  assert.ok(!inside('10.0.0.0/8', '::ffff:11.9.9.9'));
});

test('bad blocks are refused with a reason', () => {
  assert.match(String(compileCidr('10.0.0.0/33')), /prefix length must be 0\.\.32/);
  assert.match(String(compileCidr('2001:db8::/129')), /0\.\.128/);
  assert.match(String(compileCidr('10.0.0/8')), /bad IP address/);
  assert.match(String(compileCidr('localhost')), /bad IP address/);
});
