// The control-socket frame decoder: frames split anywhere across reads (the 4-byte length too),
// several in one read, the length checked and admitted before any body byte is kept, and only
// msgpack maps handed out.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeFrame, FrameDecoder, FrameError } from '../../../src/control/frame.js';

test('frames split at every byte boundary, and several in one read, decode with their sizes', () => {
  const a = encodeFrame({ id: 1, op: 'ping' });
  const b = encodeFrame({ id: 2, op: 'apply', yaml: 'x'.repeat(300) });
  const wire = Buffer.concat([a, b]);
  for (let cut = 1; cut < wire.length; cut++) {
    const d = new FrameDecoder();
    const frames = [...d.pushFrames(wire.subarray(0, cut)), ...d.pushFrames(wire.subarray(cut))];
    assert.deepEqual(frames.map((f) => f.message.id), [1, 2], `cut at ${cut}`);
    assert.deepEqual(frames.map((f) => f.bytes), [a.length, b.length]);
    assert.equal(d.pending, 0);
  }
  const oneByOne = new FrameDecoder();
  const got: unknown[] = [];
  for (const byte of wire) got.push(...oneByOne.push(Buffer.from([byte])));
  assert.equal(got.length, 2);
});

test('a length over the limit, or one the owner does not admit, is refused before its body arrives', () => {
  const d = new FrameDecoder(1000);
  assert.throws(() => d.push(Buffer.from([0, 0, 0x03, 0xe9])), new FrameError('frame of 1001 bytes exceeds the 1000-byte limit'));
  const asked: number[] = [];
  const busy = new FrameDecoder(1000, (bytes) => { asked.push(bytes); return 'busy'; });
  assert.throws(() => busy.push(Buffer.from([0, 0, 0, 10])), new FrameError('busy'));
  assert.deepEqual(asked, [14]);
  const ok = new FrameDecoder(1000, (bytes) => { asked.push(bytes); return null; });
  ok.push(Buffer.from([0, 0, 0, 10, 1]));
  assert.equal(ok.admitted, 14, 'admitted once, when the length is read');
  assert.deepEqual(asked, [14, 14]);
});

test('only msgpack maps are handed out', () => {
  const frame = (body: Buffer): Buffer => Buffer.concat([Buffer.from([0, 0, 0, body.length]), body]);
  assert.throws(() => new FrameDecoder().push(frame(Buffer.from([0x81]))), /not valid msgpack/);
  assert.throws(() => new FrameDecoder().push(frame(Buffer.from([0x91, 0x01]))), /must hold a msgpack map/);
});
