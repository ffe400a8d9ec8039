// The HTTP/2 upstream pool against real node:http2 servers on loopback: streams multiplexed on one
// connection, the peer's SETTINGS_MAX_CONCURRENT_STREAMS and maxConcurrentStreams (a new
// connection only when the open ones are full), maxRequestsPerConnection, GOAWAY (refused streams
// retried by the attempt layer's policy; the pool moves to a new connection), connect failure,
// the queue timeout at the connection cap, and idle connections closed.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type net from 'node:net';
import { test } from 'node:test';
import { h2Codec } from '../../../src/upstream/h2/index.js';
import type { H2Pool } from '../../../src/upstream/h2/pool.js';
import { flagNames } from '../../../src/stats/flags.js';
import { closedPort, exchange, POOL_OPTIONS, request, sleep } from '../h1/helpers.js';

interface Server {
  port: number;
  sessions: number;
  /** streams open at once, most seen (over all sessions) and per session */
  maxOpen: number;
  maxPerSession: number;
  streams: number;
  close(): Promise<void>;
}

/** Answers each stream after `delayMs` with 200 "ok"; `settings` are its SETTINGS; `onSession` runs per new session. */
async function h2Server(delayMs: number, settings: http2.Settings = {}, onSession?: (s: http2.ServerHttp2Session, n: number) => void): Promise<Server> {
  const server = http2.createServer({ settings });
  const all = new Set<http2.ServerHttp2Session>();
  const out: Server = {
    port: 0, sessions: 0, maxOpen: 0, maxPerSession: 0, streams: 0,
    close: () => new Promise<void>((resolve) => {
      for (const s of all) s.destroy();
      server.close(() => resolve());
    }),
  };
  let open = 0;
  const perSession = new Map<http2.ServerHttp2Session, number>();
  server.on('session', (s) => {
    all.add(s);
    out.sessions++;
    onSession?.(s, out.sessions);
  });
  server.on('stream', (stream) => {
    out.streams++;
    open++;
    const s = stream.session as http2.ServerHttp2Session;
    perSession.set(s, (perSession.get(s) ?? 0) + 1);
    out.maxOpen = Math.max(out.maxOpen, open);
    out.maxPerSession = Math.max(out.maxPerSession, perSession.get(s) as number);
    stream.on('error', () => undefined);
    stream.resume();
    const done = (): void => {
      open--;
      perSession.set(s, (perSession.get(s) as number) - 1);
    };
    setTimeout(() => {
      if (stream.destroyed) return done();
      stream.respond({ ':status': 200 });
      stream.end('ok');
      done();
    }, delayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  out.port = (server.address() as net.AddressInfo).port;
  return out;
}

test('50 concurrent requests share one connection (the peer allows them)', { timeout: 10_000 }, async () => {
  const srv = await h2Server(20);
  const pool = h2Codec.createPool('127.0.0.1', srv.port, POOL_OPTIONS) as H2Pool;
  try {
    const outcomes = await Promise.all(Array.from({ length: 50 }, (_, i) => exchange(pool, request('GET', `/${i}`, srv.port))));
    for (const o of outcomes) {
      assert.equal(o.kind, 'end', o.error?.message);
      assert.equal(o.status, 200);
      assert.equal(o.body.toString(), 'ok');
    }
    assert.equal(srv.sessions, 1);
    assert.equal(pool.connectionCount, 1);
    assert.equal(srv.maxOpen, 50);
  } finally {
    await pool.destroy();
    await srv.close();
  }
});

test('the peer\'s SETTINGS_MAX_CONCURRENT_STREAMS and maxConcurrentStreams bound streams per connection; more connections open up to the cap', { timeout: 10_000 }, async () => {
  const peerLimited = await h2Server(50, { maxConcurrentStreams: 5 });
  const a = h2Codec.createPool('127.0.0.1', peerLimited.port, POOL_OPTIONS) as H2Pool;
  // the first connection is opened before the peer's SETTINGS arrive: wait for it once
  await exchange(a, request('GET', '/warm', peerLimited.port));
  const byPeer = await Promise.all(Array.from({ length: 20 }, () => exchange(a, request('GET', '/', peerLimited.port))));
  assert.ok(byPeer.every((o) => o.kind === 'end'));
  assert.equal(peerLimited.maxPerSession, 5);
  assert.equal(peerLimited.sessions, 4, 'four connections of five streams each');
  await a.destroy();
  await peerLimited.close();

  const open = await h2Server(50);
  const b = h2Codec.createPool('127.0.0.1', open.port, { ...POOL_OPTIONS, connections: 2, maxConcurrentStreams: 3 }) as H2Pool;
  const capped = await Promise.all(Array.from({ length: 12 }, () => exchange(b, request('GET', '/', open.port))));
  assert.ok(capped.every((o) => o.kind === 'end'));
  assert.equal(open.maxPerSession, 3);
  assert.equal(open.sessions, 2, 'never more connections than the cap: the rest waited for a stream');
  await b.destroy();
  await open.close();
});

test('maxRequestsPerConnection: a connection carries that many streams, then the next one takes over', { timeout: 10_000 }, async () => {
  const srv = await h2Server(0);
  const pool = h2Codec.createPool('127.0.0.1', srv.port, { ...POOL_OPTIONS, maxRequestsPerConnection: 4 }) as H2Pool;
  try {
    for (let i = 0; i < 10; i++) assert.equal((await exchange(pool, request('GET', '/', srv.port))).kind, 'end');
    assert.equal(srv.sessions, 3);
  } finally {
    await pool.destroy();
    await srv.close();
  }
});

test('GOAWAY from the peer: streams it did not take are refused (retryable UR), new requests go to a new connection', { timeout: 10_000 }, async () => {
  // the first session is told to go away as soon as its second stream opens: that stream and later ones are refused
  const srv = await h2Server(30, {}, (s, n) => {
    if (n !== 1) return;
    let seen = 0;
    s.on('stream', () => {
      if (++seen === 2) s.goaway(http2.constants.NGHTTP2_NO_ERROR, 1);
    });
  });
  const pool = h2Codec.createPool('127.0.0.1', srv.port, POOL_OPTIONS) as H2Pool;
  try {
    const first = await Promise.all(Array.from({ length: 4 }, () => exchange(pool, request('GET', '/', srv.port))));
    const refused = first.filter((o) => o.kind === 'error');
    assert.equal(first.filter((o) => o.kind === 'end').length, 1, 'stream 1 is answered');
    for (const o of refused) {
      assert.equal(flagNames(o.error?.flag ?? 0), 'UR');
      assert.equal(o.error?.retryable, true, o.error?.message);
      assert.match(o.error?.message ?? '', /refused stream/);
    }
    const next = await exchange(pool, request('GET', '/', srv.port));
    assert.equal(next.kind, 'end');
    assert.equal(srv.sessions, 2);
  } finally {
    await pool.destroy();
    await srv.close();
  }
});

test('connect failure: 503 UF for what waited; the queue timeout at the cap: 503 UO; idle connections close', { timeout: 10_000 }, async () => {
  const port = await closedPort();
  const dead = h2Codec.createPool('127.0.0.1', port, POOL_OPTIONS);
  const refused = await Promise.all([exchange(dead, request('GET', '/', port)), exchange(dead, request('GET', '/', port))]);
  for (const o of refused) {
    assert.equal(o.kind, 'error');
    assert.equal(flagNames(o.error?.flag ?? 0), 'UF');
    assert.match(o.error?.message ?? '', /Connection refused/);
  }
  await dead.destroy();

  const srv = await h2Server(400, { maxConcurrentStreams: 1 });
  const pool = h2Codec.createPool('127.0.0.1', srv.port, { ...POOL_OPTIONS, connections: 1, queueTimeoutMs: 100, idleTimeoutMs: 150 }) as H2Pool;
  try {
    await exchange(pool, request('GET', '/warm', srv.port));
    const [held, waiting] = await Promise.all([exchange(pool, request('GET', '/1', srv.port)), exchange(pool, request('GET', '/2', srv.port))]);
    assert.equal(held.kind, 'end');
    assert.equal(waiting.kind, 'error');
    assert.equal(flagNames(waiting.error?.flag ?? 0), 'UO');
    assert.equal(pool.connectionCount, 1);
    await sleep(400);
    assert.equal(pool.connectionCount, 0, 'the idle connection was closed');
  } finally {
    await pool.destroy();
    await srv.close();
  }
});
