// The request head parser against RFC 9112's rules: what is accepted, what each refusal answers
// (status), and what a proxy forwards (method, path, query, headers, framing).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CHUNKED_BODY, LENGTH_BODY, MAX_HEADERS, NO_BODY, parseRequestHead, RequestHead,
} from '../../../src/downstream/h1/request-head.js';
import { flagNames } from '../../../src/stats/flags.js';

function parse(text: string): RequestHead {
  const head = new RequestHead();
  const err = parseRequestHead(text, head);
  assert.equal(err, null, `${JSON.stringify(text)}: ${err?.message}`);
  return head;
}

function refused(text: string): number {
  const head = new RequestHead();
  const err = parseRequestHead(text, head);
  assert.notEqual(err, null, `${JSON.stringify(text)} was accepted`);
  assert.equal(flagNames(err?.flag ?? 0), 'DPE');
  return err?.status ?? 0;
}

test('an ordinary GET: method, path, query, lowercased names, trimmed values', () => {
  const h = parse('GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: svc:8080\r\nUser-Agent: t\r\nX-Custom-Name:  padded value \t\r\naccept: */*');
  assert.equal(h.method, 'GET');
  assert.equal(h.path, '/a/b');
  assert.equal(h.query, 'x=1&y=2');
  assert.equal(h.version, 11);
  assert.equal(h.authority, 'svc:8080');
  assert.deepEqual(h.headers, ['host', 'svc:8080', 'user-agent', 't', 'x-custom-name', 'padded value', 'accept', '*/*']);
  assert.equal(h.bodyKind, NO_BODY);
  assert.equal(h.keepAlive, true);
});

test('framing: Content-Length, chunked, empty body, repeated identical lengths', () => {
  assert.equal(parse('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5').bodyKind, LENGTH_BODY);
  assert.equal(parse('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5').contentLength, 5);
  assert.equal(parse('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0').bodyKind, NO_BODY);
  assert.equal(parse('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked').bodyKind, CHUNKED_BODY);
  assert.equal(parse('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\nContent-Length: 7').contentLength, 7);
});

test('request smuggling vectors are refused (400, or 501 for a coding meshlet cannot forward)', () => {
  assert.equal(refused('POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 37'), 400);
  assert.equal(refused('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked'), 400);
  assert.equal(refused('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3'), 400);
  assert.equal(refused('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x'), 400);
  assert.equal(refused('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1'), 400);
  assert.equal(refused('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1'), 400);
  assert.equal(refused('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1234567890123456'), 400);
  assert.equal(refused('POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 3'), 400, 'whitespace before the colon');
  assert.equal(refused('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked'), 501);
  assert.equal(refused('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked'), 501);
  assert.equal(refused('POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked'), 400);
});

test('malformed heads: obs-fold, bare LF, bare CR, NUL, controls, bad names → 400', () => {
  for (const bad of [
    'GET / HTTP/1.1\r\nHost: a\r\nX-A: a\r\n b',
    'GET / HTTP/1.1\r\nHost: a\r\n X-A: b',
    'GET / HTTP/1.1\nHost: a',
    'GET / HTTP/1.1\r\nHost: a\nX-A: b',
    'GET / HTTP/1.1\r\nHost: a\rX-A: b',
    'GET / HTTP/1.1\r\nHost: a\r\nX-A: a\0b',
    'GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x01b',
    'GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x7fb',
    'GET / HTTP/1.1\r\nHost: a\r\nX A: b',
    'GET / HTTP/1.1\r\nHost: a\r\n: b',
    'GET / HTTP/1.1\r\nHost: a\r\nX-A b',
    'GET / HTTP/1.1\r\nHost: a\r\nX(A): b',
    'GET / HTTP/1.1\r\nHost: a\r\nX-\xe9: b',
    'GET  / HTTP/1.1\r\nHost: a',
    'GET / HTTP/1.1 \r\nHost: a',
    'GET /a b HTTP/1.1\r\nHost: a',
    'GET / http/1.1\r\nHost: a',
    'GET /\r\nHost: a',
    'G(T / HTTP/1.1\r\nHost: a',
    'GARBAGE',
    'GET a HTTP/1.1\r\nHost: a',
    // controls in each part of the request line, and around a value
    'G\x01T / HTTP/1.1\r\nHost: a',
    'GET\t/ HTTP/1.1\r\nHost: a',
    'GET /\x01 HTTP/1.1\r\nHost: a',
    'GET /a\rb HTTP/1.1\r\nHost: a',
    'GET / HTTP/1.1\x01\r\nHost: a',
    'GET / HTTP/1.1\r\nHost: a\r\nX-A:\x0bb',
    'GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x0c',
    'GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r',
    'GET / HTTP/1.1\r\nHost: a\x00',
  ]) assert.equal(refused(bad), 400, JSON.stringify(bad));
});

test('a value equal to the previous head\'s at the same place is taken as checked; one control char apart is refused', () => {
  const long = 'm'.repeat(300);
  const ok = `GET / HTTP/1.1\r\nHost: a\r\nX-Peer-Metadata: ${long}\r\nX-B: b`;
  assert.equal(parse(ok).headers[3], long);
  assert.equal(parse(ok).headers[3], long, 'again (the reused value)');
  for (const c of ['\x00', '\x01', '\n', '\r', '\x7f']) {
    const bad = `GET / HTTP/1.1\r\nHost: a\r\nX-Peer-Metadata: ${long.slice(0, 150)}${c}${long.slice(151)}\r\nX-B: b`;
    assert.equal(refused(bad), 400, JSON.stringify(c));
    assert.equal(parse(ok).headers[3], long, 'a refused head leaves nothing unchecked behind');
  }
  // a refused value is never remembered as checked: the same head again is refused again
  const badOnce = 'GET / HTTP/1.1\r\nHost: a\r\nX-A: x\x01y';
  assert.equal(refused(badOnce), 400);
  assert.equal(refused(badOnce), 400);
});

test('Host: required on HTTP/1.1, exactly once (two Host headers are refused)', () => {
  assert.equal(refused('GET / HTTP/1.1\r\nX-A: b'), 400);
  assert.equal(refused('GET / HTTP/1.1\r\nHost: a\r\nHost: b'), 400);
  assert.equal(refused('GET / HTTP/1.1\r\nHost: a\r\nHOST: a'), 400);
  assert.equal(parse('GET / HTTP/1.0').authority, '', 'HTTP/1.0 may omit Host');
});

test('versions: 1.0 parsed (closing unless keep-alive), 2.0 and others 505', () => {
  const h10 = parse('GET / HTTP/1.0\r\nHost: a');
  assert.equal(h10.version, 10);
  assert.equal(h10.keepAlive, false);
  assert.equal(parse('GET / HTTP/1.0\r\nHost: a\r\nConnection: Keep-Alive').keepAlive, true);
  assert.equal(parse('GET / HTTP/1.1\r\nHost: a\r\nConnection: close').keepAlive, false);
  assert.equal(parse('GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close').keepAlive, false);
  assert.equal(refused('PRI * HTTP/2.0'), 505);
  assert.equal(refused('GET / HTTP/1.2\r\nHost: a'), 505);
  assert.equal(refused('GET / HTTP/3.0\r\nHost: a'), 505);
});

test('request targets: absolute-form replaces Host, asterisk-form, fragments dropped, CONNECT refused', () => {
  const abs = parse('GET http://svc.local:8080/p/q?x=1 HTTP/1.1\r\nHost: other');
  assert.equal(abs.authority, 'svc.local:8080');
  assert.equal(abs.path, '/p/q');
  assert.equal(abs.query, 'x=1');
  assert.deepEqual(abs.headers, ['host', 'svc.local:8080']);
  const noHost = parse('GET HTTP://svc HTTP/1.1');
  assert.equal(noHost.path, '/');
  assert.deepEqual(noHost.headers, ['host', 'svc']);
  assert.equal(parse('GET http://svc?q=1 HTTP/1.1').query, 'q=1');
  assert.equal(parse('OPTIONS * HTTP/1.1\r\nHost: a').path, '*');
  assert.equal(refused('GET * HTTP/1.1\r\nHost: a'), 400);
  const frag = parse('GET /secret#x?y HTTP/1.1\r\nHost: a');
  assert.equal(frag.path, '/secret');
  assert.equal(frag.query, '');
  const q = parse('GET /p?a=1#frag HTTP/1.1\r\nHost: a');
  assert.equal(q.query, 'a=1');
  assert.equal(refused('CONNECT svc:443 HTTP/1.1\r\nHost: svc:443'), 501);
  assert.equal(refused('GET ftp://svc/ HTTP/1.1\r\nHost: a'), 400);
  assert.equal(refused('GET http:/// HTTP/1.1\r\nHost: a'), 400);
});

test('Expect: 100-continue only with a body on HTTP/1.1; other expectations → 417', () => {
  assert.equal(parse('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nExpect: 100-Continue').expectContinue, true);
  assert.equal(parse('GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue').expectContinue, false);
  assert.equal(refused('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nExpect: something-else'), 417);
});

test('header count: 100 accepted, 101 → 431', () => {
  const lines = (n: number): string => Array.from({ length: n - 1 }, (_, i) => `\r\nx-h${i}: v`).join('');
  assert.equal(parse(`GET / HTTP/1.1\r\nHost: a${lines(MAX_HEADERS)}`).headers.length, MAX_HEADERS * 2);
  assert.equal(refused(`GET / HTTP/1.1\r\nHost: a${lines(MAX_HEADERS + 1)}`), 431);
});

test('obs-text in values is kept byte for byte; empty values are fine', () => {
  const h = parse('GET / HTTP/1.1\r\nHost: a\r\nX-Latin: caf\xe9\r\nX-Empty:\r\nX-Tab: a\tb');
  assert.deepEqual(h.headers.slice(2), ['x-latin', 'caf\xe9', 'x-empty', '', 'x-tab', 'a\tb']);
});

test('heads parsed one after another (strings reused from the previous head where equal) each get their own fields', () => {
  const a = parse('GET / HTTP/1.1\r\nHost: svc\r\nUser-Agent: one\r\nAccept: */*');
  // same names and lengths, other values; a name spelled differently at the same position; one field fewer
  const b = parse('GET / HTTP/1.1\r\nHost: abc\r\nuser-agent: one\r\nX-Other: */*');
  const c = parse('GET / HTTP/1.1\r\nHost: svc\r\nUser-Agent: one');
  assert.deepEqual(a.headers, ['host', 'svc', 'user-agent', 'one', 'accept', '*/*']);
  assert.deepEqual(b.headers, ['host', 'abc', 'user-agent', 'one', 'x-other', '*/*']);
  assert.deepEqual(c.headers, ['host', 'svc', 'user-agent', 'one']);
  assert.equal(b.authority, 'abc');
  // an exchange edits its own list: the next head's is not touched
  a.headers.push('x-added', '1');
  c.headers[1] = 'edited';
  assert.deepEqual(parse('GET / HTTP/1.1\r\nHost: svc\r\nUser-Agent: one').headers, ['host', 'svc', 'user-agent', 'one']);
  // a head refused half-way leaves nothing behind for the next one
  assert.equal(refused('GET / HTTP/1.1\r\nHost: svc\r\nBad Name: x'), 400);
  assert.deepEqual(parse('GET / HTTP/1.1\r\nHost: svc\r\nX-Y: z').headers, ['host', 'svc', 'x-y', 'z']);
});

test('request line: GET and both versions without new strings, others as sent', () => {
  assert.equal(parse('GET /p HTTP/1.0').version, 10);
  assert.equal(parse('GETX /p HTTP/1.1\r\nHost: a').method, 'GETX');
  assert.equal(parse('DELETE /p HTTP/1.1\r\nHost: a').method, 'DELETE');
  assert.equal(refused('GET /p HTTP/1.10\r\nHost: a'), 400);
  assert.equal(refused('GET /p HTTP/1.\r\nHost: a'), 400);
});
