// Connection-level failures through the h1 codec: refused (UF), reset before the response (UC) or
// during it (UR), idle keep-alive sockets closed by the upstream (noticed, or raced: UC retryable), abort, and
// request bodies that fail or are cut short by an early response.
import assert from 'node:assert/strict';
import net from 'node:net';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { downstreamAborted } from '../../../src/http/errors.js';
import { h1Codec } from '../../../src/upstream/h1/index.js';
import type { H1Pool } from '../../../src/upstream/h1/pool.js';
import {
  Collector, POOL_OPTIONS, bodyStream, closedPort, exchange, request, sleep, startRawServer,
} from './helpers.js';
import { flagNames } from '../../../src/stats/flags.js';

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

test('refused port → 503 UF, retryable; Envoy\'s words in the message, the address only in the detail', { timeout: 5000 }, async () => {
  const port = await closedPort();
  const pool = h1Codec.createPool('127.0.0.1', port, POOL_OPTIONS);
  try {
    const results = await Promise.all([0, 1, 2, 3, 4, 5].map(() => exchange(pool, request('GET', '/', port))));
    for (const o of results) {
      assert.equal(o.kind, 'error');
      assert.equal(flagNames(o.error?.flag ?? 0), 'UF');
      assert.equal(o.error?.status, 503);
      assert.equal(o.error?.retryable, true);
      assert.equal(o.error?.message, 'upstream connect error or disconnect/reset before headers. reset reason: remote connection failure, '
        + 'transport failure reason: delayed connect error: Connection refused');
      assert.match(o.error?.detail ?? '', new RegExp(`ECONNREFUSED 127\\.0\\.0\\.1:${port}`));
    }
  } finally {
    await pool.destroy();
  }
});

test('connect timeout → UF, retryable (a listener whose accept queue is full)', { timeout: 10_000 }, async () => {
  // A worker listens with backlog 1 and blocks its event loop: two connections fill the accept
  // queue, after which the kernel drops SYNs and connect() hangs.
  const worker = new Worker(`
    const net = require('node:net');
    const { parentPort } = require('node:worker_threads');
    const s = net.createServer(() => {});
    s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
      parentPort.postMessage(s.address().port);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 4000);
    });`, { eval: true });
  const port = await new Promise<number>((resolve) => worker.once('message', resolve));
  const fillers: net.Socket[] = [];
  for (let i = 0; i < 2; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    fillers.push(s);
  }
  await sleep(50);
  const pool = h1Codec.createPool('127.0.0.1', port, { connections: 2, idleTimeoutMs: 1000, connectTimeoutMs: 200, maxRequestsPerConnection: 0, queueTimeoutMs: 0 });
  try {
    const t0 = Date.now();
    const o = await exchange(pool, request('GET', '/', port));
    const took = Date.now() - t0;
    assert.equal(o.kind, 'error');
    assert.equal(flagNames(o.error?.flag ?? 0), 'UF');
    assert.equal(o.error?.retryable, true);
    assert.equal(o.error?.message, 'upstream connect error or disconnect/reset before headers. reset reason: connection timeout');
    assert.match(o.error?.detail ?? '', /connect timeout/);
    assert.ok(took >= 190 && took < 1000, `timed out after ${took} ms`);
  } finally {
    await pool.destroy();
    for (const s of fillers) s.destroy();
    await worker.terminate();
  }
});

test('accepted, then reset before any response byte → 503 UC (fresh connection: not retryable)', { timeout: 5000 }, async () => {
  const srv = await startRawServer((req) => req.socket.resetAndDestroy());
  const pool = h1Codec.createPool('127.0.0.1', srv.port, POOL_OPTIONS);
  try {
    const o = await exchange(pool, request('GET', '/', srv.port));
    assert.equal(o.kind, 'error');
    assert.equal(flagNames(o.error?.flag ?? 0), 'UC');
    assert.equal(o.error?.status, 503);
    assert.equal(o.error?.message, 'upstream connect error or disconnect/reset before headers. reset reason: connection termination');
    assert.equal(o.error?.retryable, false);
  } finally {
    await pool.destroy();
    await srv.close();
  }
});

test('accepted, then closed (FIN) before any response byte → UC', { timeout: 5000 }, async () => {
  const srv = await startRawServer((req) => req.socket.end());
  const pool = h1Codec.createPool('127.0.0.1', srv.port, POOL_OPTIONS);
  try {
    const o = await exchange(pool, request('GET', '/', srv.port));
    assert.equal(flagNames(o.error?.flag ?? 0), 'UC');
  } finally {
    await pool.destroy();
    await srv.close();
  }
});

test('reset mid-body → UR after headers', { timeout: 5000 }, async () => {
  const srv = await startRawServer((req) => {
    req.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial');
    setTimeout(() => req.socket.resetAndDestroy(), 30);
  });
  const pool = h1Codec.createPool('127.0.0.1', srv.port, POOL_OPTIONS);
  try {
    const o = await exchange(pool, request('GET', '/', srv.port));
    assert.equal(o.kind, 'error');
    assert.equal(flagNames(o.error?.flag ?? 0), 'UR');
    assert.deepEqual(o.events, ['start', 'headers', 'data', 'error']);
  } finally {
    await pool.destroy();
    await srv.close();
  }
});

test('an idle keep-alive connection closed by the upstream is noticed: the next request does not fail', { timeout: 5000 }, async () => {
  const srv = await startRawServer((req) => {
    req.socket.write(OK);
    setTimeout(() => req.socket.end(), 20); // idle close, without Connection: close
  });
  const pool = h1Codec.createPool('127.0.0.1', srv.port, POOL_OPTIONS) as H1Pool;
  try {
    const first = await exchange(pool, request('GET', '/1', srv.port));
    assert.equal(first.kind, 'end');
    await sleep(100);
    assert.equal(pool.connectionCount, 0, 'the closed idle connection left the pool');
    const second = await exchange(pool, request('GET', '/2', srv.port));
    assert.equal(second.kind, 'end', second.error?.message);
    assert.equal(srv.accepted, 2);
  } finally {
    await pool.destroy();
    await srv.close();
  }
});

test('an idle connection closed as the next request is written → UC retryable', { timeout: 5000 }, async () => {
  let n = 0;
  const srv = await startRawServer((req) => {
    if (n++ === 0) req.socket.write(OK);
    else req.socket.destroy(); // the close "races" the reuse: no response byte on a reused connection
  });
  const pool = h1Codec.createPool('127.0.0.1', srv.port, POOL_OPTIONS);
  try {
    assert.equal((await exchange(pool, request('GET', '/1', srv.port))).kind, 'end');
    const o = await exchange(pool, request('GET', '/2', srv.port));
    assert.equal(srv.accepted, 1, 'the second request went over the reused connection');
    assert.equal(o.kind, 'error');
    assert.equal(flagNames(o.error?.flag ?? 0), 'UC');
    assert.equal(o.error?.retryable, true);
    // and the pool recovers
    n = 0;
    assert.equal((await exchange(pool, request('GET', '/3', srv.port))).kind, 'end');
  } finally {
    await pool.destroy();
    await srv.close();
  }
});

test('abort() mid-body: no callback after it, the connection is destroyed, the pool keeps working', { timeout: 5000 }, async () => {
  const srv = await startRawServer((req) => {
    if (req.path === '/slow') req.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nfirst');
    else req.socket.write(OK);
  });
  const pool = h1Codec.createPool('127.0.0.1', srv.port, POOL_OPTIONS);
  try {
    const c = new Collector();
    c.onData = (_chunk, col) => col.controller.abort(downstreamAborted());
    pool.dispatch(request('GET', '/slow', srv.port), c);
    await sleep(100);
    assert.deepEqual(c.outcome.events, ['start', 'headers', 'data']);
    assert.equal(c.endings, 0);
    assert.equal(srv.open, 0, 'the upstream connection was closed');
    const o = await exchange(pool, request('GET', '/ok', srv.port));
    assert.equal(o.kind, 'end');
    assert.equal(srv.accepted, 2);
  } finally {
    await pool.destroy();
    await srv.close();
  }
});

test('abort() from onUpstreamStart and while queued: nothing is sent, nothing is called', { timeout: 5000 }, async () => {
  const srv = await startRawServer((req) => setTimeout(() => req.socket.write(OK), 50));
  const pool = h1Codec.createPool('127.0.0.1', srv.port, { ...POOL_OPTIONS, connections: 1 }) as H1Pool;
  try {
    const early = new Collector();
    early.onUpstreamStart = function (ctl) { Collector.prototype.onUpstreamStart.call(this, ctl); ctl.abort(downstreamAborted()); };
    pool.dispatch(request('GET', '/early', srv.port), early);
    const first = exchange(pool, request('GET', '/first', srv.port));
    const queued = new Collector();
    pool.dispatch(request('GET', '/queued', srv.port), queued);
    assert.equal(pool.queued, 2, '/first waits for the connection being opened, /queued behind it');
    queued.controller.abort(downstreamAborted());
    assert.equal(pool.queued, 1);
    assert.equal((await first).kind, 'end');
    await sleep(100);
    assert.deepEqual(early.outcome.events, ['start']);
    assert.deepEqual(queued.outcome.events, ['start']);
    assert.deepEqual(srv.requests.map((r) => r.path), ['/first']);
  } finally {
    await pool.destroy();
    await srv.close();
  }
});

test('early response (413) while the body is still streaming: ends with 413, body sending stops, connection not reused', { timeout: 5000 }, async () => {
  let headSeen = 0;
  const srv = await startRawServer(() => undefined);
  const net = await import('node:net');
  // a server that answers as soon as it has the head, without reading the body
  const early = net.createServer((s) => {
    s.once('data', () => {
      headSeen++;
      s.write('HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8\r\n\r\ntoo big!');
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => early.listen(0, '127.0.0.1', r));
  const port = (early.address() as import('node:net').AddressInfo).port;
  let pulled = 0;
  const endless = new Readable({
    read() {
      pulled++;
      setTimeout(() => this.push(Buffer.alloc(16 * 1024, 0x62)), 1);
    },
  });
  const pool = h1Codec.createPool('127.0.0.1', port, POOL_OPTIONS) as H1Pool;
  try {
    const o = await exchange(pool, request('POST', '/upload', port, [], endless, -1));
    assert.equal(o.kind, 'end', o.error?.message);
    assert.equal(o.status, 413);
    assert.equal(o.body.toString(), 'too big!');
    assert.equal(headSeen, 1);
    assert.equal(pool.connectionCount, 0, 'not reused');
    assert.ok(pulled > 0);
  } finally {
    endless.destroy();
    await pool.destroy();
    await srv.close();
    await new Promise<void>((r) => early.close(() => r()));
  }
});

test('request body failing mid-way → one error, connection closed', { timeout: 5000 }, async () => {
  const srv = await startRawServer((req) => req.socket.write(OK));
  const pool = h1Codec.createPool('127.0.0.1', srv.port, POOL_OPTIONS) as H1Pool;
  try {
    let i = 0;
    const failing = new Readable({
      read() {
        if (i++ === 0) this.push('some bytes');
        else setTimeout(() => this.destroy(new Error('client went away')), 10);
      },
    });
    const o = await exchange(pool, request('POST', '/', srv.port, [], failing, 100));
    assert.equal(o.kind, 'error');
    assert.equal(flagNames(o.error?.flag ?? 0), 'DPE');
    await sleep(20);
    assert.equal(pool.connectionCount, 0);
  } finally {
    await pool.destroy();
    await srv.close();
  }
});

test('request body longer or shorter than its Content-Length → error, nothing reused', { timeout: 5000 }, async () => {
  const srv = await startRawServer((req) => req.socket.write(OK));
  const pool = h1Codec.createPool('127.0.0.1', srv.port, POOL_OPTIONS);
  try {
    const longer = await exchange(pool, request('POST', '/', srv.port, [], bodyStream(['12345', '678']), 6));
    assert.equal(longer.kind, 'error');
    const shorter = await exchange(pool, request('POST', '/', srv.port, [], bodyStream(['123']), 6));
    assert.equal(shorter.kind, 'error');
    const fine = await exchange(pool, request('POST', '/', srv.port, [], bodyStream(['123', '456']), 6));
    assert.equal(fine.kind, 'end', fine.error?.message);
    assert.equal(srv.requests.at(-1)?.body.toString(), '123456');
  } finally {
    await pool.destroy();
    await srv.close();
  }
});

test('pool destroy() fails in-flight (UC) and queued (UF) exchanges once each; dispatch after close() fails UF', { timeout: 5000 }, async () => {
  const srv = await startRawServer(() => undefined); // never answers
  const pool = h1Codec.createPool('127.0.0.1', srv.port, { ...POOL_OPTIONS, connections: 1 });
  const a = new Collector();
  const b = new Collector();
  pool.dispatch(request('GET', '/a', srv.port), a);
  pool.dispatch(request('GET', '/b', srv.port), b);
  await sleep(50);
  await pool.destroy();
  const [oa, ob] = await Promise.all([a.done, b.done]);
  assert.equal(flagNames(oa.error?.flag ?? 0), 'UC');
  assert.equal(flagNames(ob.error?.flag ?? 0), 'UF');
  await sleep(20);
  assert.equal(a.endings + b.endings, 2);
  const late = await exchange(pool, request('GET', '/late', srv.port));
  assert.equal(flagNames(late.error?.flag ?? 0), 'UF');
  await srv.close();
});

test('close() lets in-flight exchanges finish, then closes every connection', { timeout: 5000 }, async () => {
  const srv = await startRawServer((req) => setTimeout(() => req.socket.write(OK), 50));
  const pool = h1Codec.createPool('127.0.0.1', srv.port, { ...POOL_OPTIONS, connections: 2 }) as H1Pool;
  try {
    const all = [1, 2, 3, 4].map((n) => exchange(pool, request('GET', `/${n}`, srv.port)));
    await sleep(10);
    const closed = pool.close();
    const outcomes = await Promise.all(all);
    for (const o of outcomes) assert.equal(o.kind, 'end');
    await closed;
    assert.equal(pool.connectionCount, 0);
    await sleep(20);
    assert.equal(srv.open, 0);
  } finally {
    await srv.close();
  }
});
