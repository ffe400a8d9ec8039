// The peer table: what the front writes, a worker reads back through the PROXY v2 address only
// while that connection's slot use lasts; forged, stale and foreign addresses name nobody.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PeerLookup } from '../../../src/tls/peer-lookup.js';
import { PeerSlots, PRINCIPAL_MAX, createPeerTable } from '../../../src/tls/peer-table.js';
import { PROXY_V2_LENGTH, proxyV2Header } from '../../../src/tls/inbound/proxy-v2.js';

const HASH = Buffer.alloc(32, 0xab);

function addressOf(slots: PeerSlots, slot: number): Uint8Array {
  const b = Buffer.alloc(16);
  slots.address(slot, b, 0);
  return new Uint8Array(b);
}

test('an mTLS peer reads back with its principal, client IP and x-forwarded-client-cert', () => {
  const sab = createPeerTable(4);
  const slots = new PeerSlots(sab);
  const lookup = new PeerLookup(sab);
  lookup.setOwnId('spiffe://cluster.local/ns/b/sa/b');
  const slot = slots.alloc('10.1.2.3', 'spiffe://cluster.local/ns/a/sa/a', HASH);
  const peer = lookup.resolve(addressOf(slots, slot));
  assert.deepEqual(peer, {
    principal: 'spiffe://cluster.local/ns/a/sa/a',
    clientIp: '10.1.2.3',
    xfcc: `By=spiffe://cluster.local/ns/b/sa/b;Hash=${'ab'.repeat(32)};URI=spiffe://cluster.local/ns/a/sa/a`,
  });
  assert.equal(lookup.resolve(addressOf(slots, slot)), peer, 'the second request of a connection hits the cache');
});

test('a plaintext peer (PERMISSIVE) has no principal and no x-forwarded-client-cert', () => {
  const sab = createPeerTable(2);
  const slots = new PeerSlots(sab);
  const peer = new PeerLookup(sab).resolve(addressOf(slots, slots.alloc('::1', '', null)));
  assert.deepEqual(peer, { principal: '', clientIp: '::1', xfcc: '' });
});

test('a released slot, a reused slot and a forged token name nobody', () => {
  const sab = createPeerTable(1);
  const slots = new PeerSlots(sab);
  const lookup = new PeerLookup(sab);
  const first = slots.alloc('10.0.0.1', 'spiffe://td/a', HASH);
  const oldAddress = addressOf(slots, first);
  slots.release(first);
  assert.equal(lookup.resolve(oldAddress), null, 'released');
  const again = slots.alloc('10.0.0.2', 'spiffe://td/b', HASH);
  assert.equal(again, first);
  assert.equal(lookup.resolve(oldAddress), null, 'reused by another connection');
  const forged = Buffer.from(addressOf(slots, again));
  forged[15] = (forged[15] as number) ^ 1;
  assert.equal(lookup.resolve(new Uint8Array(forged)), null, 'forged token');
  assert.equal(lookup.resolve(new Uint8Array([10, 1, 2, 3])), null, 'IPv4 address');
  assert.equal(lookup.resolve(null), null, 'no PROXY header');
  assert.equal(lookup.resolve(new Uint8Array(Buffer.from('20010db8000000000000000000000001', 'hex'))), null, 'another IPv6 prefix');
  assert.equal(lookup.resolve(addressOf(slots, again))?.principal, 'spiffe://td/b');
});

test('a full table refuses (-1) until a slot is released; a new front resets every slot', () => {
  const sab = createPeerTable(2);
  const slots = new PeerSlots(sab);
  const a = slots.alloc('1.1.1.1', 'x', null);
  const b = slots.alloc('1.1.1.2', 'y', null);
  assert.equal(slots.alloc('1.1.1.3', 'z', null), -1);
  const addrB = addressOf(slots, b);
  slots.release(a);
  assert.notEqual(slots.alloc('1.1.1.3', 'z', null), -1);
  new PeerSlots(sab); // a respawned front
  assert.equal(new PeerLookup(sab).resolve(addrB), null);
});

test('principals longer than the slot are cut at PRINCIPAL_MAX bytes; a change of own id refreshes By=', () => {
  const sab = createPeerTable(1);
  const slots = new PeerSlots(sab);
  const lookup = new PeerLookup(sab);
  lookup.setOwnId('spiffe://td/old');
  const addr = addressOf(slots, slots.alloc('1.1.1.1', `spiffe://td/${'x'.repeat(PRINCIPAL_MAX)}`, HASH));
  assert.equal(lookup.resolve(addr)?.principal.length, PRINCIPAL_MAX);
  lookup.setOwnId('spiffe://td/new');
  assert.match(lookup.resolve(addr)?.xfcc ?? '', /^By=spiffe:\/\/td\/new;/);
});

test('the PROXY v2 header: signature, TCP over IPv6, the slot address as source', () => {
  const sab = createPeerTable(300);
  const slots = new PeerSlots(sab);
  let slot = -1;
  for (let i = 0; i < 260; i++) slot = slots.alloc('1.1.1.1', '', null);
  const h = proxyV2Header(slots, slot);
  assert.equal(h.length, PROXY_V2_LENGTH);
  assert.equal(h.subarray(0, 12).toString('hex'), '0d0a0d0a000d0a515549540a');
  assert.deepEqual([...h.subarray(12, 16)], [0x21, 0x21, 0, 36]);
  assert.equal(h.readUInt16BE(18), slot);
  assert.equal(new PeerLookup(sab).resolve(new Uint8Array(h.subarray(16, 32)))?.clientIp, '1.1.1.1');
});
