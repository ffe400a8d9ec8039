// Protocol sniffing on ports without a declared protocol: an HTTP request line is HTTP, anything
// else is TCP; too few bytes to tell waits for more.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SNIFF_HTTP, SNIFF_MORE, SNIFF_NOT_HTTP, sniffHttp } from '../../../src/downstream/h1/sniff.js';

const sniff = (s: string | Buffer): number => {
  const b = typeof s === 'string' ? Buffer.from(s, 'latin1') : s;
  return sniffHttp(b, 0, b.length);
};

test('request lines are HTTP, other first bytes are not, prefixes wait', () => {
  for (const s of ['GET / HTTP/1.1\r\n', 'POST /x HTTP/1.1', 'OPTIONS * HTTP/1.1', 'PRI * HTTP/2.0', '\r\nGET / HTTP/1.1', 'DELETE ']) assert.equal(sniff(s), SNIFF_HTTP, s);
  for (const s of ['*1\r\n$4\r\nPING\r\n', '\x16\x03\x01\x02\x00', 'get / HTTP/1.1', 'GETX /', 'hello', '\x00\x01']) assert.equal(sniff(s), SNIFF_NOT_HTTP, JSON.stringify(s));
  for (const s of ['', 'G', 'GE', 'GET', 'PROP', '\r', '\r\n', '\r\nPO']) assert.equal(sniff(s), SNIFF_MORE, JSON.stringify(s));
});
