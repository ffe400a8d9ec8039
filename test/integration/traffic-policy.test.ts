// DestinationRule trafficPolicy on real upstreams, with two workers so that every limit and
// counter is shown to hold sidecar-wide: connectionPool (maxConnections + pending → 503 UO,
// maxRetries, maxRequestsPerConnection, idleTimeout), outlier detection (ejection, /clusters,
// metrics, return), consistent hashing across workers and reloads, slow start, peak-EWMA, and
// mirroring of requests with bodies.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Agent, request } from 'undici';
import { controlRequest } from '../../src/control/control-client.js';
import { defaultControlSocket } from '../../src/control/socket-path.js';
import { get, getJson } from '../helpers/http.js';
import { serviceEntryYaml, sidecarYaml, startMeshlet, virtualServiceYaml, type Meshlet } from '../helpers/meshlet.js';
import { freePort } from '../helpers/ports.js';
import { echoUpstream, httpUpstream, type Upstream } from '../helpers/upstream.js';

const ups: Upstream[] = [];
let m: Meshlet;
let port: number;
let socket: string;
let baseYaml: string;

// held: requests parked until release(); seen fires for each arrival
let held: (() => void)[] = [];
let heldActive = 0;
let heldMax = 0;
const heldSeen: (() => void)[] = [];
let flakyFails = true;
const flakyHits = { bad: 0, good: 0 };
let slow503Hits = 0;
let connectionsOpened = 0;
const mirrorSeen: { host: string; size: number }[] = [];
let mirrorWaiter: (() => void) | null = null;
let idleSocketClosed: (() => void) | null = null;
let warmA: Upstream;
const WARM_POLICY = dr('warm', 'loadBalancer: {simple: ROUND_ROBIN, warmupDurationSecs: 2s}');

function dr(name: string, policy: string, meta = ''): string {
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${name}${meta}}
spec:
  host: ${name}
  trafficPolicy:
    ${policy.trim().replace(/\n/g, '\n    ')}
---
`;
}

const vs = virtualServiceYaml;

async function up(handler: Parameters<typeof httpUpstream>[0]): Promise<Upstream> {
  const u = await httpUpstream(handler);
  ups.push(u);
  return u;
}

async function clusters(): Promise<{ name: string; counters: Record<string, number> | null; endpoints: { address: string; health: string }[] }[]> {
  const r = await request(`http://127.0.0.1:${m.adminPort}/clusters`);
  return ((await r.body.json()) as { clusters: never[] }).clusters;
}

/** Polls `check` every 20 ms until it holds (bounded): for state another thread changes. */
async function until(what: string, check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

before(async () => {
  const hold = await up((req, res) => {
    req.resume();
    heldActive++;
    heldMax = Math.max(heldMax, heldActive);
    held.push(() => { heldActive--; res.end('held'); });
    heldSeen.shift()?.();
  });
  const okA = await up((req, res) => { req.resume(); res.end('ok'); });
  const slow503 = await up((req, res) => { req.resume(); slow503Hits++; setTimeout(() => { res.statusCode = 503; res.end('no'); }, 80); });
  const counted = await up((req, res) => { req.resume(); res.end('counted'); });
  counted.server.on('connection', (s) => {
    connectionsOpened++;
    s.once('close', () => idleSocketClosed?.());
  });
  const bad = await up((req, res) => {
    req.resume();
    if (flakyFails) { flakyHits.bad++; res.statusCode = 503; res.end('bad'); } else { flakyHits.good++; res.end('recovered'); }
  });
  const good1 = await up((req, res) => { req.resume(); res.end('good1'); });
  const good2 = await up((req, res) => { req.resume(); res.end('good2'); });
  const echo = await Promise.all(['e0', 'e1', 'e2'].map((n) => echoUpstream(n)));
  ups.push(...echo);
  const fast = await up((req, res) => { req.resume(); res.end('fast'); });
  const slow = await up((req, res) => { req.resume(); setTimeout(() => res.end('slow'), 40); });
  const shadow = await up((req, res) => {
    let size = 0;
    req.on('data', (d: Buffer) => { size += d.length; });
    req.on('end', () => { mirrorSeen.push({ host: req.headers.host ?? '', size }); res.end(); mirrorWaiter?.(); });
  });
  const hashEndpoints = echo.map((u) => ({ port: u.port }));
  warmA = await echoUpstream('warm-a');
  ups.push(warmA);
  baseYaml = [
    serviceEntryYaml('limited', [{ port: hold.port }]),
    dr('limited', 'connectionPool: {tcp: {maxConnections: 1}, http: {http1MaxPendingRequests: 1}}'),
    serviceEntryYaml('retrylimited', [{ port: slow503.port }]),
    dr('retrylimited', 'connectionPool: {http: {maxRetries: 1}}'),
    vs('retrylimited', 'retries: {attempts: 3, retryOn: 5xx}\nroute: [{destination: {host: retrylimited}}]'),
    serviceEntryYaml('perconn', [{ port: counted.port }]),
    dr('perconn', 'connectionPool: {http: {maxRequestsPerConnection: 1, idleTimeout: 300ms}}'),
    serviceEntryYaml('flaky', [{ port: bad.port }, { port: good1.port }, { port: good2.port }]),
    dr('flaky', 'loadBalancer: {simple: ROUND_ROBIN}\noutlierDetection: {consecutive5xxErrors: 2, interval: 100ms, baseEjectionTime: 500ms, maxEjectionPercent: 100}'),
    vs('flaky', 'retries: {attempts: 0}\nroute: [{destination: {host: flaky}}]'),
    serviceEntryYaml('panicky', [{ port: bad.port }, { port: good1.port }, { port: good2.port }]),
    dr('panicky', 'loadBalancer: {simple: ROUND_ROBIN}\noutlierDetection: {consecutive5xxErrors: 1, interval: 60s, baseEjectionTime: 60s, maxEjectionPercent: 100, minHealthPercent: 100}'),
    vs('panicky', 'retries: {attempts: 0}\nroute: [{destination: {host: panicky}}]'),
    serviceEntryYaml('sticky', hashEndpoints),
    dr('sticky', 'loadBalancer: {consistentHash: {httpHeaderName: x-user}}'),
    serviceEntryYaml('maglev', hashEndpoints),
    dr('maglev', 'loadBalancer: {consistentHash: {httpQueryParameterName: u, maglev: {tableSize: 251}}}'),
    serviceEntryYaml('cookie', hashEndpoints),
    dr('cookie', 'loadBalancer: {consistentHash: {httpCookie: {name: stick, ttl: 3600s, path: /}}}'),
    serviceEntryYaml('ewma', [{ port: fast.port }, { port: slow.port }]),
    dr('ewma', 'connectionPool: {http: {maxRetries: 10}}', ', annotations: {meshlet.io/load-balancer: peak-ewma}'),
    serviceEntryYaml('main', [{ port: okA.port }]),
    serviceEntryYaml('warm', [{ port: warmA.port }]),
    serviceEntryYaml('shadow', [{ port: shadow.port }]),
    vs('main', 'mirror: {host: shadow}\nroute: [{destination: {host: main}}]'),
    WARM_POLICY,
  ].join('');
  port = await freePort();
  m = await startMeshlet(baseYaml, { workers: 2, port });
  socket = defaultControlSocket(m.adminPort);
});

after(async () => {
  for (const release of held) release();
  await m?.stop();
  await Promise.all(ups.map((u) => u.close()));
});

/** A request on its own connection, so that requests spread over both workers. */
function fresh(path: string, host: string, headers: Record<string, string> = {}) {
  const agent = new Agent({ connections: 1 });
  return request(`${m.url}${path}`, { headers: { host, ...headers }, dispatcher: agent })
    .then(async (r) => ({ status: r.statusCode, headers: r.headers, body: await r.body.text() }))
    .finally(() => agent.close());
}

test('connectionPool: beyond maxConnections a request waits, beyond the pending limit 503 UO at once — across workers', async () => {
  const arrived = new Promise<void>((r) => heldSeen.push(r));
  const first = fresh('/', 'limited');
  await arrived;
  const second = fresh('/', 'limited');
  await until('one pending request', async () => (await clusters()).find((c) => c.name.includes('||limited.'))?.counters?.pending === 1);
  for (let i = 0; i < 4; i++) {
    const third = await fresh('/', 'limited');
    assert.equal(third.status, 503);
    assert.equal(third.headers['x-meshlet-flags'], 'UO');
  }
  const secondArrived = new Promise<void>((r) => heldSeen.push(r));
  held.shift()?.();
  assert.equal((await first).status, 200);
  await secondArrived;
  held.shift()?.();
  assert.equal((await second).status, 200);
  assert.equal(heldMax, 1, 'the upstream never saw more than maxConnections requests at once');
  const prom = await (await request(`http://127.0.0.1:${m.adminPort}/stats/prometheus`)).body.text();
  assert.match(prom, /meshlet_upstream_overflow_total\{cluster="outbound\|80\|\|limited\.default\.svc\.cluster\.local"\} 4/);
});

test('connectionPool.http.maxRetries: retries in flight are capped sidecar-wide', async () => {
  slow503Hits = 0;
  const replies = await Promise.all([0, 1, 2, 3].map(() => fresh('/', 'retrylimited')));
  for (const r of replies) assert.equal(r.status, 503);
  // without the cap: 4 requests × (1 + 3 retries) = 16 tries; with maxRetries 1 at most one
  // request is retrying at a time
  assert.ok(slow503Hits < 16 && slow503Hits >= 4 + 3, `${slow503Hits} tries`);
  const prom = await (await request(`http://127.0.0.1:${m.adminPort}/stats/prometheus`)).body.text();
  assert.match(prom, /meshlet_upstream_retry_overflow_total\{cluster="outbound\|80\|\|retrylimited\.default\.svc\.cluster\.local"\} [1-9]/);
});

test('connectionPool: maxRequestsPerConnection 1 opens a connection per request; idleTimeout closes idle ones', async () => {
  connectionsOpened = 0;
  for (let i = 0; i < 5; i++) assert.equal((await get(`${m.url}/`, 'perconn')).status, 200);
  assert.equal(connectionsOpened, 5);
  // with keep-alive allowed, the idle connection is closed by meshlet after idleTimeout (300 ms)
  const closed = new Promise<void>((r) => { idleSocketClosed = r; });
  await get(`${m.url}/`, 'perconn');
  await closed;
  idleSocketClosed = null;
});

test('outlierDetection: consecutive 5xx eject an endpoint for every worker; /clusters and metrics show it; it returns after baseEjectionTime', async () => {
  flakyFails = true;
  flakyHits.bad = 0;
  let failures = 0;
  for (let i = 0; i < 30; i++) if ((await fresh('/', 'flaky')).status !== 200) failures++;
  assert.equal(flakyHits.bad, 2, 'ejected after consecutive5xxErrors: 2, whichever worker saw them');
  assert.equal(failures, 2);
  const c = (await clusters()).find((x) => x.name.includes('||flaky.'));
  assert.equal(c?.endpoints.filter((e) => e.health === 'ejected').length, 1);
  const prom = await (await request(`http://127.0.0.1:${m.adminPort}/stats/prometheus`)).body.text();
  assert.match(prom, /meshlet_outlier_ejections_total\{cluster="outbound\|80\|\|flaky\.default\.svc\.cluster\.local"\} 1/);
  // the endpoint recovers; after its ejection time it gets traffic again
  flakyFails = false;
  await until('the endpoint to return', async () => (await clusters()).find((x) => x.name.includes('||flaky.'))?.endpoints.every((e) => e.health === 'healthy') === true);
  flakyHits.good = 0;
  for (let i = 0; i < 30; i++) assert.equal((await fresh('/', 'flaky')).status, 200);
  assert.ok(flakyHits.good >= 5, `returned endpoint got ${flakyHits.good} of 30`);
});

test('outlierDetection minHealthPercent: below it every endpoint is used again (Envoy panic mode)', async () => {
  flakyFails = true;
  flakyHits.bad = 0;
  for (let i = 0; i < 30; i++) await get(`${m.url}/`, 'panicky');
  const c = (await clusters()).find((x) => x.name.includes('||panicky.'));
  assert.equal(c?.endpoints.filter((e) => e.health === 'ejected').length, 1, 'the failing endpoint is ejected');
  // 2 of 3 healthy (67%) < minHealthPercent 100%: the ejected endpoint still gets its share
  assert.ok(flakyHits.bad >= 5, `ejected endpoint got ${flakyHits.bad} of 30 in panic mode`);
  flakyFails = false;
});

async function owners(host: string, keys: string[], header: (k: string) => { path: string; headers: Record<string, string> }): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const k of keys) {
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const { path, headers } = header(k);
      const r = await fresh(path, host, headers);
      seen.add(r.headers['x-upstream'] as string);
    }
    assert.equal(seen.size, 1, `key ${k} went to ${[...seen].join(', ')}`);
    out.set(k, [...seen][0] as string);
  }
  return out;
}

test('consistentHash (ring hash by header, Maglev by query): a key sticks across workers and across a reload that keeps the endpoints', async () => {
  const keys = Array.from({ length: 24 }, (_, i) => `user-${i}`);
  const byHeader = (k: string) => ({ path: '/', headers: { 'x-user': k } });
  const byQuery = (k: string) => ({ path: `/?a=1&u=${k}`, headers: {} });
  const ring = await owners('sticky', keys, byHeader);
  const mag = await owners('maglev', keys, byQuery);
  assert.ok(new Set(ring.values()).size >= 2, 'keys spread over endpoints');
  assert.ok(new Set(mag.values()).size >= 2, 'keys spread over endpoints');
  // reload: an unrelated change (a new VirtualService) — endpoints untouched
  const reply = await controlRequest(socket, { op: 'apply', yaml: sidecarYaml(port) + baseYaml + vs('unrelated', 'route: [{destination: {host: main}}]') });
  assert.equal(reply.ok, true, JSON.stringify(reply));
  assert.deepEqual(await owners('sticky', keys, byHeader), ring);
  assert.deepEqual(await owners('maglev', keys, byQuery), mag);
});

test('consistentHash httpCookie with ttl: the cookie is generated when absent and then sticks', async () => {
  const first = await fresh('/', 'cookie');
  const setCookie = String(first.headers['set-cookie']);
  assert.match(setCookie, /^stick=[0-9a-f]{16}; Max-Age=3600; Path=\/; HttpOnly$/);
  const cookie = setCookie.split(';')[0] as string;
  const seen = new Set<string>();
  for (let i = 0; i < 6; i++) {
    const r = await fresh('/', 'cookie', { cookie: `other=1; ${cookie}` });
    assert.equal(r.headers['set-cookie'], undefined);
    seen.add(r.headers['x-upstream'] as string);
  }
  assert.equal(seen.size, 1);
});

test('peak-EWMA (meshlet.io/load-balancer annotation) sends most traffic to the faster endpoint', async () => {
  let fastCount = 0;
  const agent = new Agent({ connections: 4 });
  for (let round = 0; round < 40; round++) {
    const replies = await Promise.all([0, 1, 2, 3].map(() => request(`${m.url}/`, { headers: { host: 'ewma' }, dispatcher: agent }).then((r) => r.body.text())));
    fastCount += replies.filter((b) => b === 'fast').length;
  }
  await agent.close();
  assert.ok(fastCount > 160 * 0.7, `fast endpoint got ${fastCount} of 160`);
});

test('mirror: a request with a body is mirrored whole (Host -shadow) once the body has arrived', async () => {
  const seen = new Promise<void>((r) => { mirrorWaiter = r; });
  const r = await get(`${m.url}/upload`, 'main', { method: 'POST', body: 'x'.repeat(5000) });
  assert.equal(r.status, 200);
  await seen;
  mirrorWaiter = null;
  assert.deepEqual(mirrorSeen.at(-1), { host: 'main-shadow', size: 5000 });
});

test('slow start: an endpoint added by a reload gets a small share while it warms up', async () => {
  const b = await echoUpstream('warm-b');
  ups.push(b);
  // baseYaml has `warm` with endpoint a since start; the reload adds b
  const yaml = sidecarYaml(port) + baseYaml.replace(serviceEntryYaml('warm', [{ port: warmA.port }]), serviceEntryYaml('warm', [{ port: warmA.port }, { port: b.port }]));
  const reply = await controlRequest(socket, { op: 'apply', yaml });
  assert.equal(reply.ok, true, JSON.stringify(reply));
  let toB = 0;
  for (let i = 0; i < 200; i++) {
    const r = await getJson<{ name: string }>(`${m.url}/`, 'warm');
    if (r.json.name === 'warm-b') toB++;
  }
  // round robin would give b 50%; warming from 10% of its weight it gets far less
  assert.ok(toB > 0 && toB < 200 * 0.35, `new endpoint got ${toB} of 200`);
});
