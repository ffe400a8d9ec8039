// The per-worker connection cap of an endpoint (--max-connections-per-endpoint): 260 requests held
// by one endpoint fill its 256 connections; a request over the cap waits at most the queue
// timeout and gets 503 UO, and requests the service can send to a second endpoint are served
// at once — whatever the balancer (ROUND_ROBIN here would otherwise pick the full endpoint every
// other time). One worker, so the cap is reached exactly.
import assert from 'node:assert/strict';
import type http from 'node:http';
import { after, before, test } from 'node:test';
import { Agent, request } from 'undici';
import { serviceEntryYaml, startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { httpUpstream, type Upstream } from '../helpers/upstream.js';

const CAP = 256;
const STUCK = 260;
const QUEUE_MS = 300;

let stuck: Upstream;
let fine: Upstream;
let m: Meshlet;
const held: http.ServerResponse[] = [];
let onHeld: (() => void) | null = null;
let fineHits = 0;
const agent = new Agent({ connections: null, pipelining: 1 });

before(async () => {
  stuck = await httpUpstream((req, res) => {
    req.resume();
    held.push(res);
    onHeld?.();
  });
  (stuck.server as http.Server).maxConnections = 2 * STUCK;
  fine = await httpUpstream((req, res) => {
    fineHits++;
    req.resume();
    res.end('fine');
  });
  m = await startMeshlet(
    serviceEntryYaml('one', [{ port: stuck.port }])
    + serviceEntryYaml('two', [{ port: stuck.port }, { port: fine.port }])
    + `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: two}
spec:
  host: two
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
---
`,
    { args: ['--max-connections-per-endpoint', String(CAP), '--upstream-queue-timeout', `${QUEUE_MS}ms`] },
  );
});

after(async () => {
  for (const res of held) res.end();
  await agent.close();
  await m?.stop();
  await Promise.all([stuck, fine].map((u) => u?.close()));
});

async function send(host: string): Promise<{ status: number; flags: string; body: string; ms: number }> {
  const t0 = Date.now();
  const res = await request(`${m.url}/`, { headers: { host }, dispatcher: agent });
  const body = await res.body.text();
  return { status: res.statusCode, flags: String(res.headers['x-meshlet-flags'] ?? ''), body, ms: Date.now() - t0 };
}

test(`${STUCK} requests stuck on one endpoint: the ones over the cap get 503 UO within the queue timeout, the service's other endpoint serves at once`, { timeout: 30_000 }, async () => {
  const capReached = new Promise<void>((resolve) => {
    onHeld = () => { if (held.length === CAP) resolve(); };
  });
  // the requests over the cap are answered while the others stay held: collect answers as they come
  const answered: Awaited<ReturnType<typeof send>>[] = [];
  let overDone: () => void = () => {};
  const allOver = new Promise<void>((resolve) => { overDone = resolve; });
  const stuckRequests = Array.from({ length: STUCK }, () => send('one').then((r) => {
    answered.push(r);
    if (answered.length === STUCK - CAP) overDone();
    return r;
  }));
  await capReached;
  await allOver;
  for (const r of answered) {
    assert.equal(r.status, 503);
    assert.equal(r.flags, 'UO');
    assert.equal(r.body, 'upstream connect error or disconnect/reset before headers. reset reason: overflow');
    assert.ok(r.ms >= QUEUE_MS - 20 && r.ms < QUEUE_MS + 1000, `answered after ${r.ms} ms`);
  }
  assert.equal(held.length, CAP, 'the stuck endpoint never saw more than the cap');

  // ROUND_ROBIN over {stuck, fine}: every request goes to the endpoint that can take it now
  for (let i = 0; i < 6; i++) {
    const r = await send('two');
    assert.equal(r.status, 200, `${r.status} ${r.flags} ${r.body}`);
    assert.equal(r.body, 'fine');
    assert.ok(r.ms < QUEUE_MS, `served after ${r.ms} ms: it did not wait behind the full endpoint`);
  }
  assert.equal(fineHits, 6);
  assert.equal(held.length, CAP);

  // released: the held requests complete, and the endpoint takes new ones again
  onHeld = null;
  for (const res of held.splice(0)) res.end('released');
  assert.equal((await Promise.all(stuckRequests)).filter((r) => r.status === 200).length, CAP);
  assert.equal(answered.length, STUCK, 'every request was answered once');
  onHeld = () => held.shift()?.end('again');
  const again = await send('one');
  assert.equal(again.status, 200);
});
