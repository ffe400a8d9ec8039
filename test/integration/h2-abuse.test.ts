// A bad HTTP/2 peer gets GOAWAY and never takes a worker down: a malformed frame, a broken
// preface, a SETTINGS flood, a PING flood and rapid stream resets (CVE-2023-44487), each on raw
// sockets; after each, the same worker (one worker here) still serves a normal HTTP/2 request.
// Floods are closed at once (GOAWAY INTERNAL_ERROR: how Node reports nghttp2's flood detection);
// after a protocol error nghttp2 stops reading, and the idle timeout (2 s here) closes the socket.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { h2Request } from '../helpers/h2.js';
import { serviceEntryYaml, startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { echoUpstream, type Upstream } from '../helpers/upstream.js';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const DATA = 0x0;
const HEADERS = 0x1;
const RST_STREAM = 0x3;
const SETTINGS = 0x4;
const PING = 0x6;
const GOAWAY = 0x7;
const PROTOCOL_ERROR = 0x1;
const INTERNAL_ERROR = 0x2;

let up: Upstream;
let m: Meshlet;

before(async () => {
  up = await echoUpstream('up');
  m = await startMeshlet(serviceEntryYaml('svc', [{ port: up.port }]), { workers: 1, args: ['--downstream-idle-timeout', '2s'] });
});

after(async () => {
  await m?.stop();
  await up?.close();
});

function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}

/** A HEADERS frame (END_HEADERS, END_STREAM) for GET / on `stream`, HPACK without indexing or Huffman. */
function getHeaders(stream: number): Buffer {
  const lit = (name: string, value: string): Buffer => Buffer.concat([Buffer.from([0x00, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)]);
  // :method GET (static 2), :scheme http (6), :path / (4), then :authority literal
  const block = Buffer.concat([Buffer.from([0x82, 0x86, 0x84]), lit(':authority', 'svc')]);
  return frame(HEADERS, 0x4 | 0x1, stream, block);
}

interface Outcome { goaway: number | null; closed: boolean }

/** Writes `bytes` (as fast as the socket takes them, reading everything back), until GOAWAY + close or `ms`. */
async function abuse(chunks: Iterable<Buffer>, ms = 10_000): Promise<Outcome> {
  const socket = net.connect(m.port, '127.0.0.1');
  await once(socket, 'connect');
  let got = Buffer.alloc(0);
  let goaway: number | null = null;
  let closed = false;
  socket.on('data', (d: Buffer) => {
    got = Buffer.concat([got, d]);
    // walk complete frames, keep the tail
    let off = 0;
    while (got.length - off >= 9) {
      const len = got.readUIntBE(off, 3);
      if (got.length - off < 9 + len) break;
      if (got[off + 3] === GOAWAY) goaway = got.readUInt32BE(off + 9 + 4);
      off += 9 + len;
    }
    got = got.subarray(off);
  });
  socket.on('error', () => undefined);
  const done = new Promise<void>((resolve) => socket.once('close', () => { closed = true; resolve(); }));
  const timer = new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
  (async () => {
    for (const c of chunks) {
      if (socket.destroyed) return;
      if (!socket.write(c)) await Promise.race([once(socket, 'drain'), done]);
    }
  })().catch(() => undefined);
  await Promise.race([done, timer]);
  socket.destroy();
  return { goaway, closed };
}

async function stillServes(): Promise<void> {
  const r = await h2Request(m.port, { ':method': 'GET', ':path': '/after', ':authority': 'svc' }, null);
  assert.equal(r.status, 200);
  assert.doesNotMatch(m.output(), /"crashed"|uncaught/i);
}

test('a DATA frame on stream 0 (malformed): GOAWAY PROTOCOL_ERROR, connection closed, the worker serves on', async () => {
  const o = await abuse([PREFACE, frame(SETTINGS, 0, 0), frame(DATA, 0, 0, Buffer.from('junk'))]);
  assert.equal(o.goaway, PROTOCOL_ERROR);
  assert.ok(o.closed);
  await stillServes();
});

test('a HEADERS frame whose header block is not HPACK: GOAWAY, the worker serves on', async () => {
  const o = await abuse([PREFACE, frame(SETTINGS, 0, 0), frame(HEADERS, 0x5, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))]);
  assert.ok(o.goaway !== null && o.goaway !== 0, `GOAWAY ${o.goaway}`);
  assert.ok(o.closed);
  await stillServes();
});

test('a broken preface: the connection is closed, the worker serves on', async () => {
  const o = await abuse([Buffer.from('PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n', 'latin1'), frame(SETTINGS, 0, 0)]);
  assert.ok(o.closed);
  await stillServes();
});

/**
 * A flood is cut at once. The GOAWAY (INTERNAL_ERROR) is sent, but closing a socket with the
 * flood still unread makes the kernel answer with a TCP reset, which may discard the GOAWAY on the
 * flooding side before it reads it: it is checked when it arrives.
 */
function floodClosed(o: Outcome): void {
  assert.ok(o.closed);
  assert.ok(o.goaway === null || o.goaway === INTERNAL_ERROR, `GOAWAY ${o.goaway}`);
}

function* repeat(head: Buffer[], body: Buffer, n: number): Generator<Buffer> {
  yield* head;
  // batched: one write carries many frames
  const batch = Buffer.concat(Array.from({ length: 256 }, () => body));
  for (let i = 0; i < n; i += 256) yield batch;
}

test('a SETTINGS flood (100,000 frames, never reading the ACKs): GOAWAY, closed, the worker serves on', { timeout: 30_000 }, async () => {
  const o = await abuse(repeat([PREFACE], frame(SETTINGS, 0, 0), 100_000));
  floodClosed(o);
  assert.ok(o.closed);
  await stillServes();
});

test('a PING flood: GOAWAY, closed, the worker serves on', { timeout: 30_000 }, async () => {
  const o = await abuse(repeat([PREFACE, frame(SETTINGS, 0, 0)], frame(PING, 0, 0, Buffer.alloc(8)), 100_000));
  floodClosed(o);
  assert.ok(o.closed);
  await stillServes();
});

test('rapid reset (HEADERS then RST_STREAM, 20,000 streams): the connection is cut, the worker serves on', { timeout: 30_000 }, async () => {
  function* streams(): Generator<Buffer> {
    yield PREFACE;
    yield frame(SETTINGS, 0, 0);
    for (let batch = 0; batch < 20_000 / 200; batch++) {
      const frames: Buffer[] = [];
      for (let i = 0; i < 200; i++) {
        const id = 1 + 2 * (batch * 200 + i);
        frames.push(getHeaders(id), frame(RST_STREAM, 0, id, Buffer.from([0, 0, 0, 8])));
      }
      yield Buffer.concat(frames);
    }
  }
  const o = await abuse(streams());
  assert.ok(o.closed, 'the flooding connection is closed');
  assert.ok(o.goaway !== null, 'with GOAWAY');
  await stillServes();
});

/** Writes `chunks` one by one (each its own write, after the previous one left) and reads frames until a HEADERS frame on stream 1. */
async function firstResponseHeaders(chunks: Buffer[], ms = 5000): Promise<boolean> {
  const socket = net.connect(m.port, '127.0.0.1');
  await once(socket, 'connect');
  socket.setNoDelay(true);
  let got = Buffer.alloc(0);
  const answered = new Promise<boolean>((resolve) => {
    socket.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      let off = 0;
      while (got.length - off >= 9) {
        const len = got.readUIntBE(off, 3);
        if (got.length - off < 9 + len) break;
        if (got[off + 3] === HEADERS && got.readUInt32BE(off + 5) === 1) resolve(true);
        off += 9 + len;
      }
      got = got.subarray(off);
    });
    socket.once('close', () => resolve(false));
    setTimeout(() => resolve(false), ms).unref();
  });
  socket.on('error', () => undefined);
  for (const c of chunks) {
    await new Promise<void>((resolve) => socket.write(c, () => resolve()));
    await new Promise((r) => setImmediate(r));
  }
  const ok = await answered;
  socket.destroy();
  return ok;
}

test('the h2c preface arriving a byte at a time is still HTTP/2: the request is answered', async () => {
  const bytes = Buffer.concat([PREFACE, frame(SETTINGS, 0, 0), getHeaders(1)]);
  const pieces = Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));
  assert.equal(await firstResponseHeaders(pieces), true);
  await stillServes();
});

test('the preface after an HTTP/1.1 request on the same connection is refused (505) and the connection closed, never misparsed', async () => {
  const socket = net.connect(m.port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(Buffer.concat([Buffer.from('GET /first HTTP/1.1\r\nhost: svc\r\n\r\n', 'latin1'), PREFACE, frame(SETTINGS, 0, 0), getHeaders(1)]));
  let reply = '';
  socket.on('data', (d: Buffer) => { reply += d.toString('latin1'); });
  socket.on('error', () => undefined);
  const closed = await Promise.race([once(socket, 'close').then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5000).unref())]);
  socket.destroy();
  assert.ok(closed, 'meshlet closes the connection');
  const statuses = [...reply.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((x) => x[1]);
  assert.deepEqual(statuses, ['200', '505'], reply);
  assert.match(reply, /connection: close/i);
  await stillServes();
});
