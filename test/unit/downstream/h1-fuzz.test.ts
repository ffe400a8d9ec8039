// The HTTP/1.1 listener's connection against Node's own parser (llhttp), over real sockets:
// seeded random valid requests — pipelined, bodies by Content-Length or chunked (extensions,
// trailers), written in random pieces on two interleaved plaintext connections (so reads into the
// shared input buffer alternate) and on a TLS connection (decrypted 'data' chunks, the mTLS
// listeners' input path) — must reach meshlet's request path exactly as node:http sees them;
// then seeded mutations (plaintext and TLS in turn) must each end in responses or a refusal and a
// close, never a hang or a throw.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import { adopt, adoptSecure } from '../../../src/downstream/h1/adopt.js';
import type { ConnectionOwner, H1Connection } from '../../../src/downstream/h1/connection.js';
import { makeCa, makeLeaf } from '../../helpers/certs.js';
import type { ExchangeHandler } from '../../../src/downstream/exchange.js';
import type { RequestHead } from '../../../src/downstream/h1/request-head.js';
import type { ClientBody } from '../../../src/request/client-body.js';
import { prng } from '../h1/helpers.js';

type Rng = () => number;
interface Seen { method: string; url: string; headers: [string, string][]; body: string }

const int = (rng: Rng, lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)] as T;

/** The request path stand-in: echoes what the connection parsed, as a chunked JSON response. */
class EchoOwner implements ConnectionOwner {
  readonly settings = { acceptHttp10: true, idleTimeoutS: 60, requestTimeoutS: 10 };
  readonly draining = false;
  refusals = 0;
  startExchange(sink: H1Connection, head: RequestHead, body: ClientBody | null): ExchangeHandler {
    const seen: Seen = {
      method: head.method, url: head.hasQuery ? `${head.path}?${head.query}` : head.path, body: '',
      headers: pairs(head.headers),
    };
    const reply = (): void => {
      sink.head(200, ['content-type', 'application/json'], -1, false);
      const json = Buffer.from(JSON.stringify(seen), 'latin1');
      sink.data(json.subarray(0, 7));
      sink.data(json.subarray(7));
      sink.end();
    };
    if (body === null) setImmediate(reply);
    else {
      body.on('data', (d: Buffer) => { seen.body += d.toString('latin1'); });
      body.on('end', reply);
    }
    return { onAborted() {}, onWritable() {}, onBodyError() {} };
  }
  refused(): void { this.refusals++; }
  serveH2(conn: H1Connection): void { conn.socket.destroy(); }
  closed(): void {}
}

function pairs(flat: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i] as string, flat[i + 1] as string]);
  return out;
}

let ours: net.Server;
let oursTls: tls.Server;
let reference: http.Server;
let oursPort: number;
let oursTlsPort: number;
let refPort: number;
let caPem: string;
const owner = new EchoOwner();
const PEER = { principal: 'spiffe://cluster.local/ns/t/sa/t', xfcc: '' };

before(async () => {
  ours = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (s) => { adopt(s, owner); });
  const ca = makeCa('fuzz');
  const leaf = makeLeaf(ca, 'spiffe://cluster.local/ns/s/sa/s');
  caPem = ca.certPem;
  oursTls = tls.createServer({ key: leaf.keyPem, cert: leaf.certPem, allowHalfOpen: true }, (s) => { adoptSecure(s, owner, PEER); });
  await new Promise<void>((r) => oursTls.listen(0, '127.0.0.1', r));
  oursTlsPort = (oursTls.address() as net.AddressInfo).port;
  reference = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => { body += d.toString('latin1'); });
    req.on('end', () => {
      const seen: Seen = { method: req.method ?? '', url: req.url ?? '', body, headers: [] };
      for (let i = 0; i < req.rawHeaders.length; i += 2) seen.headers.push([(req.rawHeaders[i] as string).toLowerCase(), req.rawHeaders[i + 1] as string]);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(Buffer.from(JSON.stringify(seen), 'latin1'));
    });
  });
  await Promise.all([new Promise<void>((r) => ours.listen(0, '127.0.0.1', r)), new Promise<void>((r) => reference.listen(0, '127.0.0.1', r))]);
  oursPort = (ours.address() as net.AddressInfo).port;
  refPort = (reference.address() as net.AddressInfo).port;
});

after(async () => {
  reference.closeAllConnections();
  await Promise.all([new Promise((r) => ours.close(r)), new Promise((r) => oursTls.close(r)), new Promise((r) => reference.close(r))]);
});

const TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~";
const PATH_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@%/";

function word(rng: Rng, chars: string, lo: number, hi: number): string {
  let s = '';
  const n = int(rng, lo, hi);
  for (let i = 0; i < n; i++) s += chars[Math.floor(rng() * chars.length)];
  return s;
}

function value(rng: Rng): string {
  const kind = int(rng, 0, 4);
  if (kind === 0) return '';
  if (kind === 1) return `caf\xe9 ${word(rng, TOKEN_CHARS, 1, 10)}`;
  if (kind === 2) return 'v'.repeat(int(rng, 100, 2000));
  return `${word(rng, TOKEN_CHARS, 1, 20)} ${word(rng, TOKEN_CHARS, 0, 20)}`.trim();
}

/** One valid request: its bytes and what a server must see. */
function generate(rng: Rng, last: boolean): { bytes: string; seen: Seen } {
  const method = pick(rng, ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);
  const url = `/${word(rng, PATH_CHARS, 0, 30)}${rng() < 0.5 ? `?${word(rng, PATH_CHARS + '?', 0, 30)}` : ''}`;
  const headers: [string, string][] = [['host', 'svc.local']];
  let head = `${method} ${url} HTTP/1.1\r\nHost: svc.local\r\n`;
  for (let i = int(rng, 0, 12); i > 0; i--) {
    const name = `X-${word(rng, TOKEN_CHARS, 1, 16)}`;
    const v = value(rng);
    const ows = pick(rng, ['', ' ', '  ', '\t', ' \t']);
    head += `${name}:${ows}${v}${pick(rng, ['', ' ', '\t'])}\r\n`;
    headers.push([name.toLowerCase(), v]);
  }
  let body = '';
  let framing = '';
  const kind = int(rng, 0, 2);
  if (kind === 1) {
    body = word(rng, TOKEN_CHARS + ' \r\n\0\xff', 0, 3000);
    framing = `Content-Length: ${body.length}\r\n`;
    headers.push(['content-length', String(body.length)]);
  } else if (kind === 2) {
    framing = 'Transfer-Encoding: chunked\r\n';
    headers.push(['transfer-encoding', 'chunked']);
    let chunks = '';
    for (let i = int(rng, 0, 5); i > 0; i--) {
      const c = word(rng, TOKEN_CHARS + ' \r\n', 1, 800);
      body += c;
      chunks += `${c.length.toString(16)}${rng() < 0.2 ? ';ext=1' : ''}\r\n${c}\r\n`;
    }
    return finish(`${head}${framing}${last ? 'Connection: close\r\n' : ''}\r\n${chunks}0\r\n${rng() < 0.3 ? 'X-Trailer: t\r\n' : ''}\r\n`);
  }
  return finish(`${head}${framing}${last ? 'Connection: close\r\n' : ''}\r\n${body}`);

  function finish(bytes: string): { bytes: string; seen: Seen } {
    if (last) headers.push(['connection', 'close']);
    return { bytes, seen: { method, url, headers, body } };
  }
}

/** Splits `s` into 1..8 random pieces. */
function pieces(rng: Rng, s: string): string[] {
  const cuts = new Set<number>();
  for (let i = int(rng, 0, 7); i > 0; i--) cuts.add(int(rng, 1, Math.max(1, s.length - 1)));
  const sorted = [...cuts].filter((c) => c < s.length).sort((a, b) => a - b);
  const out: string[] = [];
  let from = 0;
  for (const c of sorted) { out.push(s.slice(from, c)); from = c; }
  out.push(s.slice(from));
  return out;
}

/** Every JSON body of the responses on one connection, read until the server closes. */
async function readEchoes(socket: net.Socket): Promise<Seen[]> {
  const chunks: Buffer[] = [];
  socket.on('data', (d: Buffer) => chunks.push(d));
  await once(socket, 'close');
  const text = Buffer.concat(chunks).toString('latin1');
  const out: Seen[] = [];
  let at = 0;
  while (at < text.length) {
    const headEnd = text.indexOf('\r\n\r\n', at);
    assert.ok(headEnd > 0, `response head: ${JSON.stringify(text.slice(at, at + 200))}`);
    const head = text.slice(at, headEnd);
    assert.match(head, /^HTTP\/1\.1 200 /);
    let p = headEnd + 4;
    let body = '';
    if (/transfer-encoding: chunked/i.test(head)) {
      for (;;) {
        const le = text.indexOf('\r\n', p);
        const size = parseInt(text.slice(p, le), 16);
        p = le + 2;
        if (size === 0) { p += 2; break; }
        body += text.slice(p, p + size);
        p += size + 2;
      }
    } else {
      const len = Number(/content-length: (\d+)/i.exec(head)?.[1]);
      body = text.slice(p, p + len);
      p += len;
    }
    out.push(JSON.parse(body) as Seen);
    at = p;
  }
  return out;
}

/**
 * Connects (over TLS when `secure`) and writes `parts` (one write each: one TLS record each, a turn
 * of the event loop apart when `gap`), then `end()` when asked.
 */
async function send(port: number, parts: string[], gap: boolean, end = false, secure = false): Promise<net.Socket> {
  const socket = secure
    ? tls.connect({ port, host: '127.0.0.1', ca: caPem, checkServerIdentity: () => undefined })
    : net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  socket.on('error', () => undefined);
  await once(socket, secure ? 'secureConnect' : 'connect');
  void (async () => {
    for (const p of parts) {
      if (socket.destroyed || socket.writableEnded) return;
      socket.write(Buffer.from(p, 'latin1'));
      if (gap) await new Promise((r) => setImmediate(r));
    }
    if (end && !socket.destroyed) socket.end();
  })();
  return socket;
}

test('differential against node:http: 120 batches of pipelined random requests in random pieces, two plaintext connections interleaved and one TLS', async () => {
  const rng = prng(20261203);
  for (let batch = 0; batch < 120; batch++) {
    const count = int(rng, 1, 4);
    const reqs = Array.from({ length: count }, (_, i) => generate(rng, i === count - 1));
    const wire = reqs.map((r) => r.bytes).join('');
    const [a, b, c, ref] = await Promise.all([
      send(oursPort, pieces(rng, wire), true), send(oursPort, pieces(rng, wire), true), send(oursTlsPort, pieces(rng, wire), true, false, true),
      send(refPort, [wire], false),
    ]);
    const [gotA, gotB, gotC, want] = await Promise.all([readEchoes(a), readEchoes(b), readEchoes(c), readEchoes(ref)]);
    assert.deepEqual(want.map((w) => w.url), reqs.map((r) => r.seen.url), `batch ${batch}: node:http saw the generated requests`);
    assert.deepEqual(gotA, want, `batch ${batch}: connection A sees what node:http sees`);
    assert.deepEqual(gotB, want, `batch ${batch}: connection B sees what node:http sees`);
    assert.deepEqual(gotC, want, `batch ${batch}: the TLS connection sees what node:http sees`);
  }
});

/** Seeded mutations of a valid request: a byte changed, a control or CR/LF inserted, a piece deleted or repeated. */
function mutate(rng: Rng, s: string): string {
  const at = int(rng, 0, s.length - 1);
  switch (int(rng, 0, 4)) {
    case 0: return s.slice(0, at) + String.fromCharCode(int(rng, 0, 255)) + s.slice(at + 1);
    case 1: return s.slice(0, at) + pick(rng, ['\r', '\n', '\0', ' ', '\t', ':', '\x7f', '\r\n', '\r\n ']) + s.slice(at);
    case 2: return s.slice(0, at) + s.slice(Math.min(s.length, at + int(rng, 1, 8)));
    case 3: return s.slice(0, at) + s.slice(at, at + int(rng, 1, 40)) + s.slice(at);
    default: return s.replace(/\r\n\r\n/, `\r\n${pick(rng, ['Content-Length: 5', 'Transfer-Encoding: chunked', 'Host: x', 'Content-Length: zz'])}\r\n\r\n`);
  }
}

test('mutation fuzz: 400 mutated requests (every other one over TLS) each end in whole responses or a refusal, then a close, never a hang', async () => {
  const rng = prng(4242);
  const refusedBefore = owner.refusals;
  let refusals = 0;
  for (let i = 0; i < 400; i++) {
    const base = generate(rng, true).bytes;
    let text = base;
    for (let n = int(rng, 1, 3); n > 0; n--) text = mutate(rng, text);
    // the client is done once it has written: the server must answer what it can and close
    const secure = i % 2 === 1;
    const socket = await send(secure ? oursTlsPort : oursPort, pieces(rng, text), true, true, secure);
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    const closed = await Promise.race([once(socket, 'close').then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 3000))]);
    socket.destroy();
    const out = Buffer.concat(chunks).toString('latin1');
    assert.ok(closed, `mutation ${i}${secure ? ' (TLS)' : ''} left the connection open: ${JSON.stringify(text.slice(0, 200))} → ${JSON.stringify(out.slice(0, 200))}`);
    const statuses = [...out.matchAll(/^HTTP\/1\.1 (\d{3}) /gm)].map((m) => Number(m[1]));
    for (const s of statuses.slice(0, -1)) assert.equal(s, 200, `mutation ${i}: only the last response may be a refusal`);
    if (statuses.length > 0 && statuses[statuses.length - 1] !== 200) {
      refusals++;
      assert.match(out, /connection: close\r\n/, `mutation ${i}: a refusal closes`);
    }
  }
  assert.ok(refusals > 50, `the mutations exercised refusals (${refusals})`);
  assert.equal(owner.refusals - refusedBefore, refusals, 'each refusal was counted once');
});
