// SIGTERM under load (bounded: 50 clients, ~3 s): requests in flight finish, requests on kept-alive
// connections are served with `Connection: close`, no request that reached meshlet is cut, and
// meshlet exits as soon as nothing is in flight — well before the drain timeout.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type http from 'node:http';
import { test } from 'node:test';
import { Client } from 'undici';
import { serviceEntryYaml, startMeshlet, virtualServiceYaml } from '../helpers/meshlet.js';
import { httpUpstream } from '../helpers/upstream.js';

const CLIENTS = 50;
const IDLE_CLIENTS = 10;
const UPSTREAM_MS = 300;
const DRAIN_TIMEOUT_MS = 5000;
/** each load client stops after this many requests, whatever happens (bounds the test) */
const MAX_PER_CLIENT = 40;

interface Outcome {
  id: string;
  sentAt: number;
  doneAt: number;
  status: number;
  connection: string;
  error: string;
}

test('SIGTERM with 50 slow requests in flight and steady load: 0 cut, all 200, Connection: close after SIGTERM, exit soon after the last one', { timeout: 30_000 }, async () => {
  const seen = new Set<string>();
  let inflight = 0;
  let onInflight: (() => void) | null = null;
  const up = await httpUpstream((req: http.IncomingMessage, res: http.ServerResponse) => {
    req.resume();
    seen.add(String(req.headers['x-id']));
    inflight++;
    onInflight?.();
    setTimeout(() => {
      inflight--;
      res.end('ok');
    }, UPSTREAM_MS);
  });
  const m = await startMeshlet(serviceEntryYaml('slow', [{ port: up.port }]) + virtualServiceYaml('direct', 'directResponse: {status: 200, body: {string: direct}}'), {
    workers: 2, args: ['--drain-timeout', `${DRAIN_TIMEOUT_MS}ms`],
  });
  const exited = once(m.proc, 'exit').then(([code]) => ({ code: code as number | null, at: performance.now() }));
  const outcomes: Outcome[] = [];
  let seq = 0;

  async function send(client: Client, host = 'slow'): Promise<Outcome> {
    const id = `r${seq++}`;
    const o: Outcome = { id, sentAt: performance.now(), doneAt: 0, status: 0, connection: '', error: '' };
    try {
      const res = await client.request({ path: '/', method: 'GET', headers: { host, 'x-id': id } });
      await res.body.text();
      o.status = res.statusCode;
      o.connection = String(res.headers.connection ?? '');
    } catch (err) {
      o.error = (err as { code?: string }).code ?? (err as Error).message;
    }
    o.doneAt = performance.now();
    outcomes.push(o);
    return o;
  }

  const clients = Array.from({ length: CLIENTS + IDLE_CLIENTS }, () => new Client(m.url, { pipelining: 1 }));
  const idle = clients.slice(CLIENTS);
  // idle kept-alive connections: one request each, then nothing until after SIGTERM
  for (const o of await Promise.all(idle.map((c) => send(c)))) assert.equal(o.status, 200);

  let stopping = false;
  const load = clients.slice(0, CLIENTS).map(async (client) => {
    for (let i = 0; i < MAX_PER_CLIENT && !stopping; i++) {
      const o = await send(client);
      if (o.error !== '') return; // refused once no listener accepts: this client is done
    }
  });

  // SIGTERM when all 50 load clients have a request at the upstream
  await new Promise<void>((resolve) => {
    onInflight = () => { if (inflight >= CLIENTS) resolve(); };
  });
  onInflight = null;
  const termAt = performance.now();
  m.proc.kill('SIGTERM');
  while (!m.output().includes('"msg":"draining"')) await once(m.proc.stderr!, 'data');
  // a new request on each kept-alive connection that was idle at SIGTERM: served, and told to close;
  // then one answered by meshlet itself (a VirtualService directResponse), once the slow ones show
  // the workers have the drain (the log line comes from the control thread, just before it tells them)
  const late = await Promise.all(idle.slice(1).map((c) => send(c)));
  late.push(await send(idle[0] as Client, 'direct'));
  for (const o of late) {
    assert.equal(o.status, 200, `${o.id}: ${o.error}`);
    assert.equal(o.connection, 'close', o.id);
  }

  const exit = await exited;
  stopping = true;
  await Promise.all(load);
  await Promise.all(clients.map((c) => c.destroy()));
  await up.close();

  assert.equal(exit.code, 0);
  const cut = outcomes.filter((o) => o.error !== '' && seen.has(o.id));
  assert.deepEqual(cut.map((o) => `${o.id} ${o.error}`), [], 'no request that reached the upstream was cut');
  const answered = outcomes.filter((o) => o.error === '');
  assert.ok(answered.every((o) => o.status === 200), 'every answer is 200');
  for (const o of outcomes.filter((x) => x.error !== '')) {
    assert.ok(['ECONNREFUSED', 'ECONNRESET', 'UND_ERR_SOCKET'].includes(o.error), `${o.id}: ${o.error} (a request that never reached meshlet's app side)`);
  }
  const afterTerm = answered.filter((o) => o.sentAt > termAt);
  assert.ok(afterTerm.length >= IDLE_CLIENTS + CLIENTS, `requests were served after SIGTERM (${afterTerm.length})`);
  assert.deepEqual(afterTerm.filter((o) => o.connection !== 'close').map((o) => o.id), [], 'every response to a request sent after SIGTERM says Connection: close');
  const inflightAtTerm = answered.filter((o) => o.sentAt < termAt && o.doneAt > termAt);
  assert.ok(inflightAtTerm.length >= CLIENTS, `the ${CLIENTS} requests in flight at SIGTERM finished (${inflightAtTerm.length})`);
  const last = Math.max(...answered.map((o) => o.doneAt));
  assert.ok(exit.at - termAt < DRAIN_TIMEOUT_MS - 500, `exited ${Math.round(exit.at - termAt)} ms after SIGTERM: before the drain timeout`);
  assert.ok(exit.at - last < 1000, `exited ${Math.round(exit.at - last)} ms after the last response`);
  assert.ok(!m.output().includes('requests still in flight were cut'), 'nothing was cut at the timeout');
});
