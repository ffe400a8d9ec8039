// readDirect: a plaintext socket reading into its own buffer (net's `onread`) gets each read's byte
// count from its TCP handle: the bytes arrive in order through the callback (`this` the socket),
// pause() stops them, and the end of the stream and errors still come through net ('end', 'close').
// Sockets it must not switch (no handle yet, a socket timeout) keep net's path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { readDirect } from '../../../src/tcp/direct-read.js';

async function listen(): Promise<[net.Server, number, Promise<net.Socket>]> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection').then(([s]) => s as net.Socket);
  return [server, (server.address() as net.AddressInfo).port, accepted];
}

test('reads arrive through the callback in order; pause stops them; the peer\'s end still ends the socket', async () => {
  const [server, port, accepted] = await listen();
  const buffer = Buffer.alloc(64);
  const got: string[] = [];
  let self: unknown = null;
  let wanted = 0;
  let arrived!: () => void;
  let all = new Promise<void>((resolve) => { arrived = resolve; });
  function callback(this: net.Socket, n: number): void {
    self = this;
    got.push(buffer.toString('latin1', 0, n));
    if (got.join('').length >= wanted) arrived();
  }
  const client = net.connect({ port, host: '127.0.0.1', onread: { buffer, callback: () => assert.fail('net\'s path was used') } } as net.NetConnectOpts);
  assert.equal(readDirect(client, callback), true);
  const peer = await accepted;
  await once(client, 'connect');
  wanted = 5;
  peer.write('hello');
  await all;
  assert.equal(self, client);
  assert.equal(got.join(''), 'hello');
  // paused: nothing is read until resume()
  client.pause();
  all = new Promise<void>((resolve) => { arrived = resolve; });
  wanted = 11;
  peer.write(' world');
  const stillPaused = await Promise.race([all.then(() => false), new Promise<boolean>((resolve) => setImmediate(() => setImmediate(() => resolve(true))))]);
  assert.equal(stillPaused, true);
  client.resume();
  await all;
  assert.equal(got.join(''), 'hello world');
  assert.equal(client.bytesRead, 11);
  // the end of the stream goes through net
  const ended = once(client, 'end');
  peer.end();
  await ended;
  client.end();
  await once(client, 'close');
  server.close();
});

test('a socket with no handle yet, or with a socket timeout, is not switched', async () => {
  const [server, port, accepted] = await listen();
  const unconnected = new net.Socket();
  assert.equal(readDirect(unconnected, () => {}), false);
  const timed = net.connect({ port, host: '127.0.0.1', onread: { buffer: Buffer.alloc(8), callback: () => true } } as net.NetConnectOpts);
  timed.setTimeout(60_000);
  assert.equal(readDirect(timed, () => {}), false);
  (await accepted).destroy();
  timed.destroy();
  server.close();
});
