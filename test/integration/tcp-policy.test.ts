// DestinationRule policies on proxied TCP connections: connectionPool.tcp (maxConnections holds a
// unit per connection and overflows UO, connectTimeout, idleTimeout, maxConnectionDuration, tcpKeepalive), the
// load balancer (ROUND_ROBIN, consistentHash useSourceIp) and outlier detection ejecting an
// endpoint that refuses connections.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { freePort } from '../helpers/ports.js';
import { blackHole, metricValue, nameServer, tcpExchange, tcpServer, waitForMetrics, type BlackHole, type TcpServer } from '../helpers/tcp.js';

let m: Meshlet;
let a: TcpServer;
let b: TcpServer;
let hold: TcpServer;
let hole: BlackHole;
let held: net.Socket[] = [];
const ports: Record<string, number> = {};

function egress(name: string, port: number): string {
  return `  - port: {number: ${port}, name: ${name}, protocol: TCP}
    hosts: ["*/*"]`;
}

function service(host: string, port: number, endpointPorts: number[]): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${host.replace(/\./g, '-')}}
spec:
  hosts: [${host}]
  resolution: STATIC
  ports: [{number: ${port}, name: tcp, protocol: TCP}]
  endpoints:
${endpointPorts.map((p) => `  - {address: 127.0.0.1, ports: {tcp: ${p}}}`).join('\n')}
---
`;
}

function rule(host: string, policy: string): string {
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${host.replace(/\./g, '-')}}
spec:
  host: ${host}
  trafficPolicy:
    ${policy.trim().replace(/\n/g, '\n    ')}
---
`;
}

before(async () => {
  a = await nameServer('a');
  b = await nameServer('b');
  // keeps every connection open and silent until the client's FIN
  hold = await tcpServer((s) => {
    held.push(s);
    s.on('end', () => s.end());
  });
  hole = await blackHole();
  for (const k of ['limited', 'idle', 'lifetime', 'rr', 'hash', 'outlier', 'keepalive', 'slow']) ports[k] = await freePort();
  const refusing = await freePort();
  const yaml = `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: policy}
spec:
  egress:
${Object.entries(ports).map(([k, p]) => egress(k, p)).join('\n')}
---
${service('limited.test', ports.limited as number, [hold.port])}${rule('limited.test', 'connectionPool: {tcp: {maxConnections: 2}}')}
${service('idle.test', ports.idle as number, [hold.port])}${rule('idle.test', 'connectionPool: {tcp: {idleTimeout: 1s}}')}
${service('lifetime.test', ports.lifetime as number, [hold.port])}${rule('lifetime.test', 'connectionPool: {tcp: {maxConnectionDuration: 1s}}')}
${service('slow.test', ports.slow as number, [hole.port])}${rule('slow.test', 'connectionPool: {tcp: {connectTimeout: 300ms}}')}
${service('keepalive.test', ports.keepalive as number, [hold.port])}${rule('keepalive.test', 'connectionPool: {tcp: {tcpKeepalive: {time: 42s, interval: 7s, probes: 3}}}')}
${service('rr.test', ports.rr as number, [a.port, b.port])}${rule('rr.test', 'loadBalancer: {simple: ROUND_ROBIN}')}
${service('hash.test', ports.hash as number, [a.port, b.port])}${rule('hash.test', 'loadBalancer: {consistentHash: {useSourceIp: true}}')}
${service('outlier.test', ports.outlier as number, [a.port, refusing])}${rule('outlier.test', `loadBalancer: {simple: ROUND_ROBIN}
outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 50}`)}`;
  m = await startMeshlet(yaml, { noSidecar: true, workers: 1 });
});

after(async () => {
  await m?.stop();
  for (const s of held) s.destroy();
  await Promise.all([a, b, hold].map((s) => s?.close()));
  hole?.close();
});

function open(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

function closed(s: net.Socket): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    if (s.destroyed) return resolve(0);
    s.on('error', () => undefined);
    s.once('close', () => resolve(performance.now() - t0));
  });
}

/** Resolves once the upstream has accepted `n` connections in total. */
async function accepted(server: TcpServer, n: number): Promise<void> {
  const deadline = Date.now() + 5000;
  while (server.accepted < n) {
    if (Date.now() > deadline) throw new Error(`upstream accepted ${server.accepted}, not ${n}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('tcp.maxConnections 2: a third concurrent connection is closed at once (UO); a freed unit serves the next one', async () => {
  const base = hold.accepted;
  const one = await open(ports.limited as number);
  const two = await open(ports.limited as number);
  await accepted(hold, base + 2);
  const three = await open(ports.limited as number);
  await closed(three);
  assert.equal(hold.accepted, base + 2, 'the third never reached the upstream');
  await waitForMetrics(m.adminPort, (t) => metricValue(t, 'istio_tcp_connections_closed_total', 'destination_service="limited.test"', 'response_flags="UO"') === 1);
  one.destroy();
  await waitForMetrics(m.adminPort, (t) => metricValue(t, 'istio_tcp_connections_closed_total', 'destination_service="limited.test"', 'response_flags="-"') === 1);
  const four = await open(ports.limited as number);
  await accepted(hold, base + 3);
  two.destroy();
  four.destroy();
});

test('tcp.idleTimeout 1s: an idle connection is closed; maxConnectionDuration 1s closes a busy one', { timeout: 15_000 }, async () => {
  const idle = await open(ports.idle as number);
  const idleMs = await closed(idle);
  assert.ok(idleMs >= 900 && idleMs < 4000, `idle close after ${idleMs} ms`);
  const busy = await open(ports.lifetime as number);
  const chatter = setInterval(() => { if (!busy.destroyed) busy.write('x'); }, 100);
  const busyMs = await closed(busy);
  clearInterval(chatter);
  assert.ok(busyMs >= 900 && busyMs < 4000, `lifetime close after ${busyMs} ms`);
});

test('tcp.tcpKeepalive: meshlet\'s upstream socket has keepalive on, probing after the configured time (interval and probes: unit test)', { timeout: 15_000 }, async (t) => {
  if (spawnSync('ss', ['-V']).status !== 0) return t.skip('ss (iproute2) is not installed');
  const base = hold.accepted;
  const c = await open(ports.keepalive as number);
  await accepted(hold, base + 1);
  const upstreamSide = held[held.length - 1] as net.Socket;
  // meshlet's socket is the peer of the upstream's accepted one: ss shows its keepalive timer
  const out = spawnSync('ss', ['-tno', 'state', 'established', `( sport = :${upstreamSide.remotePort} )`], { encoding: 'utf8' }).stdout;
  assert.match(out, /timer:\(keepalive,(4[0-2]|3\d)sec,0\)/, out);
  c.destroy();
});

test('ROUND_ROBIN alternates endpoints per connection; consistentHash useSourceIp keeps one client on one endpoint', async () => {
  const rr: string[] = [];
  for (let i = 0; i < 6; i++) rr.push((await tcpExchange(ports.rr as number, '')).data.toString());
  assert.equal(rr.filter((x) => x === 'a').length, 3, rr.join());
  assert.equal(rr.filter((x) => x === 'b').length, 3, rr.join());
  const hashed = new Set<string>();
  for (let i = 0; i < 10; i++) hashed.add((await tcpExchange(ports.hash as number, '')).data.toString());
  assert.equal(hashed.size, 1, [...hashed].join());
});

test('tcp.connectTimeout 300ms: an upstream that never answers the SYN: the client\'s connection is closed without bytes at the timeout (not Istio\'s default 10 s), counted UF', { timeout: 15_000 }, async () => {
  const t0 = performance.now();
  const r = await tcpExchange(ports.slow as number, 'anyone?', true);
  const ms = performance.now() - t0;
  assert.equal(r.data.length, 0);
  assert.ok(ms >= 250 && ms < 5000, `closed after ${ms} ms`);
  await waitForMetrics(m.adminPort, (t) => metricValue(t, 'istio_tcp_connections_closed_total', 'destination_service="slow.test"', 'response_flags="UF"') === 1);
});

test('outlier detection: an endpoint refusing connections is ejected; the next connections all reach the healthy one', async () => {
  const first: string[] = [];
  for (let i = 0; i < 2; i++) first.push((await tcpExchange(ports.outlier as number, '')).data.toString());
  assert.deepEqual(first.sort(), ['', 'a'], 'round robin tried both: one refused (closed, no bytes)');
  const next: string[] = [];
  for (let i = 0; i < 8; i++) next.push((await tcpExchange(ports.outlier as number, '')).data.toString());
  assert.deepEqual(next, Array(8).fill('a'));
  await waitForMetrics(m.adminPort, (t) => metricValue(t, 'istio_tcp_connections_closed_total', 'destination_service="outlier.test"', 'response_flags="UF"') === 1);
});
