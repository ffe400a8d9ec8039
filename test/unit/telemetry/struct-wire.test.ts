// The hand-written google.protobuf.Struct codec against protobufjs (the reference encoder it
// replaced in the threads): the same bytes out, and protobufjs's bytes read back, with every
// other Value kind and unknown fields skipped.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import protobuf from 'protobufjs';
import { decodeStruct, encodeStruct } from '../../../src/telemetry/struct-wire.js';

const Struct = protobuf.Root.fromJSON(protobuf.common.get('google/protobuf/struct.proto') as protobuf.INamespace).lookupType('google.protobuf.Struct');

test('encodeStruct writes what protobufjs writes (UTF-8 keys and values, nested structs, long values)', () => {
  const long = 'x'.repeat(300); // a two-byte length
  const ours = encodeStruct([['LABELS', [['app', 'ré'], ['v', long]]], ['NAME', 'n'], ['ü', '']]);
  const theirs = Struct.encode(Struct.fromObject({
    fields: { LABELS: { structValue: { fields: { app: { stringValue: 'ré' }, v: { stringValue: long } } } }, NAME: { stringValue: 'n' }, ü: { stringValue: '' } },
  })).finish();
  assert.deepEqual(ours, Buffer.from(theirs));
});

test('decodeStruct reads protobufjs\'s bytes; numbers, bools, nulls and lists are left out; garbage is null', () => {
  const bytes = Struct.encode(Struct.fromObject({
    fields: {
      a: { stringValue: 'A' }, n: { numberValue: 1.5 }, b: { boolValue: true }, z: { nullValue: 0 },
      l: { listValue: { values: [{ stringValue: 'x' }] } },
      s: { structValue: { fields: { inner: { stringValue: 'I' }, deeper: { structValue: { fields: { k: { stringValue: 'K' } } } } } } },
    },
  })).finish();
  const got = decodeStruct(Buffer.from(bytes));
  assert.deepEqual(JSON.parse(JSON.stringify(got)), { a: 'A', s: { inner: 'I', deeper: { k: 'K' } } });
  assert.equal(decodeStruct(Buffer.from([0x0a, 0x05, 0x0a])), null, 'length past the end');
  assert.equal(decodeStruct(Buffer.from([0x0a, 0x02, 0x0b, 0x00])), null, 'group wire type');
  assert.equal(decodeStruct(Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])), null, 'varint too long');
  // a key that arrives twice: the last wins; a string then a number for one Value (oneof): the last wins
  assert.deepEqual(JSON.parse(JSON.stringify(decodeStruct(Buffer.concat([encodeStruct([['k', '1']]), encodeStruct([['k', '2']])])))), { k: '2' });
  // entry {key 'k', value {string_value 's', number_value 1.0}}: a number last, so no string
  const value = [0x1a, 0x01, 0x73, 0x11, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f];
  const entry = [0x0a, 0x01, 0x6b, 0x12, value.length, ...value];
  assert.deepEqual(JSON.parse(JSON.stringify(decodeStruct(Buffer.from([0x0a, entry.length, ...entry])))), {});
});
