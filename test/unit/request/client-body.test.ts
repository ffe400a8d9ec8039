// ClientBody's backpressure towards the client connection: a pause must always be lifted, also
// when the body ends in the same read that paused it (a read carries every chunk that arrived,
// and a chunked body's end marker arrives in a call of its own). A stub stands in for the
// connection: only pauseBody() and resumeBody() are called on it, and what matters is whether
// reading is left paused.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { ClientBody } from '../../../src/request/client-body.js';

class StubResponse {
  paused = false;
  pauses = 0;
  pauseBody(): void { this.paused = true; this.pauses++; }
  resumeBody(): void { this.paused = false; }
}

function chunk(bytes: number): Buffer {
  return Buffer.alloc(bytes, 120);
}

test('a pause from the read that also ends the body is lifted: the connection reads its next request', async () => {
  const res = new StubResponse();
  const body = new ClientBody(res);
  // nobody consumes yet (the upstream socket is waiting for 'drain'): 64 KiB fills the buffer
  body.accept(chunk(64 * 1024), false);
  assert.equal(res.paused, true, 'a full buffer pauses the connection');
  body.accept(chunk(1000), false); // the same read's last data chunk
  body.accept(Buffer.alloc(0), true); // and the chunked body's end marker
  assert.equal(res.paused, false, 'the end of the body resumes the connection (an ended stream never calls _read again)');
  let got = 0;
  body.on('data', (d: Buffer) => { got += d.length; });
  await once(body, 'end');
  assert.equal(got, 64 * 1024 + 1000);
  assert.equal(res.paused, false);
});

test('backpressure still works: paused while the consumer lags, resumed when it reads', async () => {
  const res = new StubResponse();
  const body = new ClientBody(res);
  body.accept(chunk(80 * 1024), false);
  assert.equal(res.paused, true);
  body.accept(chunk(10), false);
  assert.equal(res.pauses, 1, 'paused once, not again while paused');
  body.resume(); // the consumer starts reading: _read resumes the connection
  await new Promise<void>((resolve) => setImmediate(resolve));
  assert.equal(res.paused, false);
  body.accept(chunk(10), true);
  await once(body, 'end');
  assert.equal(body.received, 80 * 1024 + 20);
});

test('after the response has ended, more body bytes never touch res', () => {
  const res = new StubResponse();
  const body = new ClientBody(res);
  body.live = false; // finish(): the response is over, reading is no longer ours to pause
  body.accept(chunk(128 * 1024), false);
  body.accept(Buffer.alloc(0), true);
  assert.equal(res.pauses, 0);
});
