// Latin1Writer: bytes reach the peer in order with socket.write's around them, a write the kernel
// cannot take at once waits in order and ends in 'drain', sockets it must not touch take
// socket.write, and a write to a peer that is gone fails the socket instead of vanishing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { Latin1Writer } from '../../../src/tcp/write-latin1.js';

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
