// readDecryptedInto: an accepted TLS socket's decrypted bytes land in the caller's buffer (no
// 'data' event, no Buffer per read), bytes it had buffered before the switch come back first, and
// pause() stops reading as it does for a plaintext socket read through onread.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type net from 'node:net';
import { test } from 'node:test';
import tls from 'node:tls';
import { readDecryptedInto } from '../../../src/downstream/tls/read-into.js';
import { makeCa, makeLeaf } from '../../helpers/certs.js';

const ca = makeCa('read-into');
const leaf = makeLeaf(ca, 'spiffe://cluster.local/ns/t/sa/server');

async function pair(onSecure: (s: tls.TLSSocket) => void): Promise<{ client: tls.TLSSocket; close(): void }> {
  const server = tls.createServer({ key: leaf.keyPem, cert: leaf.certPem }, onSecure);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = tls.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', ca: ca.certPem, checkServerIdentity: () => undefined });
  await once(client, 'secureConnect');
  return { client, close: () => { client.destroy(); server.close(); } };
}

test('decrypted reads land in the caller\'s buffer, in order, with no \'data\' event; the close still ends the socket', async () => {
  const buffer = Buffer.alloc(64 * 1024);
  const got: Buffer[] = [];
  let dataEvents = 0;
  let ended: Promise<unknown> = Promise.resolve();
  let switched: unknown = 'not called';
  const done = new Promise<void>((resolve) => {
    const p = pair((socket) => {
      switched = readDecryptedInto(socket, buffer, function (this: tls.TLSSocket, n: number) {
        assert.equal(this, socket);
        got.push(Buffer.from(buffer.subarray(0, n)));
        if (Buffer.concat(got).length === 300_000) resolve();
        return true;
      });
      socket.on('data', () => { dataEvents++; }); // (would see any chunk still pushed the Readable way)
      ended = once(socket, 'end');
    });
    void p.then(({ client }) => {
      const payload = Buffer.alloc(300_000);
      for (let i = 0; i < payload.length; i++) payload[i] = i % 251;
      client.write(payload);
      void done.then(() => client.end());
    });
  });
  await done;
  await ended;
  assert.notEqual(switched, false, 'this node lets a TLS server socket read into a buffer');
  assert.equal(dataEvents, 0);
  const all = Buffer.concat(got);
  for (let i = 0; i < all.length; i++) if (all[i] !== i % 251) assert.fail(`byte ${i} is ${all[i]}`);
  assert.ok(got.length > 1, 'a 300 kB payload arrives in more than one read');
});

test('bytes read before the switch come back from it, and pause() stops the reads', async () => {
  const buffer = Buffer.alloc(64 * 1024);
  let early: Buffer | null | false = false;
  let reads = 0;
  let onRead = (_n: number): boolean => { reads++; return true; };
  let server: tls.TLSSocket | null = null;
  const { client, close } = await pair((socket) => {
    server = socket;
    socket.pause();
  });
  client.write('first bytes');
  // the server socket buffers them (paused, no listener): wait until it has
  while ((server as tls.TLSSocket | null)?.readableLength !== 11) await new Promise((r) => setImmediate(r));
  const s = server as unknown as tls.TLSSocket;
  early = readDecryptedInto(s, buffer, (n) => onRead(n));
  assert.equal(early === false || early === null ? '' : early.toString(), 'first bytes');
  s.pause();
  client.write('more');
  // a round trip the other way: the client's bytes reached the server's socket meanwhile
  s.write('ping');
  await once(client, 'data');
  assert.equal(reads, 0, 'paused: nothing read');
  const read = new Promise<string>((resolve) => {
    onRead = (n) => { resolve(buffer.subarray(0, n).toString()); return true; };
  });
  s.resume();
  assert.equal(await read, 'more');
  close();
});
