// Backpressure through the h1 codec: pause() stops delivery (and reading the socket), resume()
// delivers the rest in order, and a 50 MB body streams through without the codec buffering it.
import assert from 'node:assert/strict';
import net from 'node:net';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { h1Codec } from '../../../src/upstream/h1/index.js';
import { Collector, POOL_OPTIONS, request, sleep, startRawServer } from './helpers.js';

test('pause() stops data delivery; resume() delivers the rest, then the end', { timeout: 5000 }, async () => {
  const srv = await startRawServer((req) => {
    req.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\n0123456789');
    setTimeout(() => req.socket.write('abcdefghij'), 30);
    setTimeout(() => req.socket.write('ABCDEFGHIJ'), 60);
  });
  const pool = h1Codec.createPool('127.0.0.1', srv.port, POOL_OPTIONS);
  try {
    const c = new Collector();
    let first = true;
    c.onData = (_chunk, col) => {
      if (first) col.controller.pause();
      first = false;
    };
    pool.dispatch(request('GET', '/', srv.port), c);
    await sleep(200);
    assert.equal(c.chunks.length, 1, 'nothing delivered while paused');
    assert.equal(c.endings, 0, 'no end while paused');
    c.controller.resume();
    const o = await c.done;
    assert.equal(o.kind, 'end');
    assert.equal(o.body.toString(), '0123456789abcdefghijABCDEFGHIJ');
  } finally {
    await pool.destroy();
    await srv.close();
  }
});

test('pause() after every chunk, resume() later: many small chunks in one read keep order and bytes', { timeout: 10_000 }, async () => {
  // 100-byte chunks: one socket read holds many of them, so pausing leaves a remainder to keep
  const total = 2 * 1024 * 1024;
  const payload = Buffer.alloc(total);
  for (let i = 0; i < total; i++) payload[i] = i % 251;
  const framed: Buffer[] = [Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n')];
  for (let off = 0; off < total; off += 100) {
    const piece = payload.subarray(off, Math.min(total, off + 100));
    framed.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
  }
  framed.push(Buffer.from('0\r\n\r\n'));
  const srv = await startRawServer((req) => req.socket.write(Buffer.concat(framed)));
  const pool = h1Codec.createPool('127.0.0.1', srv.port, POOL_OPTIONS);
  try {
    const c = new Collector();
    let deliveredWhilePaused = 0;
    let paused = false;
    c.onData = (_chunk, col) => {
      if (paused) deliveredWhilePaused++;
      paused = true;
      col.controller.pause();
      setImmediate(() => {
        paused = false;
        col.controller.resume();
      });
    };
    pool.dispatch(request('GET', '/', srv.port), c);
    const o = await c.done;
    assert.equal(o.kind, 'end', o.error?.message);
    assert.equal(deliveredWhilePaused, 0);
    assert.ok(o.body.equals(payload), 'same bytes in the same order');
  } finally {
    await pool.destroy();
    await srv.close();
  }
});

test('a 50 MB body streams through; while paused the upstream is held back by TCP, not buffered by the codec', { timeout: 30_000 }, async () => {
  const TOTAL = 50 * 1024 * 1024;
  const piece = Buffer.alloc(64 * 1024, 0x61);
  let sent = 0;
  const srv = await startRawServer((req) => {
    const s: net.Socket = req.socket;
    s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${TOTAL}\r\n\r\n`);
    const pump = (): void => {
      while (sent < TOTAL) {
        const n = Math.min(piece.length, TOTAL - sent);
        sent += n;
        if (!s.write(n === piece.length ? piece : piece.subarray(0, n))) {
          s.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
  const pool = h1Codec.createPool('127.0.0.1', srv.port, POOL_OPTIONS);
  try {
    const c = new Collector();
    let received = 0;
    let pausedAt = -1;
    // count instead of keeping 50 MB of chunks
    c.onUpstreamData = (chunk: Buffer) => {
      received += chunk.length;
      if (pausedAt < 0 && received >= 1024 * 1024) {
        pausedAt = received;
        c.controller.pause();
      }
    };
    pool.dispatch(request('GET', '/big', srv.port), c);
    while (pausedAt < 0) await sleep(10);
    await sleep(300);
    const sent1 = sent;
    await sleep(300);
    const sent2 = sent;
    assert.equal(received, pausedAt, 'no delivery while paused');
    assert.equal(sent2, sent1, 'the upstream is stalled while paused');
    assert.ok(sent1 < TOTAL / 2, `upstream got ${sent1} bytes out: TCP holds it back`);
    const heapBefore = process.memoryUsage().arrayBuffers;
    c.controller.resume();
    const o = await c.done;
    assert.equal(o.kind, 'end', o.error?.message);
    assert.equal(received, TOTAL);
    assert.ok(process.memoryUsage().arrayBuffers - heapBefore < 32 * 1024 * 1024, 'the body was not accumulated');
    console.log(`# 50 MB: paused after ${pausedAt} bytes; upstream stalled at ${sent1} bytes sent`);
  } finally {
    await pool.destroy();
    await srv.close();
  }
});

test('request body: while the upstream does not read, the codec stops pulling from the body (socket.write backpressure)', { timeout: 20_000 }, async () => {
  const TOTAL = 32 * 1024 * 1024;
  let received = 0;
  let reading = false;
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    s.once('data', (first: Buffer) => {
      received += first.length - (first.indexOf('\r\n\r\n') + 4);
      s.pause(); // stop reading after the head
      setTimeout(() => {
        reading = true;
        s.on('data', (d: Buffer) => {
          received += d.length;
          if (received >= TOTAL) s.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone');
        });
        s.resume();
      }, 500);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  let pulled = 0;
  const piece = Buffer.alloc(64 * 1024, 0x63);
  const body = new Readable({
    highWaterMark: 64 * 1024,
    read() {
      if (pulled >= TOTAL) return void this.push(null);
      pulled += piece.length;
      this.push(piece);
    },
  });
  const pool = h1Codec.createPool('127.0.0.1', port, POOL_OPTIONS);
  try {
    const c = new Collector();
    pool.dispatch(request('POST', '/upload', port, [], body, TOTAL), c);
    await sleep(300);
    assert.equal(reading, false);
    const pulledWhileBlocked = pulled;
    await sleep(100);
    assert.equal(pulled, pulledWhileBlocked, 'pulling stalled');
    assert.ok(pulledWhileBlocked < TOTAL / 2, `pulled ${pulledWhileBlocked} bytes while the upstream was not reading`);
    const o = await c.done;
    assert.equal(o.kind, 'end', o.error?.message);
    assert.equal(o.body.toString(), 'done');
    assert.equal(received, TOTAL);
    console.log(`# request body: ${pulledWhileBlocked} bytes pulled while the upstream was not reading`);
  } finally {
    await pool.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
});
