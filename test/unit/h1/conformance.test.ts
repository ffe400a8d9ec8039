// Differential conformance: the same raw upstream responses through the h1 codec and the undici
// codec must give the same status, headers (as a case-insensitive multiset), body bytes and
// ending. Plus: the request bytes the h1 codec puts on the wire.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { UpstreamCodec } from '../../../src/upstream/codec.js';
import { h1Codec } from '../../../src/upstream/h1/index.js';
import { undiciCodec } from '../../../src/upstream/undici-codec.js';
import {
  POOL_OPTIONS, bodyStream, bytes, exchange, headerMultiset, request, startRawServer, writeParts,
  type Outcome, type RawServer,
} from './helpers.js';
import { flagNames } from '../../../src/stats/flags.js';
import { filterResponseHeaders } from '../../../src/http/headers.js';

interface Case {
  name: string;
  method?: string;
  /** raw response bytes, written in one go unless `parts` */
  response?: string | Buffer;
  parts?: (string | Buffer)[];
  /** the upstream closes the connection after writing */
  close?: boolean;
  expectStatus?: number;
  expectBody?: string | Buffer;
  expectKind?: 'end' | 'error';
  /** h1's error flag when it errors */
  expectFlag?: string;
  /**
   * Where undici (7.x, llhttp) is known to differ and h1 follows RFC 9110/9112 instead: 'errors'
   * (undici fails the exchange: h1 is checked against the expectations only) or 'trims' (undici
   * keeps trailing whitespace in header values: compared after trimming undici's values).
   */
  undici?: 'errors' | 'trims';
  /** extra checks on the h1 outcome */
  check?: (o: Outcome) => void;
}

const bigBody = randomBytes(1024 * 1024);
const chunkedParts: Buffer[] = [];
const chunkedPayload: Buffer[] = [];
{
  let seed = 7;
  for (let i = 0; i < 200; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const n = 1 + (seed % 8192);
    const data = randomBytes(n);
    chunkedPayload.push(data);
    chunkedParts.push(Buffer.concat([Buffer.from(`${n.toString(16)}\r\n`), data, Buffer.from('\r\n')]));
  }
}
const manyHeaders = Array.from({ length: 100 }, (_, i) => `X-H${i}: value-${i}\r\n`).join('');

const cases: Case[] = [
  { name: 'content-length body', response: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello', expectStatus: 200, expectBody: 'hello' },
  { name: 'content-length 0', response: 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', expectBody: '' },
  { name: 'chunked', response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n', expectBody: 'hello world' },
  { name: 'chunked with extensions', response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n3;a;b="q s"\r\nabc\r\n0;last\r\n\r\n', expectBody: 'helloabc' },
  { name: 'chunked with trailers', response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n4\r\nwxyz\r\n0\r\nX-Sum: 42\r\nX-Other: yes\r\n\r\n', expectBody: 'wxyz' },
  { name: 'chunked uppercase hex, ext and trailers', response: 'HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\nA;x=1\r\n0123456789\r\n0\r\nT: v\r\n\r\n', expectBody: '0123456789' },
  { name: 'close-delimited body', response: 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end', close: true, expectBody: 'until the end' },
  { name: 'HTTP/1.0 close-delimited', response: 'HTTP/1.0 200 OK\r\nServer: old\r\n\r\nold school', close: true, expectBody: 'old school' },
  { name: 'HTTP/1.0 with content-length', response: 'HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc', close: true, expectBody: 'abc' },
  { name: '204 no content', response: 'HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n', expectStatus: 204, expectBody: '' },
  { name: '304 with content-length and no body', undici: 'errors', response: 'HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: "x"\r\n\r\n', expectStatus: 304, expectBody: '' },
  { name: 'HEAD with content-length', method: 'HEAD', response: 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n', expectBody: '' },
  { name: 'HEAD with chunked', method: 'HEAD', response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', expectBody: '' },
  { name: '100 continue before the response', undici: 'errors', response: 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok', expectStatus: 201, expectBody: 'ok' },
  { name: '103 early hints before the response', response: 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx', expectStatus: 200, expectBody: 'x',
    check: (o) => assert.ok(!headerMultiset(o.headers).some((h) => h.startsWith('link:')), '1xx headers are not delivered') },
  { name: 'multiple set-cookie', response: 'HTTP/1.1 200 OK\r\nSet-Cookie: a=1; Path=/\r\nSet-Cookie: b=2\r\nSet-Cookie: c=3; HttpOnly\r\nContent-Length: 0\r\n\r\n',
    check: (o) => assert.equal(headerMultiset(o.headers).filter((h) => h.startsWith('set-cookie:')).length, 3) },
  { name: 'header names in any case: lowercased for the client', response: 'HTTP/1.1 200 OK\r\nX-MiXeD-CaSe: Value\r\ncontent-TYPE: text/html\r\nContent-Length: 0\r\n\r\n',
    check: (o) => assert.deepEqual(o.headers, ['x-mixed-case', 'Value', 'content-type', 'text/html']) },
  { name: 'large content-length body (1 MiB)', response: Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${bigBody.length}\r\n\r\n`), bigBody]), expectBody: bigBody },
  { name: 'large chunked body (200 chunks)', parts: [Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'), ...chunkedParts, Buffer.from('0\r\n\r\n')], expectBody: Buffer.concat(chunkedPayload) },
  { name: '1-byte writes, content-length', parts: bytes('HTTP/1.1 200 OK\r\nX-Split: yes\r\nContent-Length: 11\r\n\r\nhello world'), expectBody: 'hello world' },
  { name: '1-byte writes, chunked with trailers', parts: bytes('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;e=1\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n'), expectBody: 'abcde' },
  { name: 'connection: close with content-length', response: 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 4\r\n\r\nbye!', close: true, expectBody: 'bye!' },
  { name: 'optional whitespace around values', undici: 'trims', response: 'HTTP/1.1 200 OK\r\nX-Pad:    spaced out   \r\nX-Tab:\tt\t\r\nContent-Length:  2 \r\n\r\nok', expectBody: 'ok',
    check: (o) => assert.ok(o.headers.includes('spaced out') && o.headers.includes('t')) },
  { name: 'empty header value', response: 'HTTP/1.1 200 OK\r\nX-Empty:\r\nX-Empty2: \r\nContent-Length: 0\r\n\r\n' },
  { name: '100 headers', response: `HTTP/1.1 200 OK\r\n${manyHeaders}Content-Length: 1\r\n\r\nz`, check: (o) => assert.equal(o.headers.length, 200) },
  { name: 'status line without reason phrase', response: 'HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok', expectStatus: 200 },
  { name: '404 with body', response: 'HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found', expectStatus: 404, expectBody: 'not found' },
  { name: '500 chunked', response: 'HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nboom\r\n0\r\n\r\n', expectStatus: 500, expectBody: 'boom' },
  { name: 'obs-text (latin1) in a header value', response: Buffer.from('HTTP/1.1 200 OK\r\nX-Latin: caf\xe9\r\nContent-Length: 0\r\n\r\n', 'latin1'),
    check: (o) => assert.ok(o.headers.includes('caf\xe9')) },
  { name: 'transfer-encoding gzip, chunked', response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nzz\r\n0\r\n\r\n', expectBody: 'zz' },
  { name: 'head and body in separate writes', parts: ['HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n', 'ab', 'cd', 'ef'], expectBody: 'abcdef' },
  { name: 'CRLF split across writes', parts: ['HTTP/1.1 200 OK\r', '\nContent-Length: 2\r', '\n\r', '\nok'], expectBody: 'ok' },
  { name: 'truncated content-length body', response: 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort', close: true, expectKind: 'error', expectFlag: 'UR' },
  { name: 'truncated chunked body', response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel', close: true, expectKind: 'error', expectFlag: 'UR' },
  { name: 'closed before any response byte', response: '', close: true, expectKind: 'error', expectFlag: 'UC' },
  { name: 'garbage instead of a status line', response: 'NOT HTTP AT ALL\r\n\r\n', close: true, expectKind: 'error', expectFlag: 'UPE' },
];

let server: RawServer;

before(async () => {
  server = await startRawServer((req) => {
    const idx = Number(req.path.split('/')[2]);
    const c = cases[idx];
    if (c === undefined) {
      req.socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const parts = c.parts ?? [c.response ?? ''];
    void writeParts(req.socket, parts).then(() => {
      if (c.close) req.socket.end();
    });
  });
});

after(async () => {
  await server.close();
});

async function run(codec: UpstreamCodec, idx: number): Promise<Outcome> {
  const c = cases[idx] as Case;
  const pool = codec.createPool('127.0.0.1', server.port, POOL_OPTIONS);
  try {
    return await exchange(pool, request(c.method ?? 'GET', `/case/${idx}`, server.port));
  } finally {
    await pool.destroy();
  }
}

test('the conformance table has at least 25 cases', () => {
  assert.ok(cases.length >= 25, `${cases.length} cases`);
});

for (let i = 0; i < cases.length; i++) {
  const c = cases[i] as Case;
  test(`h1 matches undici: ${c.name}`, { timeout: 10_000 }, async () => {
    const h1 = await run(h1Codec, i);
    const un = await run(undiciCodec, i);
    if (c.expectKind !== undefined) assert.equal(h1.kind, c.expectKind);
    else assert.equal(h1.kind, 'end', h1.error?.message);
    if (c.expectFlag !== undefined) assert.equal(flagNames(h1.error?.flag ?? 0), c.expectFlag, h1.error?.message);
    if (c.expectStatus !== undefined) assert.equal(h1.status, c.expectStatus);
    if (c.expectBody !== undefined) assert.ok(h1.body.equals(Buffer.from(c.expectBody)), `body: ${h1.body.toString().slice(0, 80)}`);
    c.check?.(h1);
    if (c.undici === 'errors') {
      assert.equal(un.kind, 'error', 'known undici divergence went away: compare fully again');
      return;
    }
    assert.equal(h1.kind, un.kind, `ending: h1 ${h1.kind} (${h1.error?.message}) vs undici ${un.kind} (${un.error?.message})`);
    assert.equal(h1.status, un.status);
    const unHeaders = c.undici === 'trims' ? un.headers.map((v, j) => (j % 2 === 1 ? v.replace(/[ \t]+$/, '') : v)) : un.headers;
    // the h1 codec hands heads out filtered for the client (its controller has filteredLength), undici as received
    const unFiltered = [...unHeaders];
    const unLength = filterResponseHeaders(unFiltered);
    assert.deepEqual(headerMultiset(h1.headers), headerMultiset(unFiltered));
    if (h1.events.includes('headers')) assert.equal(h1.filteredLength, unLength);
    assert.ok(h1.body.equals(un.body), `body differs: h1 ${h1.body.length} bytes, undici ${un.body.length} bytes`);
  });
}

test('keep-alive: sequential requests reuse one connection, mixed framings', { timeout: 10_000 }, async () => {
  const responses = [
    'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n',
    'HTTP/1.1 204 No Content\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nthree',
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfour',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x\r\nfive\r\n0\r\nT: 1\r\n\r\n',
  ];
  const expected = ['one', 'two', '', 'three', 'four', 'five'];
  const ka = await startRawServer((req) => {
    const n = Number(req.path.slice(1));
    req.socket.write(responses[n] as string);
  });
  const pool = h1Codec.createPool('127.0.0.1', ka.port, POOL_OPTIONS);
  try {
    for (let round = 0; round < 2; round++) {
      for (let n = 0; n < responses.length; n++) {
        const o = await exchange(pool, request('GET', `/${n}`, ka.port));
        assert.equal(o.kind, 'end', o.error?.message);
        assert.equal(o.body.toString(), expected[n]);
      }
    }
    assert.equal(ka.accepted, 1, 'one connection for all requests');
    assert.equal(ka.requests.length, responses.length * 2);
  } finally {
    await pool.destroy();
    await ka.close();
  }
});

test('Connection: close and HTTP/1.0 responses are not reused; keep-alive ones are', { timeout: 10_000 }, async () => {
  const srv = await startRawServer((req) => {
    if (req.path === '/close') req.socket.write('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\na');
    else if (req.path === '/http10') req.socket.write('HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nb');
    else if (req.path === '/http10ka') req.socket.write('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nc');
    else req.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nd');
  });
  const pool = h1Codec.createPool('127.0.0.1', srv.port, POOL_OPTIONS);
  try {
    for (const path of ['/close', '/close', '/http10', '/http10ka', '/ka', '/ka']) {
      const o = await exchange(pool, request('GET', path, srv.port));
      assert.equal(o.kind, 'end', o.error?.message);
    }
    const conns = srv.requests.map((r) => r.connection);
    // /close, /close and /http10 each end their connection; /http10ka's connection carries /ka and /ka
    assert.deepEqual(conns, [0, 1, 2, 3, 3, 3]);
  } finally {
    await pool.destroy();
    await srv.close();
  }
});

// ---- what the h1 codec writes ----

async function capture(method: string, path: string, extra: string[], body: ReturnType<typeof bodyStream> | null, contentLength: number) {
  const srv = await startRawServer((req) => req.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
  const pool = h1Codec.createPool('127.0.0.1', srv.port, POOL_OPTIONS);
  try {
    const o = await exchange(pool, request(method, path, srv.port, extra, body, contentLength));
    assert.equal(o.kind, 'end', o.error?.message);
    assert.equal(srv.requests.length, 1);
    return srv.requests[0]!;
  } finally {
    await pool.destroy();
    await srv.close();
  }
}

function assertWellFormedHead(head: string): void {
  assert.ok(head.endsWith('\r\n\r\n'));
  const lines = head.slice(0, -4).split('\r\n');
  assert.match(lines[0] as string, /^[A-Z]+ \S+ HTTP\/1\.1$/);
  for (const line of lines.slice(1)) assert.match(line, /^[!#$%&'*+\-.^_`|~0-9a-z]+: [^\r\n\0]*$/, `header line ${JSON.stringify(line)}`);
  assert.ok(!head.slice(0, -4).includes('\n\n'));
}

test('GET: request line, headers as given, no framing headers', { timeout: 5000 }, async () => {
  const r = await capture('GET', '/a/b?q=1&r=%20', ['x-request-id', 'abc', 'accept', '*/*', 'content-length', '0'], null, -1);
  assertWellFormedHead(r.head);
  assert.equal(r.method, 'GET');
  assert.equal(r.path, '/a/b?q=1&r=%20');
  assert.equal(r.framing, 'none');
  assert.ok(r.head.startsWith('GET /a/b?q=1&r=%20 HTTP/1.1\r\nhost: 127.0.0.1:'));
  assert.deepEqual(r.headers.map(([n]) => n), ['host', 'x-request-id', 'accept']);
  assert.equal(r.body.length, 0);
});

test('POST with Content-Length body: exact length, exact bytes, one content-length', { timeout: 5000 }, async () => {
  const body = bodyStream(['hello ', 'wor', 'ld'], 5);
  const r = await capture('POST', '/upload', ['content-type', 'text/plain', 'content-length', '11'], body, 11);
  assertWellFormedHead(r.head);
  assert.equal(r.framing, 'length');
  assert.deepEqual(r.headers.filter(([n]) => n === 'content-length'), [['content-length', '11']]);
  assert.ok(!r.headers.some(([n]) => n === 'transfer-encoding'));
  assert.equal(r.body.toString(), 'hello world');
});

test('POST with unknown length: chunked framing written by the codec', { timeout: 5000 }, async () => {
  const body = bodyStream(['abc', Buffer.alloc(70_000, 0x61), 'xyz'], 2);
  const r = await capture('POST', '/stream', ['transfer-encoding', 'chunked'], body, -1);
  assertWellFormedHead(r.head);
  assert.equal(r.framing, 'chunked');
  assert.deepEqual(r.headers.filter(([n]) => n === 'transfer-encoding'), [['transfer-encoding', 'chunked']]);
  assert.ok(!r.headers.some(([n]) => n === 'content-length'));
  assert.equal(r.body.length, 70_006);
  assert.equal(r.body.subarray(0, 3).toString(), 'abc');
  assert.equal(r.body.subarray(-3).toString(), 'xyz');
  assert.ok(r.rawBody.subarray(-5).equals(Buffer.from('0\r\n\r\n')));
});

test('POST without body and PUT with an empty chunked body send content-length: 0; GET does not', { timeout: 5000 }, async () => {
  const post = await capture('POST', '/p', [], null, -1);
  assert.deepEqual(post.headers.filter(([n]) => n === 'content-length'), [['content-length', '0']]);
  const put = await capture('PUT', '/p', [], bodyStream([]), -1);
  assert.deepEqual(put.headers.filter(([n]) => n === 'content-length'), [['content-length', '0']]);
  assert.equal(put.framing, 'length');
  const get = await capture('GET', '/g', [], null, -1);
  assert.equal(get.framing, 'none');
});

test('invalid request header name or value is refused without writing anything (UPE)', { timeout: 5000 }, async () => {
  const srv = await startRawServer(() => undefined);
  const pool = h1Codec.createPool('127.0.0.1', srv.port, POOL_OPTIONS);
  try {
    for (const extra of [['x-bad', 'a\r\nInjected: 1'], ['x-nul', 'a\0b'], ['bad name', 'v'], ['x-lf', 'a\nb'], ['', 'v']]) {
      const o = await exchange(pool, request('GET', '/', srv.port, extra));
      assert.equal(o.kind, 'error');
      assert.equal(flagNames(o.error?.flag ?? 0), 'UPE', o.error?.message);
    }
    const o = await exchange(pool, request('GET', '/with space', srv.port));
    assert.equal(flagNames(o.error?.flag ?? 0), 'UPE');
    assert.equal(srv.accepted, 0, 'nothing was sent');
  } finally {
    await pool.destroy();
    await srv.close();
  }
});
