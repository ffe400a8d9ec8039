// Latin1Writer: bytes reach the peer in order with socket.write's around them, a write the kernel
// cannot take at once waits in order and ends in 'drain', sockets it must not touch take
// socket.write, and a write to a peer that is gone fails the socket instead of vanishing.
// On a TLS socket the writer's write owns the TLSWrap's one write until it completes: strings
// written meanwhile join it, and the socket's own writes, cork/uncork and end wait in call order
// (Node aborts the process on a second write into a busy TLSWrap).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { Latin1Writer } from '../../../src/tcp/write-latin1.js';
import { makeCa, makeLeaf } from '../../helpers/certs.js';

const writers = new WeakMap<net.Socket, Latin1Writer>();
/** The socket's one writer (as a connection owns one). */
function out(socket: net.Socket): Latin1Writer {
  let w = writers.get(socket);
  if (w === undefined) writers.set(socket, (w = new Latin1Writer(socket)));
  return w;
}

/** A connected pair on loopback: [client side, server side]. */
async function pair(): Promise<[net.Socket, net.Socket, net.Server]> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const [accepted] = (await once(server, 'connection')) as [net.Socket];
  await once(client, 'connect');
  return [client, accepted, server];
}

function collect(s: net.Socket): { text: () => string; length: () => number } {
  const chunks: Buffer[] = [];
  let n = 0;
  s.on('data', (c: Buffer) => { chunks.push(c); n += c.length; });
  return { text: () => Buffer.concat(chunks).toString('latin1'), length: () => n };
}

test('small writes go straight to the kernel (true), in order with socket.write before and after', async () => {
  const [a, b, server] = await pair();
  const got = collect(b);
  a.write('one,', 'latin1');
  assert.equal(out(a).write('two,'), true);
  assert.equal(out(a).write('thr\xe9e,'), true);
  a.write('four');
  a.end();
  await once(b, 'end');
  assert.equal(got.text(), 'one,two,thr\xe9e,four');
  b.destroy();
  server.close();
});

test('a write the kernel cannot take waits (false), later writes keep their order, and the socket emits drain once', async () => {
  const [a, b, server] = await pair();
  b.pause(); // the peer reads nothing: the kernel buffers fill
  const big = 'x'.repeat(1 << 20);
  let results: boolean[] = [];
  let drains = 0;
  a.on('drain', () => { drains++; });
  for (let i = 0; i < 16; i++) results.push(out(a).write(`${i}:${big}`));
  assert.equal(results[0], true, 'the first MB fits the socket buffers');
  assert.ok(results.includes(false), 'some write had to wait');
  const firstFalse = results.indexOf(false);
  assert.ok(results.slice(firstFalse).every((r) => r === false), 'once one waits, every later one reports waiting');
  const drained = once(a, 'drain');
  const got = collect(b);
  b.resume();
  await drained;
  assert.equal(drains, 1);
  results = [];
  a.end('end');
  await once(b, 'end');
  const text = got.text();
  assert.equal(text.length, 10 * 2 + 6 * 3 + 16 * big.length + 'end'.length);
  let at = 0;
  for (let i = 0; i < 16; i++) {
    const head = `${i}:`;
    assert.equal(text.slice(at, at + head.length), head, `write ${i} in its place`);
    at += head.length + big.length;
  }
  assert.equal(text.slice(at), 'end');
  b.destroy();
  server.close();
});

test('a corked socket, or one with bytes queued in its Writable, goes through socket.write (order kept)', async () => {
  const [a, b, server] = await pair();
  const got = collect(b);
  a.cork();
  a.write('a');
  assert.equal(out(a).write('b'), true); // queued behind the cork by socket.write
  a.uncork();
  assert.equal(out(a).write('c'), true);
  a.end();
  await once(b, 'end');
  assert.equal(got.text(), 'abc');
  b.destroy();
  server.close();
});

test('writing to a connection the peer reset fails the socket with an error', async () => {
  const [a, b, server] = await pair();
  const failed = once(a, 'error').then(([err]) => err as NodeJS.ErrnoException);
  const closed = once(b, 'close');
  b.resetAndDestroy();
  await closed;
  // the kernel may take a write or two before it has seen the reset; then a write fails
  for (let i = 0; i < 50 && !a.destroyed; i++) {
    out(a).write('after reset');
    await new Promise<void>((resolve) => setTimeout(resolve, 5));
  }
  const err = await failed;
  assert.ok(err instanceof Error, 'the socket reports the failed write');
  assert.match(String(err.code), /^E[A-Z]+$/, 'with its system error code, as net reports one');
  assert.ok(a.destroyed);
  server.close();
});

const ca = makeCa('write-latin1 test CA');
const leaf = makeLeaf(ca, 'spiffe://cluster.local/ns/default/sa/writer', { ips: ['127.0.0.1'] });

/** A TLS connection on loopback, handshake done: [client side, server side]. */
async function tlsPair(opts: tls.TlsOptions = {}): Promise<[tls.TLSSocket, tls.TLSSocket, tls.Server]> {
  const server = tls.createServer({ key: leaf.keyPem, cert: leaf.certPem, ...opts });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'secureConnection') as Promise<[tls.TLSSocket]>;
  const client = tls.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', ca: ca.certPem });
  await once(client, 'secureConnect');
  const [b] = await accepted;
  return [client, b, server];
}

for (const side of ['server', 'client'] as const) {
  test(`TLS (${side} side): writes while the handle's write is in flight join it or wait behind the socket's own, in call order`, async () => {
    const [c, s, server] = await tlsPair();
    const [a, b] = side === 'server' ? [s, c] : [c, s];
    const got = collect(b);
    const w = out(a);
    assert.equal(w.write('1,'), true);
    assert.equal(w.tlsBusy, true, 'the first write went to the TLS handle itself');
    assert.equal(w.write('2,'), true); // joins
    a.write(Buffer.from('3,')); // the socket's Writable waits for the handle
    assert.equal(w.write('4,'), true); // behind the socket's write
    a.cork();
    a.write('5,');
    assert.equal(w.write('6,'), true);
    a.uncork();
    const finished = once(a, 'finish');
    a.end('7');
    await once(b, 'end');
    assert.equal(got.text(), '1,2,3,4,5,6,7');
    await finished;
    b.destroy();
    server.close();
  });
}

test('TLS: end() right after a write shuts down after it; a later round trip writes through the handle again', async () => {
  const [a, b, server] = await tlsPair();
  const got = collect(b);
  const w = out(a);
  // a round trip per write: each is the handle's only one
  for (let i = 0; i < 20; i++) {
    const echoed = once(b, 'data');
    assert.equal(w.tlsBusy, false, 'the last write completed: this one goes to the handle, not joined');
    assert.equal(w.write(`r${i};`), true);
    assert.equal(w.tlsBusy, true);
    await echoed;
  }
  w.write('last');
  a.end();
  await once(b, 'end');
  assert.equal(got.text(), Array.from({ length: 20 }, (_, i) => `r${i};`).join('') + 'last');
  b.destroy();
  server.close();
});

test('TLS: joined writes past the high-water mark report false, and drain follows once they are written, in order', async () => {
  const [a, b, server] = await tlsPair();
  b.pause();
  const w = out(a);
  const big = 'y'.repeat(64 * 1024);
  const results: boolean[] = [];
  for (let i = 0; i < 8; i++) results.push(w.write(`${i}:${big}`));
  assert.equal(results[0], true);
  assert.ok(results.slice(1).every((r) => r === false), `later writes wait: ${results.join(',')}`);
  // writes from the drain handler, its next tick and a microtask (still inside the completion's callback scope)
  a.once('drain', () => {
    w.write('|drain');
    process.nextTick(() => w.write('|tick'));
    queueMicrotask(() => w.write('|micro'));
  });
  const drained = once(a, 'drain');
  const got = collect(b);
  b.resume();
  await drained;
  await new Promise<void>((resolve) => setImmediate(resolve));
  a.end();
  await once(b, 'end');
  const text = got.text();
  const tail = '|drain|tick|micro';
  assert.equal(text.length, 8 * (2 + big.length) + tail.length);
  for (let i = 0; i < 8; i++) assert.equal(text.slice(i * (2 + big.length), i * (2 + big.length) + 2), `${i}:`);
  assert.equal(text.slice(-tail.length), tail);
  b.destroy();
  server.close();
});

test("TLS: a socket destroyed while the handle's write is in flight closes without an error; the socket's own waiting writes and end still call back", async () => {
  const [a, b, server] = await tlsPair();
  b.resume();
  const w = out(a);
  let errors = 0;
  a.on('error', () => { errors++; });
  w.write('going');
  w.write(' joined');
  const calls: string[] = [];
  a.write(Buffer.from(' held'), (err) => calls.push(`held ${(err as NodeJS.ErrnoException | null)?.code ?? 'ok'}`));
  a.write(Buffer.from(' buffered'), (err) => calls.push(`buffered ${(err as NodeJS.ErrnoException | null)?.code ?? 'ok'}`));
  a.end(() => calls.push('end'));
  assert.equal(w.tlsBusy, true);
  a.destroy();
  await once(a, 'close');
  await new Promise<void>((resolve) => setImmediate(resolve));
  assert.deepEqual(calls.map((c) => c.split(' ')[0]), ['held', 'buffered', 'end'], `every callback ran: ${calls.join('; ')}`);
  assert.ok(calls.slice(0, 2).every((c) => !c.endsWith(' ok')), `the writes failed: ${calls.join('; ')}`);
  assert.equal(w.write('after'), false, 'a write after destroy goes to socket.write, which refuses it');
  await once(b, 'close');
  assert.equal(errors, 0);
  server.close();
});

test("TLS: an empty socket.write in flight (the Writable's length 0) keeps the writer off the handle until it completes", async () => {
  const [a, b, server] = await tlsPair();
  const got = collect(b);
  const w = out(a);
  a.write('');
  assert.equal(w.write(''), true);
  assert.equal(w.write('x'), true);
  assert.equal(w.tlsBusy, false, 'the socket\'s empty write held the handle: the writer took socket.write');
  a.end('y');
  await once(b, 'end');
  assert.equal(got.text(), 'xy');
  b.destroy();
  server.close();
});

test('TLS 1.2: writes while the server renegotiates (its empty writes hold the handle) keep their order', async () => {
  const [c, s, server] = await tlsPair({ maxVersion: 'TLSv1.2' });
  const got = collect(c);
  const w = out(s);
  const wrote: string[] = [];
  s.write('', () => {
    // renegotiate()'s own empty writes may be with the handle now
    w.write('b,');
    wrote.push('b');
  });
  const renegotiated = new Promise<Error | null>((resolve) => s.renegotiate({}, resolve));
  assert.equal(await renegotiated, null);
  w.write('c');
  const ended = once(c, 'end');
  s.end();
  await ended;
  assert.deepEqual(wrote, ['b']);
  assert.equal(got.text(), 'b,c');
  c.destroy();
  server.close();
});

test('TLS: a peer that resets fails the writer\'s write with an error, and a socket write waiting behind it calls back', async () => {
  const [a, b, server] = await tlsPair();
  const failed = once(a, 'error').then(([err]) => err as NodeJS.ErrnoException);
  const calls: string[] = [];
  const closed = once(b, 'close');
  b.destroy();
  await closed;
  const big = 'z'.repeat(1 << 20);
  for (let i = 0; i < 50 && !a.destroyed; i++) {
    out(a).write(big);
    a.write(Buffer.from('after'), (err) => calls.push((err as NodeJS.ErrnoException | null)?.code ?? 'ok'));
    await new Promise<void>((resolve) => setTimeout(resolve, 5));
  }
  const err = await failed;
  assert.ok(err instanceof Error, 'the socket reports the failed write');
  assert.ok(a.destroyed);
  await new Promise<void>((resolve) => setImmediate(resolve));
  assert.ok(calls.length > 0 && calls.some((c) => c !== 'ok'), `the waiting socket writes called back: ${calls.join(', ')}`);
  server.close();
});
