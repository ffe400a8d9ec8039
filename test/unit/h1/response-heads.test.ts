// Response heads parsed one after another on one connection's parser: each gets a field list of its
// own (the parser reuses its strings where a field repeats the previous head's, never its lists).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ResponseParser, S_DONE, type ResponseSink } from '../../../src/upstream/h1/response-parser.js';

class Sink implements ResponseSink {
  heads: string[][] = [];
  onResponseHead(_status: number, headers: string[]): boolean { this.heads.push(headers); return true; }
  onResponseBody(): boolean { return true; }
}

function response(p: ResponseParser, text: string): void {
  p.reset(false);
  const buf = Buffer.from(text, 'latin1');
  assert.equal(p.feed(buf), buf.length);
  assert.equal(p.state, S_DONE);
}

test('successive heads on one parser: equal fields, changed values, other names, fewer fields, a 1xx between', () => {
  const sink = new Sink();
  const p = new ResponseParser(sink);
  response(p, 'HTTP/1.1 200 OK\r\nServer: s\r\nDate: Thu, 03 Dec 2026 20:00:00 GMT\r\nX-A: 1\r\nContent-Length: 0\r\n\r\n');
  response(p, 'HTTP/1.1 200 OK\r\nServer: s\r\nDate: Thu, 03 Dec 2026 20:00:01 GMT\r\nX-B: 1\r\nContent-Length: 0\r\n\r\n');
  response(p, 'HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\nHTTP/1.1 204 No Content\r\nServer: s\r\n\r\n');
  const [a, b, c] = sink.heads as [string[], string[], string[]];
  assert.deepEqual(a, ['Server', 's', 'Date', 'Thu, 03 Dec 2026 20:00:00 GMT', 'X-A', '1', 'Content-Length', '0']);
  assert.deepEqual(b, ['Server', 's', 'Date', 'Thu, 03 Dec 2026 20:00:01 GMT', 'X-B', '1', 'Content-Length', '0']);
  assert.deepEqual(c, ['Server', 's']);
  // the receiver edits its own list (response header operations): the next head is not touched
  c.push('x-added', 'v');
  a[1] = 'edited';
  response(p, 'HTTP/1.1 200 OK\r\nServer: s\r\nContent-Length: 0\r\n\r\n');
  assert.deepEqual(sink.heads[3], ['Server', 's', 'Content-Length', '0']);
  assert.deepEqual(a, ['Server', 'edited', 'Date', 'Thu, 03 Dec 2026 20:00:00 GMT', 'X-A', '1', 'Content-Length', '0']);
});
