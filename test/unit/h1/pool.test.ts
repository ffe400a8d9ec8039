// The h1 pool: the connection cap, FIFO waiting, LIFO reuse of idle connections, the idle
// timeout sweep, and the bounded wait at the cap (both codecs).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { h1Codec } from '../../../src/upstream/h1/index.js';
import type { H1Pool } from '../../../src/upstream/h1/pool.js';
import { undiciCodec } from '../../../src/upstream/undici-codec.js';
import { Collector, POOL_OPTIONS, exchange, request, sleep, startRawServer, type RawRequest } from './helpers.js';
import { flagNames } from '../../../src/stats/flags.js';

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

test('N+5 concurrent requests with connections=N: never more than N sockets, all served', { timeout: 5000 }, async () => {
  const N = 3;
  const srv = await startRawServer((req) => setTimeout(() => req.socket.write(OK), 30));
  const pool = h1Codec.createPool('127.0.0.1', srv.port, { ...POOL_OPTIONS, connections: N }) as H1Pool;
  try {
    const all = Array.from({ length: N + 5 }, (_, i) => exchange(pool, request('GET', `/${i}`, srv.port)));
    assert.ok(pool.connectionCount <= N);
    const outcomes = await Promise.all(all);
    for (const o of outcomes) assert.equal(o.kind, 'end', o.error?.message);
    assert.equal(srv.maxOpen, N);
    assert.equal(srv.accepted, N);
    assert.equal(srv.requests.length, N + 5);
  } finally {
    await pool.destroy();
    await srv.close();
  }
});

test('waiting requests are served in dispatch order (FIFO)', { timeout: 5000 }, async () => {
  const srv = await startRawServer((req) => setTimeout(() => req.socket.write(OK), 5));
  const pool = h1Codec.createPool('127.0.0.1', srv.port, { ...POOL_OPTIONS, connections: 1 });
  try {
    const paths = Array.from({ length: 10 }, (_, i) => `/${i}`);
    await Promise.all(paths.map((p) => exchange(pool, request('GET', p, srv.port))));
    assert.deepEqual(srv.requests.map((r) => r.path), paths);
  } finally {
    await pool.destroy();
    await srv.close();
  }
});

test('idle connections are reused most-recently-released first (LIFO)', { timeout: 5000 }, async () => {
  const srv = await startRawServer((req) => setTimeout(() => req.socket.write(OK), req.path === '/slow' ? 60 : 10));
  const pool = h1Codec.createPool('127.0.0.1', srv.port, { ...POOL_OPTIONS, connections: 2 }) as H1Pool;
  try {
    await Promise.all([exchange(pool, request('GET', '/fast', srv.port)), exchange(pool, request('GET', '/slow', srv.port))]);
    assert.equal(pool.idleCount, 2);
    const slowConn = srv.requests.find((r) => r.path === '/slow')?.connection;
    await exchange(pool, request('GET', '/next', srv.port));
    assert.equal(srv.requests.at(-1)?.connection, slowConn, 'the last released connection served the next request');
  } finally {
    await pool.destroy();
    await srv.close();
  }
});

test('idle timeout closes idle sockets (and only idle ones)', { timeout: 5000 }, async () => {
  const srv = await startRawServer((req) => setTimeout(() => req.socket.write(OK), req.path === '/long' ? 400 : 0));
  const pool = h1Codec.createPool('127.0.0.1', srv.port, { ...POOL_OPTIONS, connections: 2, idleTimeoutMs: 150 }) as H1Pool;
  try {
    const long = exchange(pool, request('GET', '/long', srv.port));
    assert.equal((await exchange(pool, request('GET', '/short', srv.port))).kind, 'end');
    assert.equal(pool.idleCount, 1);
    await sleep(300);
    assert.equal(pool.idleCount, 0, 'the idle connection was swept');
    assert.equal(pool.connectionCount, 1, 'the busy one was not');
    assert.equal(srv.open, 1);
    assert.equal((await long).kind, 'end', 'the long request was not disturbed');
    await sleep(300);
    assert.equal(pool.connectionCount, 0);
    assert.equal(srv.open, 0);
  } finally {
    await pool.destroy();
    await srv.close();
  }
});

test('a request dispatched from onUpstreamEnd reuses the just-released connection', { timeout: 5000 }, async () => {
  const srv = await startRawServer((req) => req.socket.write(OK));
  const pool = h1Codec.createPool('127.0.0.1', srv.port, POOL_OPTIONS);
  try {
    let left = 20;
    await new Promise<void>((resolve, reject) => {
      const next = (): void => {
        void exchange(pool, request('GET', `/${left}`, srv.port)).then((o) => {
          if (o.kind !== 'end') return reject(o.error);
          if (--left === 0) return resolve();
          next();
        });
      };
      next();
    });
    assert.equal(srv.accepted, 1);
  } finally {
    await pool.destroy();
    await srv.close();
  }
});

for (const codec of [h1Codec, undiciCodec]) {
  test(`${codec.name}: at the connection cap a request waits at most the queue timeout, then 503 UO; the busy ones are untouched`, { timeout: 5000 }, async () => {
    const held: RawRequest[] = [];
    let arrived: () => void = () => {};
    const srv = await startRawServer((req) => {
      if (!req.path.startsWith('/held')) return void req.socket.write(OK);
      held.push(req);
      if (held.length === 2) arrived();
    });
    const QUEUE_MS = 150;
    const pool = codec.createPool('127.0.0.1', srv.port, { ...POOL_OPTIONS, connections: 2, queueTimeoutMs: QUEUE_MS });
    try {
      const both = new Promise<void>((r) => { arrived = r; });
      const busy = [0, 1].map((i) => exchange(pool, request('GET', `/held/${i}`, srv.port)));
      await both;
      assert.equal(pool.saturated, true, 'both connections busy');
      const t0 = Date.now();
      const over = new Collector();
      pool.dispatch(request('GET', '/over', srv.port), over);
      const o = await over.done;
      const waited = Date.now() - t0;
      assert.equal(o.kind, 'error');
      assert.equal(flagNames(o.error?.flag ?? 0), 'UO');
      assert.equal(o.error?.status, 503);
      assert.ok(!o.error?.message.includes('127.0.0.1'), o.error?.message);
      assert.ok(waited >= QUEUE_MS - 5 && waited < QUEUE_MS + 500, `failed after ${waited} ms`);
      assert.equal(srv.requests.length, 2, 'the request over the cap never reached the upstream');
      for (const r of held) r.socket.write(OK);
      for (const b of await Promise.all(busy)) assert.equal(b.kind, 'end', b.error?.message);
      assert.equal(pool.saturated, false);
      assert.equal((await exchange(pool, request('GET', '/after', srv.port))).kind, 'end', 'the pool serves again');
    } finally {
      await pool.destroy();
      await srv.close();
    }
  });
}
