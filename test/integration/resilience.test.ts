// VirtualService resilience on real upstreams that fail on command: timeout (504 UT), retries by
// status and failure (to another endpoint, exhausted → URX), Istio's default retry policy (a POST
// answered 503 is not repeated), perTryTimeout, and fault injection (abort FI, delay).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { serviceEntryYaml, startMeshlet, virtualServiceYaml, type Meshlet } from '../helpers/meshlet.js';
import { get } from '../helpers/http.js';
import { httpUpstream, type Upstream } from '../helpers/upstream.js';
import { request } from 'undici';

let ok: Upstream;
let failing: Upstream;
let hanging: Upstream;
let shadow: Upstream;
let sizer: Upstream;
let m: Meshlet;
const shadowSeen: { host: string; url: string }[] = [];
const hits = { ok: 0, failing: 0, hanging: 0 };

const rule = virtualServiceYaml;

before(async () => {
  ok = await httpUpstream((req, res) => { hits.ok++; req.resume(); res.end('ok'); });
  failing = await httpUpstream((req, res) => { hits.failing++; req.resume(); res.statusCode = 503; res.end('unavailable'); });
  hanging = await httpUpstream((req) => { hits.hanging++; req.resume(); });
  sizer = await httpUpstream((req, res) => {
    let n = 0;
    req.on('data', (d: Buffer) => { n += d.length; });
    req.on('end', () => res.end(String(n)));
  });
  shadow = await httpUpstream((req) => { shadowSeen.push({ host: req.headers.host ?? '', url: req.url ?? '' }); req.resume(); /* never answers */ });
  /** a ServiceEntry with these two endpoints, balanced round robin (so tries alternate) */
  const pair = (name: string, first: Upstream, second: Upstream): string => serviceEntryYaml(name, [{ port: first.port }, { port: second.port }]) + `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${name}}
spec: {host: ${name}, trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}}
---
`;
  m = await startMeshlet([
    serviceEntryYaml('slow', [{ port: hanging.port }]), rule('slow', 'timeout: 150ms\nroute: [{destination: {host: slow}}]'),
    pair('retry5xx', failing, ok), rule('retry5xx', 'retries: {attempts: 3, retryOn: 5xx}\nroute: [{destination: {host: retry5xx}}]'),
    serviceEntryYaml('always503', [{ port: failing.port }]),
    rule('always503', 'retries: {attempts: 2, retryOn: "503"}\nroute: [{destination: {host: always503}}]'),
    serviceEntryYaml('noretry', [{ port: failing.port }]), rule('noretry', 'retries: {attempts: 0}\nroute: [{destination: {host: noretry}}]'),
    serviceEntryYaml('default503', [{ port: failing.port }]), rule('default503', 'route: [{destination: {host: default503}}]'),
    pair('pertry', hanging, ok), rule('pertry', 'retries: {attempts: 2, perTryTimeout: 100ms, retryOn: "5xx,reset"}\nroute: [{destination: {host: pertry}}]'),
    serviceEntryYaml('abort', [{ port: ok.port }]), rule('abort', 'fault: {abort: {percentage: {value: 100}, httpStatus: 418}}\nroute: [{destination: {host: abort}}]'),
    serviceEntryYaml('delay', [{ port: ok.port }]), rule('delay', 'fault: {delay: {percentage: {value: 100}, fixedDelay: 300ms}}\nroute: [{destination: {host: delay}}]'),
    serviceEntryYaml('nopct', [{ port: ok.port }]), rule('nopct', 'fault: {abort: {httpStatus: 500}}\nroute: [{destination: {host: nopct}}]'),
    serviceEntryYaml('shadow-svc', [{ port: shadow.port }]),
    pair('retrybody', failing, sizer), rule('retrybody', 'retries: {attempts: 2, retryOn: 5xx}\nroute: [{destination: {host: retrybody}}]'),
    serviceEntryYaml('bodyfail', [{ port: failing.port }]), rule('bodyfail', 'retries: {attempts: 2, retryOn: 5xx}\nroute: [{destination: {host: bodyfail}}]'),
    serviceEntryYaml('mirrored', [{ port: ok.port }]), rule('mirrored', 'mirror: {host: shadow-svc}\nroute: [{destination: {host: mirrored}}]'),
    serviceEntryYaml('mirror0', [{ port: ok.port }]), rule('mirror0', 'mirror: {host: shadow-svc}\nmirrorPercentage: {value: 0}\nroute: [{destination: {host: mirror0}}]'),
  ].join(''), { args: ['--retry-budget-min-per-second', '100000'] }); // the budget has its own test
});

after(async () => {
  await m?.stop();
  await Promise.all([ok, failing, hanging, shadow, sizer].map((u) => u?.close()));
});

function reset(): void {
  hits.ok = 0;
  hits.failing = 0;
  hits.hanging = 0;
}

test('route timeout → 504 UT', async () => {
  const t0 = Date.now();
  const r = await get(`${m.url}/`, 'slow');
  assert.equal(r.status, 504);
  assert.equal(r.headers['x-meshlet-flags'], 'UT');
  assert.ok(Date.now() - t0 < 2000);
});

test('retryOn 5xx: a 503 from one endpoint is retried on the other', async () => {
  for (let i = 0; i < 10; i++) {
    reset();
    const r = await get(`${m.url}/`, 'retry5xx');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'ok');
    assert.equal(hits.ok, 1);
    assert.ok(hits.failing <= 1, `${hits.failing} tries on the failing endpoint`);
  }
});

test('bare status codes in retryOn; exhausted retries forward the last answer with URX in stats', async () => {
  reset();
  const r = await get(`${m.url}/`, 'always503');
  assert.equal(r.status, 503);
  assert.equal(hits.failing, 3, 'first try + 2 retries');
});

test('attempts: 0 disables retries; Istio\'s default policy does not repeat a POST answered 503', async () => {
  reset();
  assert.equal((await get(`${m.url}/`, 'noretry')).status, 503);
  assert.equal(hits.failing, 1);
  reset();
  assert.equal((await get(`${m.url}/`, 'default503', { method: 'POST', body: 'order' })).status, 503);
  assert.equal(hits.failing, 1);
});

test('perTryTimeout: a hanging endpoint is abandoned after 100 ms and the retry answers', async () => {
  for (let i = 0; i < 4; i++) {
    const r = await get(`${m.url}/`, 'pertry');
    assert.equal(r.status, 200, `try ${i}: ${r.body}`);
  }
});

test('fault abort: 418 with flag FI, the upstream is never contacted', async () => {
  reset();
  const r = await get(`${m.url}/`, 'abort');
  assert.equal(r.status, 418);
  assert.equal(r.headers['x-meshlet-flags'], 'FI');
  assert.equal(r.body, 'fault filter abort\n');
  assert.equal(hits.ok, 0);
});

test('fault delay holds the request for fixedDelay, then forwards it', async () => {
  reset();
  const t0 = Date.now();
  const r = await get(`${m.url}/`, 'delay');
  assert.equal(r.status, 200);
  assert.ok(Date.now() - t0 >= 290, `answered after ${Date.now() - t0} ms`);
  assert.equal(hits.ok, 1);
});

test('the fault filter counts what it did (meshlet_http_filter_total), reported by the workers once a second', async () => {
  await get(`${m.url}/`, 'abort');
  // no event tells when a worker's once-a-second report has arrived: poll, bounded
  let prom = '';
  for (let i = 0; i < 40; i++) {
    prom = await (await request(`http://127.0.0.1:${m.adminPort}/stats/prometheus`)).body.text();
    if (/meshlet_http_filter_total\{filter="fault",action="delay"\} [1-9]/.test(prom) && /meshlet_http_filter_total\{filter="fault",action="abort"\} [1-9]/.test(prom)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.match(prom, /meshlet_http_filter_total\{filter="fault",action="abort"\} [1-9]/);
  assert.match(prom, /meshlet_http_filter_total\{filter="fault",action="delay"\} [1-9]/);
});

test('a fault without percentage is never injected', async () => {
  for (let i = 0; i < 20; i++) assert.equal((await get(`${m.url}/`, 'nopct')).status, 200);
});

test('the retry budget (default 20% of requests, min 10/s per worker) caps retries against a failing upstream', async () => {
  const b = await startMeshlet(serviceEntryYaml('always503', [{ port: failing.port }])
    + rule('always503', 'retries: {attempts: 2, retryOn: "503"}\nroute: [{destination: {host: always503}}]'));
  try {
    reset();
    for (let i = 0; i < 30; i++) assert.equal((await get(`${b.url}/`, 'always503')).status, 503);
    // without a budget: 30 requests × 3 tries = 90; with it at most 10 retries in a second or two
    assert.ok(hits.failing >= 30 && hits.failing <= 30 + 20, `${hits.failing} upstream tries for 30 requests`);
  } finally {
    await b.stop();
  }
});

test('mirror: a shadow copy (Host -shadow) goes out; its hanging upstream neither affects nor slows the answer', async () => {
  shadowSeen.length = 0;
  for (let i = 0; i < 5; i++) {
    const t0 = Date.now();
    const r = await get(`${m.url}/orders/${i}?x=1`, 'mirrored');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'ok');
    assert.ok(Date.now() - t0 < 1000, 'not waiting on the mirror');
  }
  // the copies travel on their own: wait until the shadow upstream has seen all five
  while (shadowSeen.length < 5) await new Promise((r) => shadow.server.once('request', r));
  assert.deepEqual(shadowSeen.map((s) => s.host), Array(5).fill('mirrored-shadow'));
  assert.equal(shadowSeen[4]?.url, '/orders/4?x=1');
  const before = shadowSeen.length;
  for (let i = 0; i < 20; i++) assert.equal((await get(`${m.url}/`, 'mirror0')).status, 200);
  assert.equal(shadowSeen.length, before, 'mirrorPercentage 0 mirrors nothing');
});

test('a request body up to 64 KiB is replayed on retry; a larger one is not retried', async () => {
  const small = 'x'.repeat(10 * 1024);
  for (let i = 0; i < 6; i++) {
    const r = await get(`${m.url}/`, 'retrybody', { method: 'POST', body: small });
    assert.equal(r.status, 200);
    assert.equal(r.body, String(small.length), 'the retry carried the whole body');
  }
  reset();
  assert.equal((await get(`${m.url}/`, 'bodyfail', { method: 'PUT', body: small })).status, 503);
  assert.equal(hits.failing, 3, 'small body: first try + 2 retries');
  reset();
  assert.equal((await get(`${m.url}/`, 'bodyfail', { method: 'PUT', body: 'y'.repeat(100 * 1024) })).status, 503);
  assert.equal(hits.failing, 1, 'a body over 64 KiB is not replayed');
});
