// Keep-alive races: the upstream closes idle connections after 1 s (node's keepAliveTimeout),
// meshlet's pool keeps them longer, and clients send at irregular intervals around that second.
// A request that loses the race (written just as the upstream closes) never reached the app and is
// retried once on a fresh connection: no 502/503 reaches the client.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { Agent, request } from 'undici';
import { serviceEntryYaml, startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { type Upstream } from '../helpers/upstream.js';

let up: Upstream;
let racer: net.Server;
let m: Meshlet;
let closedByUpstream = 0;
let racesLost = 0;

/**
 * The race made deterministic: each connection answers its first request and closes (FIN, no
 * response) when a second one arrives on it, as a server whose idle timer fired just as the
 * request was written. Every reuse of a pooled connection loses the race.
 */
function startRacer(): Promise<net.Server> {
  const server = net.createServer((socket) => {
    let served = 0;
    let buf = '';
    socket.on('error', () => undefined);
    socket.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      while (buf.includes('\r\n\r\n')) {
        buf = buf.slice(buf.indexOf('\r\n\r\n') + 4);
        if (served++ === 0) socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
        else { racesLost++; socket.end(); return; }
      }
    });
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

before(async () => {
  const server = http.createServer({ keepAliveTimeout: 1000 }, (req, res) => { req.resume(); res.end('ok'); });
  server.on('connection', (s) => s.on('close', () => { closedByUpstream++; }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  up = { server, port: (server.address() as { port: number }).port, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };
  racer = await startRacer();
  const racerPort = (racer.address() as net.AddressInfo).port;
  m = await startMeshlet(serviceEntryYaml('ka', [{ port: up.port }]) + serviceEntryYaml('racer', [{ port: racerPort }]),
    { workers: 1, args: ['--upstream-idle-timeout', '30s'] });
});

after(async () => {
  await m?.stop();
  await up?.close();
  racer?.close();
});

test('a pooled connection closed as a request is written: retried once on a fresh one, any method', async () => {
  const agent = new Agent({ connections: 4 });
  const failures: string[] = [];
  for (let i = 0; i < 200; i++) {
    const res = await request(`${m.url}/`, { headers: { host: 'racer' }, dispatcher: agent, method: i % 2 === 0 ? 'GET' : 'DELETE' });
    const body = await res.body.text();
    if (res.statusCode !== 200) failures.push(`${res.statusCode} ${body}`);
  }
  await agent.close();
  assert.deepEqual(failures, []);
  assert.ok(racesLost > 50, `the race was lost ${racesLost} times and never reached the client`);
});

test('2,000 requests at irregular intervals around the upstream keep-alive timeout: zero 502/503', async () => {
  const agent = new Agent({ connections: 8 });
  const statuses = new Map<number, number>();
  let next = 0;
  const TOTAL = 2000;
  // Each lane sends bursts, then idles for 0.97–1.03 s (the load pattern under test, not a wait
  // for an event): requests land on pooled connections the upstream is closing at that moment.
  async function lane(): Promise<void> {
    while (next < TOTAL) {
      for (let i = 0; i < 60 && next < TOTAL; i++) {
        next++;
        const res = await request(`${m.url}/`, { headers: { host: 'ka' }, dispatcher: agent, method: next % 3 === 0 ? 'POST' : 'GET' });
        await res.body.text();
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      }
      await new Promise((r) => setTimeout(r, 970 + Math.random() * 60));
    }
  }
  await Promise.all(Array.from({ length: 8 }, lane));
  await agent.close();
  assert.deepEqual([...statuses.keys()], [200], JSON.stringify([...statuses]));
  assert.equal(statuses.get(200), TOTAL);
  assert.ok(closedByUpstream > 0, 'the upstream did close idle connections during the run');
});
