// Response heads parsed one after another on one connection's parser: each gets a field list of its
// own (the parser reuses its strings where a field repeats the previous head's, never its lists).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ResponseParser, S_DONE, type ResponseSink } from '../../../src/upstream/h1/response-parser.js';

class Sink implements ResponseSink {
  heads: string[][] = [];
  body = '';
  onResponseHead(_status: number, headers: string[]): boolean { this.heads.push(headers); return true; }
  onResponseBody(chunk: Buffer): boolean { this.body += chunk.toString('latin1'); return true; }
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

/** Feeds `text` in pieces cut at `splits`; returns the body bytes delivered. */
function feedIn(p: ResponseParser, sink: Sink, text: string, splits: number[] = [], headRequest = false): string {
  p.reset(headRequest);
  sink.body = '';
  const buf = Buffer.from(text, 'latin1');
  let from = 0;
  for (const at of [...splits, buf.length]) {
    assert.notEqual(p.feed(buf.subarray(from, at)), -1, p.error);
    from = at;
  }
  assert.equal(p.state, S_DONE, text);
  return sink.body;
}

test('the same head again (taken as parsed from its bytes): same status, fields and framing; any other byte is parsed', () => {
  const sink = new Sink();
  const p = new ResponseParser(sink);
  const head = 'HTTP/1.1 200 OK\r\nServer: s\r\nContent-Length: 5\r\n\r\n';
  assert.equal(feedIn(p, sink, `${head}hello`), 'hello');
  assert.equal(feedIn(p, sink, `${head}world`), 'world');
  assert.equal(p.status, 200);
  assert.equal(p.keepAlive, true);
  // a HEAD request's response with the same head has no body
  assert.equal(feedIn(p, sink, head, [], true), '');
  // one byte differs (the length): parsed, not taken from the last head
  assert.equal(feedIn(p, sink, 'HTTP/1.1 200 OK\r\nServer: s\r\nContent-Length: 6\r\n\r\nhello!'), 'hello!');
  // the same head split across reads, then whole again after the split one
  assert.equal(feedIn(p, sink, `${head}hello`, [20]), 'hello');
  assert.equal(feedIn(p, sink, `${head}again`), 'again');
  // a 1xx before the same final head
  assert.equal(feedIn(p, sink, `HTTP/1.1 100 Continue\r\n\r\n${head}after`), 'after');
  // another status and framing: parsed
  assert.equal(feedIn(p, sink, 'HTTP/1.1 404 OK\r\nServer: s\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'), '');
  assert.equal(p.status, 404);
  assert.equal(p.keepAlive, false);
  assert.equal(feedIn(p, sink, `${head}last.`), 'last.');
  assert.equal(p.status, 200);
  assert.equal(p.keepAlive, true);
  assert.equal(sink.heads.length, 9);
  for (const i of [0, 1, 2, 4, 5, 6, 8]) assert.deepEqual(sink.heads[i], ['Server', 's', 'Content-Length', '5'], `head ${i}`);
  assert.deepEqual(sink.heads[3], ['Server', 's', 'Content-Length', '6']);
  assert.deepEqual(sink.heads[7], ['Server', 's', 'Connection', 'close', 'Content-Length', '0']);
  // a head too long to be kept, parsed in between: the one before it is parsed again, never taken from stale fields
  const big = `HTTP/1.1 200 OK\r\nX-Big: ${'b'.repeat(5000)}\r\nContent-Length: 0\r\n\r\n`;
  assert.equal(feedIn(p, sink, big), '');
  assert.equal(feedIn(p, sink, `${head}small`), 'small');
  assert.deepEqual(sink.heads[10], ['Server', 's', 'Content-Length', '5']);
  // each head got its own list
  (sink.heads[0] as string[]).push('x', 'y');
  assert.deepEqual(sink.heads[1], ['Server', 's', 'Content-Length', '5']);
});

test('a head whose lines end in a later read than they started in is not kept for the same-head shortcut', () => {
  const head = 'HTTP/1.1 200 OK\r\nServer: s\r\nContent-Length: 5\r\n\r\n';
  // reads each in a buffer of their own: the status line alone, then the rest
  const sink = new Sink();
  const p = new ResponseParser(sink);
  assert.equal(feedIn(p, sink, `${head}hello`), 'hello');
  assert.equal(feedIn(p, sink, `${head}split`, [17]), 'split');
  assert.equal(feedIn(p, sink, `${head}whole`), 'whole');
  assert.deepEqual(sink.heads[2], ['Server', 's', 'Content-Length', '5']);
  // reads into one reused buffer (as the codec's connections do): a response that starts with
  // the header lines the last one ended with has no status line
  const q = new ResponseParser(new Sink());
  const readBuffer = Buffer.alloc(256);
  const read = (text: string): number => q.feed(readBuffer, 0, readBuffer.write(text, 0, 'latin1'));
  q.reset(false);
  assert.equal(read('HTTP/1.1 204 No Content\r\n'), 25);
  assert.equal(read('Server: s\r\n\r\n'), 13);
  assert.equal(q.state, S_DONE);
  q.reset(false);
  assert.equal(read('Server: s\r\n\r\n'), -1);
  assert.match(q.error, /invalid status line/);
});

test('a filtering parser (the codec\'s) hands out heads as filterResponseHeaders makes them, the same head again without filtering again', () => {
  const sink = new Sink();
  const p = new ResponseParser(sink, true);
  const head = 'HTTP/1.1 200 OK\r\nServer: S\r\nDate: Thu, 03 Dec 2026 20:00:00 GMT\r\nConnection: keep-alive, X-Private\r\n'
    + 'X-Private: p\r\nContent-Length: 5\r\nX-A: 1\r\n\r\n';
  const expected = ['server', 'S', 'x-a', '1'];
  for (const body of ['hello', 'again', 'third']) {
    assert.equal(feedIn(p, sink, `${head}${body}`), body);
    assert.deepEqual(sink.heads[sink.heads.length - 1], expected);
    assert.equal(p.filteredLength, 5);
  }
  // each receiver's own list: an edit (response header operations) reaches neither the next nor the kept one
  (sink.heads[1] as string[]).push('x-added', 'v');
  (sink.heads[2] as string[])[1] = 'edited';
  assert.equal(feedIn(p, sink, `${head}fourt`), 'fourt');
  assert.deepEqual(sink.heads[3], expected);
  // another head (chunked, no Content-Length; a 1xx before it): filtered afresh, its own length
  assert.equal(feedIn(p, sink, 'HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x\r\nETag: "e"\r\n\r\n2\r\nok\r\n0\r\n\r\n'), 'ok');
  assert.deepEqual(sink.heads[4], ['etag', '"e"']);
  assert.equal(p.filteredLength, -1);
  assert.equal(feedIn(p, sink, `${head}fifth`), 'fifth');
  assert.deepEqual(sink.heads[5], expected);
  assert.equal(p.filteredLength, 5);
  // a WebSocket upgrade's parser keeps the 101's fields as received (the tunnel reads Upgrade and Connection)
  p.reset(false, true);
  const up = Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n', 'latin1');
  assert.equal(p.feed(up), up.length);
  assert.deepEqual(sink.heads[6], ['Upgrade', 'websocket', 'Connection', 'Upgrade']);
  assert.equal(p.handedFiltered, false, 'a head handed out as received has no filtered length');
  assert.equal(feedIn(p, sink, `${head}sixth`), 'sixth');
  assert.equal(p.handedFiltered, true);
});

test('body slices at the same place of the same buffer are one view; any other place, length or buffer gets its own', () => {
  const seen: Buffer[] = [];
  const sink: ResponseSink = { onResponseHead: () => true, onResponseBody: (chunk) => { seen.push(chunk); return true; } };
  const p = new ResponseParser(sink, true);
  const readBuffer = Buffer.alloc(256);
  const read = (text: string): void => {
    p.reset(false);
    const n = readBuffer.write(text, 0, 'latin1');
    assert.equal(p.feed(readBuffer, 0, n), n);
  };
  const head = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n';
  read(`${head}hello`);
  const first = seen[0] as Buffer;
  assert.equal(first.toString(), 'hello');
  read(`${head}world`);
  assert.equal(seen[1], first, 'the same view object');
  assert.equal((seen[1] as Buffer).toString(), 'world');
  read('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello!');
  assert.notEqual(seen[2], first);
  assert.equal((seen[2] as Buffer).toString(), 'hello!');
  read(`HTTP/1.1 200 OK\r\nX: 1\r\nContent-Length: 5\r\n\r\nshift`);
  assert.equal((seen[3] as Buffer).toString(), 'shift');
  const other = Buffer.from(`${head}other`, 'latin1');
  p.reset(false);
  assert.equal(p.feed(other, 0, other.length), other.length);
  assert.equal((seen[4] as Buffer).toString(), 'other');
  assert.equal((seen[4] as Buffer).buffer, other.buffer);
});
