// The request body decoder: Content-Length countdown and strict chunked framing, fed whole and at
// every split point (a body arrives in arbitrary reads).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BodyDecoder } from '../../../src/downstream/h1/body-decoder.js';

/** Feeds `input` split at `splits`; returns the body, the bytes consumed, or the error. */
function decode(input: string, length: number, splits: number[] = []): { body: string; used: number; done: boolean; error: string } {
  const d = new BodyDecoder();
  d.reset(length);
  const buf = Buffer.from(input, 'latin1');
  let body = '';
  const target = { bodyBytes(b: Buffer, s: number, e: number) { body += b.toString('latin1', s, e); } };
  let used = 0;
  const cuts = [...splits, buf.length];
  let from = 0;
  for (const cut of cuts) {
    while (from < cut && !d.done) {
      const n = d.feed(buf, from, cut, target);
      if (n < 0) return { body, used, done: false, error: d.error };
      used += n;
      from += n;
      if (n === 0) break;
    }
    if (d.done) break;
  }
  return { body, used, done: d.done, error: '' };
}

test('Content-Length: stops at the length, leaving what follows (the next pipelined request)', () => {
  const r = decode('helloGET /', 5);
  assert.deepEqual(r, { body: 'hello', used: 5, done: true, error: '' });
});

test('chunked: sizes in hex, extensions skipped, trailers dropped, stops after the final CRLF', () => {
  const input = '5\r\nhello\r\nA;ext=1\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\nGET /';
  for (let split = 0; split <= input.length - 5; split++) {
    const r = decode(input, -1, [split]);
    assert.equal(r.error, '', `split ${split}`);
    assert.equal(r.body, 'hello0123456789', `split ${split}`);
    assert.equal(r.used, input.length - 5, `split ${split}`);
    assert.equal(r.done, true);
  }
});

test('chunked framing errors: bare LF anywhere, bad sizes, missing CRLF after data', () => {
  for (const bad of [
    '5\nhello\r\n0\r\n\r\n',
    '5\r\nhello\n0\r\n\r\n',
    '5\r\nhello\r\n0\n\r\n',
    '5\r\nhello\r\n0\r\n\n',
    '5\r\nhello\r\n0\r\nX: t\n\r\n',
    'z\r\n',
    '\r\n',
    '5\r\nhelloXX0\r\n\r\n',
    '1234567890abcdef0\r\n',
    '-5\r\nhello\r\n',
    '5;a\nb\r\n',
  ]) {
    const r = decode(bad, -1);
    assert.notEqual(r.error, '', `${JSON.stringify(bad)} was accepted`);
  }
});

test('a large chunk across many reads arrives whole', () => {
  const data = 'x'.repeat(100_000);
  const input = `${(100_000).toString(16)}\r\n${data}\r\n0\r\n\r\n`;
  const splits = Array.from({ length: 50 }, (_, i) => (i + 1) * 2011);
  const r = decode(input, -1, splits);
  assert.equal(r.error, '');
  assert.equal(r.body.length, 100_000);
  assert.equal(r.done, true);
});
