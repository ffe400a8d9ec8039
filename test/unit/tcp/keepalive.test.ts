// TCP keepalive through meshlet's native addon: Node 20 sets only the idle time; the probe
// interval and count (DestinationRule tcpKeepalive) are set on the socket itself.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { keepaliveOf, setKeepalive } from '../../../src/downstream/listen-socket.js';

test('setKeepalive sets keepalive on, with time, interval and probes (seconds, rounded up); 0 keeps the OS default', async () => {
  const server = net.createServer((s) => s.on('error', () => undefined));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const s = net.connect(port, '127.0.0.1');
  await new Promise<void>((r) => s.once('connect', r));
  const [, , osInterval, osProbes] = keepaliveOf(s);
  setKeepalive(s, { timeMs: 42_000, intervalMs: 6_500, probes: 3 });
  assert.deepEqual(keepaliveOf(s), [1, 42, 7, 3]);
  const t = net.connect(port, '127.0.0.1');
  await new Promise<void>((r) => t.once('connect', r));
  setKeepalive(t, { timeMs: 30_000, intervalMs: 0, probes: 0 });
  assert.deepEqual(keepaliveOf(t), [1, 30, osInterval, osProbes]);
  s.destroy();
  t.destroy();
  server.close();
});
