// The SNI of real ClientHellos (node:tls as the client), read whole, byte by byte, split across
// TLS records; no SNI; and what is not a ClientHello.
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { test } from 'node:test';
import { readSni, SNI_DONE, SNI_INVALID, SNI_MORE, type SniResult } from '../../../src/downstream/tcp/sni.js';

/** The first bytes a TLS client sends (its ClientHello), captured by a plain TCP server. */
async function clientHello(servername: string | undefined): Promise<Buffer> {
  let resolve: (b: Buffer) => void = () => undefined;
  const got = new Promise<Buffer>((r) => { resolve = r; });
  const server = net.createServer((s) => s.once('data', (d: Buffer) => { resolve(d); s.destroy(); }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const c = tls.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', servername, rejectUnauthorized: false });
  c.on('error', () => undefined);
  const hello = await got;
  c.destroy();
  server.close();
  return hello;
}

const out = (): SniResult => ({ state: 0, name: '', error: '' });

test('the server name of a real ClientHello, read whole and one byte at a time', async () => {
  const hello = await clientHello('Shop.Example.COM');
  assert.deepEqual({ ...readSni(hello, out()) }, { state: SNI_DONE, name: 'shop.example.com', error: '' });
  for (let n = 1; n < hello.length; n++) assert.equal(readSni(hello.subarray(0, n), out()).state, SNI_MORE, `prefix of ${n} bytes`);
});

test('a ClientHello split across two TLS records', async () => {
  const hello = await clientHello('split.example');
  const body = hello.subarray(5);
  const cut = 40;
  const record = (b: Buffer): Buffer => Buffer.concat([Buffer.from([0x16, 3, 1, b.length >> 8, b.length & 255]), b]);
  const two = Buffer.concat([record(body.subarray(0, cut)), record(body.subarray(cut))]);
  assert.equal(readSni(two, out()).name, 'split.example');
  assert.equal(readSni(two.subarray(0, 5 + cut + 3), out()).state, SNI_MORE);
});

test('no server name (an IP address): done with an empty name; not TLS: invalid', async () => {
  const hello = await clientHello(undefined);
  assert.deepEqual({ ...readSni(hello, out()) }, { state: SNI_DONE, name: '', error: '' });
  assert.equal(readSni(Buffer.from('GET / HTTP/1.1\r\n\r\n'), out()).state, SNI_INVALID);
  assert.equal(readSni(Buffer.from([0x16, 3, 1, 0, 4, 2, 0, 0, 0]), out()).state, SNI_INVALID, 'a ServerHello is not a ClientHello');
});
