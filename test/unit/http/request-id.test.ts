// Generated x-request-id values are RFC 4122 version 4 UUIDs and do not repeat.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newRequestId } from '../../../src/http/request-id.js';

const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('request ids: version 4 UUIDs, unique over 100,000 (across many pool refills)', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 100_000; i++) {
    const id = newRequestId();
    assert.match(id, V4);
    seen.add(id);
  }
  assert.equal(seen.size, 100_000);
});

test('request ids: every hex digit appears in every free position (the bytes are random, not a counter)', () => {
  const positions: Set<string>[] = Array.from({ length: 36 }, () => new Set());
  for (let i = 0; i < 5000; i++) {
    const id = newRequestId();
    for (let j = 0; j < 36; j++) positions[j]?.add(id[j] as string);
  }
  for (const j of [0, 7, 9, 15, 20, 35]) assert.equal(positions[j]?.size, 16, `position ${j}`);
  assert.deepEqual([...(positions[14] as Set<string>)], ['4']);
  assert.deepEqual([...(positions[19] as Set<string>)].sort(), ['8', '9', 'a', 'b']);
});
