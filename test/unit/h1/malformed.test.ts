// Malformed upstream responses through the h1 codec: each must end the exchange exactly once with
// the right flag (UPE for malformed input, before or after the headers were delivered; UR for a
// body cut short by the connection closing; UC for a close before any response), never throw,
// never hang. The
// upstream keeps the connection open unless the case needs EOF, so detection cannot lean on it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { h1Codec } from '../../../src/upstream/h1/index.js';
import type { UpstreamPool } from '../../../src/upstream/codec.js';
import { POOL_OPTIONS, exchange, request, sleep, startRawServer, writeParts, type RawServer } from './helpers.js';
import { flagNames } from '../../../src/stats/flags.js';

interface Bad {
  name: string;
  parts: (string | Buffer)[];
  close?: boolean;
  flag: 'UPE' | 'UR' | 'UC';
  /** headers are delivered before the error (UR cases) */
  headers?: boolean;
}

const big = 'x'.repeat(70 * 1024);
const CHUNKED = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
const manyLines = Array.from({ length: 2000 }, (_, i) => `X-Filler-${i}: ${'y'.repeat(30)}\r\n`).join('');

const bad: Bad[] = [
  { name: 'bad status code', parts: ['HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n'], flag: 'UPE' },
  { name: 'bad protocol name', parts: ['HTTX/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'], flag: 'UPE' },
  { name: 'HTTP/2.0 status line', parts: ['HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n'], flag: 'UPE' },
  { name: 'status line ended by a bare LF', parts: ['HTTP/1.1 200 OK\n\n'], flag: 'UPE' },
  { name: 'status code 099', parts: ['HTTP/1.1 099 Odd\r\n\r\n'], flag: 'UPE' },
  { name: 'bare LF in a header value', parts: ['HTTP/1.1 200 OK\r\nX-A: a\nX-B: b\r\nContent-Length: 0\r\n\r\n'], flag: 'UPE' },
  { name: 'bare CR in a header value', parts: ['HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n'], flag: 'UPE' },
  { name: 'bare CR split at the read boundary', parts: ['HTTP/1.1 200 OK\r\nX-A: a\r', 'b\r\nContent-Length: 0\r\n\r\n'], flag: 'UPE' },
  { name: 'NUL in a header value', parts: ['HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 0\r\n\r\n'], flag: 'UPE' },
  { name: 'NUL in a header name', parts: ['HTTP/1.1 200 OK\r\nX\0A: a\r\nContent-Length: 0\r\n\r\n'], flag: 'UPE' },
  { name: 'obs-fold continuation line', parts: ['HTTP/1.1 200 OK\r\nX-A: a\r\n  folded\r\nContent-Length: 0\r\n\r\n'], flag: 'UPE' },
  { name: 'space before the colon', parts: ['HTTP/1.1 200 OK\r\nX-A : a\r\nContent-Length: 0\r\n\r\n'], flag: 'UPE' },
  { name: 'header line without a colon', parts: ['HTTP/1.1 200 OK\r\nNoColonHere\r\nContent-Length: 0\r\n\r\n'], flag: 'UPE' },
  { name: 'empty header name', parts: ['HTTP/1.1 200 OK\r\n: v\r\nContent-Length: 0\r\n\r\n'], flag: 'UPE' },
  { name: 'header block over 64 KiB (one value)', parts: [`HTTP/1.1 200 OK\r\nX-Big: ${big}\r\nContent-Length: 0\r\n\r\n`], flag: 'UPE' },
  { name: 'header block over 64 KiB (many lines, many reads)', parts: ['HTTP/1.1 200 OK\r\n', ...manyLines.match(/[^]{1,1000}/g) as string[]], flag: 'UPE' },
  { name: 'Content-Length and Transfer-Encoding', parts: ['HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'], flag: 'UPE' },
  { name: 'two different Content-Lengths', parts: ['HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!'], flag: 'UPE' },
  { name: 'non-numeric Content-Length', parts: ['HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello'], flag: 'UPE' },
  { name: 'negative Content-Length', parts: ['HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n'], flag: 'UPE' },
  { name: '101 Switching Protocols', parts: ['HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'], flag: 'UPE' },
  { name: 'invalid chunk size', parts: [`${CHUNKED}zz\r\nhello\r\n0\r\n\r\n`], flag: 'UPE', headers: true },
  { name: 'empty chunk size', parts: [`${CHUNKED}\r\nhello\r\n0\r\n\r\n`], flag: 'UPE', headers: true },
  { name: 'chunk longer than its size', parts: [`${CHUNKED}3\r\nhello\r\n0\r\n\r\n`], flag: 'UPE', headers: true },
  { name: 'chunk size overflow', parts: [`${CHUNKED}fffffffffffffffffff\r\n`], flag: 'UPE', headers: true },
  // a line in chunked framing ended by a bare LF: refused wherever it is (RFC 9112 §7.1 wants CRLF)
  { name: 'chunk-size line ended by a bare LF', parts: [`${CHUNKED}5\nhello\r\n0\r\n\r\n`], flag: 'UPE', headers: true },
  { name: 'second chunk-size line ended by a bare LF', parts: [`${CHUNKED}5\r\nhello\r\n5\nworld\r\n0\r\n\r\n`], flag: 'UPE', headers: true },
  { name: 'chunk-size line ended by a bare LF, split from its size', parts: [`${CHUNKED}5`, '\nhello\r\n0\r\n\r\n'], flag: 'UPE', headers: true },
  { name: 'chunk extension ended by a bare LF', parts: [`${CHUNKED}5;a=b\nhello\r\n0\r\n\r\n`], flag: 'UPE', headers: true },
  { name: 'chunk data ended by a bare LF', parts: [`${CHUNKED}5\r\nhello\n0\r\n\r\n`], flag: 'UPE', headers: true },
  { name: 'last-chunk line ended by a bare LF', parts: [`${CHUNKED}5\r\nhello\r\n0\n\r\n`], flag: 'UPE', headers: true },
  { name: 'trailer line ended by a bare LF', parts: [`${CHUNKED}5\r\nhello\r\n0\r\nX-T: 1\n\r\n`], flag: 'UPE', headers: true },
  { name: 'trailer section ended by a bare LF', parts: [`${CHUNKED}5\r\nhello\r\n0\r\n\n`], flag: 'UPE', headers: true },
  { name: 'chunk-size line ended by a bare CR', parts: [`${CHUNKED}5\rhello\r\n0\r\n\r\n`], flag: 'UPE', headers: true },
  { name: 'truncated chunked body', parts: ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n10\r\nabc'], close: true, flag: 'UR', headers: true },
  { name: 'chunked body without the last chunk', parts: ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n'], close: true, flag: 'UR', headers: true },
  { name: 'truncated Content-Length body', parts: ['HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this'], close: true, flag: 'UR', headers: true },
  { name: 'truncated head', parts: ['HTTP/1.1 200 OK\r\nContent-Len'], close: true, flag: 'UC' },
];

let server: RawServer;
let pool: UpstreamPool;

before(async () => {
  server = await startRawServer((req) => {
    const c = bad[Number(req.path.slice(1))];
    if (c === undefined) return;
    void writeParts(req.socket, c.parts).then(() => {
      if (c.close) req.socket.end();
    });
  });
  pool = h1Codec.createPool('127.0.0.1', server.port, POOL_OPTIONS);
});

after(async () => {
  await pool.destroy();
  await server.close();
});

for (let i = 0; i < bad.length; i++) {
  const c = bad[i] as Bad;
  test(`malformed: ${c.name} → ${c.flag}`, { timeout: 5000 }, async () => {
    let collector: { endings: number } | null = null;
    const o = await exchange(pool, request('GET', `/${i}`, server.port), (col) => { collector = col; });
    assert.equal(o.kind, 'error');
    assert.equal(flagNames(o.error?.flag ?? 0), c.flag, o.error?.message);
    assert.equal(o.events.includes('headers'), c.headers === true, o.events.join(','));
    await sleep(20);
    assert.equal((collector as unknown as { endings: number }).endings, 1, 'exactly one ending');
  });
}

test('the same Content-Length twice is accepted', { timeout: 5000 }, async () => {
  const srv = await startRawServer((req) => req.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nok'));
  const p = h1Codec.createPool('127.0.0.1', srv.port, POOL_OPTIONS);
  try {
    const o = await exchange(p, request('GET', '/', srv.port));
    assert.equal(o.kind, 'end');
    assert.equal(o.body.toString(), 'ok');
  } finally {
    await p.destroy();
    await srv.close();
  }
});

test('bytes after a complete response: delivered response is intact, connection is not reused', { timeout: 5000 }, async () => {
  const srv = await startRawServer((req) => req.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokGARBAGE'));
  const p = h1Codec.createPool('127.0.0.1', srv.port, POOL_OPTIONS);
  try {
    for (let i = 0; i < 2; i++) {
      const o = await exchange(p, request('GET', '/', srv.port));
      assert.equal(o.kind, 'end');
      assert.equal(o.body.toString(), 'ok');
    }
    assert.equal(srv.accepted, 2);
  } finally {
    await p.destroy();
    await srv.close();
  }
});
