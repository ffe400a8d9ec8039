// Chunked trailers in upstream HTTP/1.1 responses: parsed into fields (for an HTTP/2 client or an
// HTTP/1.1 chunked client downstream), whatever the read boundaries; malformed lines refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ResponseParser, S_DONE, type ResponseSink } from '../../../src/upstream/h1/response-parser.js';

class Sink implements ResponseSink {
  trailers: string[] | null = null;
  body = '';
  onResponseHead(): boolean { return true; }
  onResponseBody(chunk: Buffer): boolean { this.body += chunk.toString('latin1'); return true; }
  onResponseTrailers(t: string[]): void { this.trailers = t; }
}

const RESPONSE = Buffer.from('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: grpc-status\r\n\r\n'
  + '5\r\nhello\r\n0\r\ngrpc-status: 0\r\nGrpc-Message:  all%20good \r\nx-bin-bin: AAEC\r\n\r\n', 'latin1');

test('trailers arrive as fields before the end, at every split point', () => {
  for (let split = 1; split < RESPONSE.length; split++) {
    const sink = new Sink();
    const p = new ResponseParser(sink);
    p.reset(false);
    assert.equal(p.feed(RESPONSE.subarray(0, split)), split);
    assert.equal(p.feed(RESPONSE.subarray(split)), RESPONSE.length - split, `split ${split}`);
    assert.equal(p.state, S_DONE);
    assert.equal(sink.body, 'hello');
    assert.deepEqual(sink.trailers, ['grpc-status', '0', 'Grpc-Message', 'all%20good', 'x-bin-bin', 'AAEC'], `split ${split}`);
  }
});

test('no trailers: no callback; a trailer line without a colon or with a bad name is refused', () => {
  const none = new Sink();
  const p = new ResponseParser(none);
  p.reset(false);
  p.feed(Buffer.from('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n'));
  assert.equal(p.state, S_DONE);
  assert.equal(none.trailers, null);
  for (const bad of ['x-no-colon\r\n\r\n', 'bad name: v\r\n\r\n']) {
    const q = new ResponseParser(new Sink());
    q.reset(false);
    assert.equal(q.feed(Buffer.from(`HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n${bad}`)), -1, bad);
    assert.match(q.error, /invalid trailer line/);
  }
});
