// A connection meshlet closes after a reply lingers (reads and drops the client's input for 2 s) so
// the reply is not lost to a reset; a client flooding refused requests must not make a worker hold
// rate × 2 s sockets. Beyond MAX_LINGERING a closing connection is closed once its reply is flushed:
// the reply still arrives, and /workers reports the lingering count, which never exceeds the bound.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { MAX_LINGERING } from '../../src/downstream/h1/linger.js';
import { serviceEntryYaml, startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { httpUpstream, type Upstream } from '../helpers/upstream.js';

let app: Upstream;
let m: Meshlet;

before(async () => {
  app = await httpUpstream((_req, res) => res.end('ok'));
  m = await startMeshlet(serviceEntryYaml('echo', [{ port: app.port }]));
});

after(async () => {
  await m?.stop();
  await app?.close();
});

const BAD = 'POST /a HTTP/1.1\r\nHost: echo\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n';

/** Sends a request meshlet refuses and resolves with the reply once the server has sent its FIN; the client keeps its side open. */
async function refused(port: number, sockets: net.Socket[]): Promise<string> {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  sockets.push(socket);
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.write(BAD);
  let text = '';
  socket.on('data', (d: Buffer) => { text += d.toString('latin1'); });
  await once(socket, 'end');
  return text;
}

async function lingeringNow(): Promise<number> {
  const body = (await (await request(`http://127.0.0.1:${m.adminPort}/workers`)).body.json()) as { workers: { lingering: number }[] };
  return body.workers.reduce((n, w) => n + w.lingering, 0);
}

test(`a flood of refused requests lingers on at most ${MAX_LINGERING} connections per worker; every reply still arrives`, async () => {
  const sockets: net.Socket[] = [];
  const total = MAX_LINGERING + 200;
  try {
    const replies = await Promise.all(Array.from({ length: total }, () => refused(m.port, sockets)));
    assert.ok(replies.every((r) => r.startsWith('HTTP/1.1 400 ')), 'every client got its 400');
    // the worker reports once a second and its connections linger 2 s: the reports of the next
    // 1.2 s see them (a count above the bound fails; a low one means the report is not live)
    let seen = 0;
    const deadline = Date.now() + 1200;
    while (Date.now() < deadline && seen <= MAX_LINGERING) {
      seen = Math.max(seen, await lingeringNow());
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(seen <= MAX_LINGERING, `lingering ${seen} > ${MAX_LINGERING}`);
    assert.ok(seen >= MAX_LINGERING / 2, `the lingering count is reported (saw ${seen})`);
  } finally {
    for (const s of sockets) s.destroy();
  }
  // closed connections stop lingering at once (not when their timer fires)
  const deadline = Date.now() + 1500;
  let now = await lingeringNow();
  while (now > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    now = await lingeringNow();
  }
  assert.equal(now, 0);
});
