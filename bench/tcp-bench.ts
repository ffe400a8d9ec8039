// `npm run bench:tcp`: the traffic that is not request/response, in one run with the proxies pinned
// to CPU 0 and the load and upstreams to CPU 1, targets interleaved round by round (the machine is
// shared: a slow moment hits every target of that round, and the per-round ratios stay paired):
//   - TCP bulk MB/s (bench/tcpload: 64 KiB writes, every byte drained) and TCP connection rate
//     (connect, 1 byte, half-close, close): direct vs meshlet vs HAProxy `mode tcp`
//   - WebSocket echo messages/s (ws on both ends): direct vs meshlet
//   - redis-benchmark SET/GET ops/s: direct vs meshlet (Debian's redis-server)
// Prints and saves bench/results/tcp-bench-<date>.md. Not a test.
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { positiveEnv, medianOf } from './measure.js';
import { CAN_PIN, freePort, hasCommand, httpStatus, launch, runToEnd, stopAll, stopChildrenOnExit, waitUntil, type Child } from './proc.js';
import { treeUsage } from './proc-stats.js';
import { fixed, machineLines, writeReport } from './report.js';
import { PROXY_CPU, UPSTREAM_CPU } from './servers.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DURATION_S = positiveEnv('BENCH_DURATION', 5);
const ROUNDS = positiveEnv('BENCH_ROUNDS', 3);
const BULK_CONNECTIONS = positiveEnv('BENCH_BULK_CONNECTIONS', 4);
const CONNECT_CONCURRENCY = positiveEnv('BENCH_CONNECT_CONCURRENCY', 16);
const WS_CONNECTIONS = positiveEnv('BENCH_WS_CONNECTIONS', 16);
const WS_DEPTH = positiveEnv('BENCH_WS_DEPTH', 8);
const WS_SIZE = positiveEnv('BENCH_WS_SIZE', 64);
const REDIS_REQUESTS = positiveEnv('BENCH_REDIS_REQUESTS', 100_000);
const WS_HOST = 'ws-echo';

type Target = 'direct' | 'meshlet' | 'haproxy';

/** `value` per second; `units`: how much was moved in all (MB, connections, messages, requests) */
interface Sample { value: number; units: number; cpuMs: number | null }
/** workload → target → one sample per round */
type Results = Map<string, Map<Target, Sample[]>>;

function mtime(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return -1;
  }
}

async function buildTcpload(): Promise<string> {
  const src = path.join(REPO_ROOT, 'bench/tcpload/tcpload.c');
  const bin = path.join(REPO_ROOT, 'dist/bench/tcpload/tcpload');
  if (mtime(bin) >= mtime(src)) return bin;
  const cc = ['cc', 'gcc', 'clang'].find(hasCommand);
  if (cc === undefined) throw new Error('bench:tcp needs a C compiler for bench/tcpload/tcpload.c');
  const r = await runToEnd(cc, null, 'sh', ['-c', `mkdir -p "${path.dirname(bin)}" && ${cc} -O2 -Wall -o "${bin}" "${src}"`], 60_000);
  if (r.code !== 0) throw new Error(`cc failed:\n${r.output()}`);
  return bin;
}

function waitLine(child: Child, pattern: RegExp): Promise<void> {
  return waitUntil(child, () => Promise.resolve(pattern.test(child.stdout())));
}

function waitPort(child: Child, port: number): Promise<void> {
  return waitUntil(child, () => new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  }));
}

function meshletConfig(ports: { tcp: number; ws: number; redis: number }, upstream: { sink: number; ws: number; redis: number }): string {
  const entry = (name: string, port: number, protocol: string, target: number): string => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}}
spec:
  hosts: [${name}]
  resolution: STATIC
  ports: [{number: ${port}, name: p, protocol: ${protocol}}]
  endpoints: [{address: 127.0.0.1, ports: {p: ${target}}}]
---
`;
  return `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: bench-tcp}
spec:
  egress:
  - port: {number: ${ports.tcp}, protocol: TCP, name: tcp-sink}
    hosts: ['*/*']
  - port: {number: ${ports.ws}, protocol: HTTP, name: http-ws}
    hosts: ['*/*']
  - port: {number: ${ports.redis}, protocol: REDIS, name: redis}
    hosts: ['*/*']
---
${entry('tcp-sink', ports.tcp, 'TCP', upstream.sink)}${entry(WS_HOST, 80, 'HTTP', upstream.ws)}${entry('redis', ports.redis, 'REDIS', upstream.redis)}`;
}

function haproxyConfig(port: number, sinkPort: number): string {
  return `global
  nbthread 1
  maxconn 4000
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option splice-auto
listen bench
  bind 127.0.0.1:${port}
  server sink 127.0.0.1:${sinkPort}
`;
}

function lastJson(out: string): Record<string, number | string> {
  const j = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as Record<string, number | string>;
  if (typeof j.error === 'string') throw new Error(j.error);
  return j;
}

/** One measured run: the proxy's CPU time around it (null for direct). */
async function sample(proxy: Child | null, run: () => Promise<[number, number]>): Promise<Sample> {
  const before = proxy === null ? null : treeUsage(proxy.pid).cpuMs;
  const [value, units] = await run();
  const cpuMs = proxy === null || before === null ? null : treeUsage(proxy.pid).cpuMs - before;
  return { value, units, cpuMs };
}

function put(results: Results, workload: string, target: Target, s: Sample): void {
  let byTarget = results.get(workload);
  if (byTarget === undefined) results.set(workload, (byTarget = new Map()));
  const list = byTarget.get(target) ?? [];
  list.push(s);
  byTarget.set(target, list);
  process.stderr.write(`bench:tcp: ${workload} ${target}: ${fixed(s.value, 1)}\n`);
}

function table(workload: string, unit: string, cpuUnit: { label: string; per: number } | null, byTarget: Map<Target, Sample[]>): string {
  const targets = (['direct', 'meshlet', 'haproxy'] as Target[]).filter((t) => byTarget.has(t));
  const rounds = Math.max(...targets.map((t) => byTarget.get(t)?.length ?? 0));
  const ratios: [string, Target, Target][] = [['meshlet ÷ direct', 'meshlet', 'direct']];
  if (targets.includes('haproxy')) ratios.push(['meshlet ÷ HAProxy', 'meshlet', 'haproxy'], ['HAProxy ÷ direct', 'haproxy', 'direct']);
  const head = `| round | ${targets.map((t) => `${t} ${unit}`).join(' | ')} | ${ratios.map((r) => r[0]).join(' | ')}${cpuUnit === null ? '' : ` | ${targets.filter((t) => t !== 'direct').map((t) => `${t} ${cpuUnit.label}`).join(' | ')}`} |`;
  const cols = targets.length + ratios.length + (cpuUnit === null ? 0 : targets.length - 1);
  const lines = [head, `| ---: |${' ---: |'.repeat(cols)}`];
  const ratioOf = (i: number, a: Target, b: Target): number => (byTarget.get(a)?.[i]?.value ?? NaN) / (byTarget.get(b)?.[i]?.value ?? NaN);
  const cpuOf = (s: Sample | undefined): number => (s === undefined || s.cpuMs === null || cpuUnit === null ? NaN : (s.cpuMs * cpuUnit.per) / s.units);
  for (let i = 0; i < rounds; i++) {
    const cells = [
      ...targets.map((t) => fixed(byTarget.get(t)?.[i]?.value, 1)),
      ...ratios.map(([, a, b]) => fixed(ratioOf(i, a, b), 2)),
      ...(cpuUnit === null ? [] : targets.filter((t) => t !== 'direct').map((t) => fixed(cpuOf(byTarget.get(t)?.[i]), 2))),
    ];
    lines.push(`| ${i + 1} | ${cells.join(' | ')} |`);
  }
  const med = [
    ...targets.map((t) => fixed(medianOf((byTarget.get(t) ?? []).map((s) => s.value)), 1)),
    ...ratios.map(([, a, b]) => `**${fixed(medianOf(Array.from({ length: rounds }, (_, i) => ratioOf(i, a, b))), 2)}**`),
    ...(cpuUnit === null ? [] : targets.filter((t) => t !== 'direct').map((t) => fixed(medianOf((byTarget.get(t) ?? []).map(cpuOf)), 2))),
  ];
  lines.push(`| median | ${med.join(' | ')} |`);
  return `### ${workload}\n\n${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  stopChildrenOnExit();
  const startedAt = new Date();
  const machine = machineLines();
  const tcpload = await buildTcpload();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshlet-bench-tcp-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const hasRedis = hasCommand('redis-server') && hasCommand('redis-benchmark');
  const hasHaproxy = hasCommand('haproxy');
  const results: Results = new Map();
  try {
    // upstreams, on the load CPU
    const sinkPort = await freePort();
    const sink = launch('tcp-sink', UPSTREAM_CPU, tcpload, ['server', '-p', String(sinkPort)]);
    await waitLine(sink, /listening/);
    const wsPort = await freePort();
    const wsServer = launch('ws-echo', UPSTREAM_CPU, process.execPath, [path.join(REPO_ROOT, 'dist/bench/ws-load.js'), 'server', String(wsPort)]);
    await waitLine(wsServer, /listening/);
    const redisPort = await freePort();
    if (hasRedis) {
      const redis = launch('redis-server', UPSTREAM_CPU, 'redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
      await waitPort(redis, redisPort);
    }
    // proxies, on the proxy CPU
    const ports = { tcp: await freePort(), ws: await freePort(), redis: await freePort() };
    const adminPort = await freePort();
    const config = path.join(dir, 'meshlet.yaml');
    writeFileSync(config, meshletConfig(ports, { sink: sinkPort, ws: wsPort, redis: redisPort }));
    const meshlet = launch('meshlet', PROXY_CPU, process.execPath, [path.join(REPO_ROOT, 'dist/src/cli/main.js'), 'run', '-c', config,
      '--workers', '1', '--admin', `127.0.0.1:${adminPort}`, '--log-level', 'warn']);
    await waitUntil(meshlet, async () => (await httpStatus(adminPort, '/ready')) === 200);
    let haproxy: Child | null = null;
    const haPort = await freePort();
    if (hasHaproxy) {
      const cfg = path.join(dir, 'haproxy.cfg');
      writeFileSync(cfg, haproxyConfig(haPort, sinkPort));
      haproxy = launch('haproxy', PROXY_CPU, 'haproxy', ['-db', '-f', cfg]);
      await waitPort(haproxy, haPort);
    } else process.stderr.write('bench:tcp: haproxy is not installed, skipping it\n');

    const tcpTargets: [Target, number, Child | null][] = [['direct', sinkPort, null], ['meshlet', ports.tcp, meshlet]];
    if (haproxy !== null) tcpTargets.push(['haproxy', haPort, haproxy]);
    const tool = async (args: string[]): Promise<Record<string, number | string>> => {
      const r = await runToEnd('tcpload', UPSTREAM_CPU, tcpload, args, (DURATION_S + 30) * 1000);
      if (r.code !== 0) throw new Error(`tcpload ${args.join(' ')} exited ${r.code}: ${r.output()}`);
      return lastJson(r.stdout());
    };
    const wsClient = async (port: number): Promise<[number, number]> => {
      const r = await runToEnd('ws-load', UPSTREAM_CPU, process.execPath, [path.join(REPO_ROOT, 'dist/bench/ws-load.js'), 'client', String(port), WS_HOST,
        String(WS_CONNECTIONS), String(WS_DEPTH), String(WS_SIZE), String(DURATION_S)], (DURATION_S + 30) * 1000);
      if (r.code !== 0) throw new Error(`ws-load exited ${r.code}: ${r.output()}`);
      const j = lastJson(r.stdout());
      return [Number(j.per_s), Number(j.messages)];
    };
    const redisBench = async (port: number): Promise<[number, number]> => {
      const r = await runToEnd('redis-benchmark', UPSTREAM_CPU, 'redis-benchmark', ['-p', String(port), '-t', 'set,get', '-n', String(REDIS_REQUESTS), '-c', '50', '--csv'], 120_000);
      if (r.code !== 0) throw new Error(`redis-benchmark exited ${r.code}: ${r.output()}`);
      const rps = (test: string): number => Number(new RegExp(`^"${test}","([\\d.]+)"`, 'm').exec(r.stdout())?.[1] ?? NaN);
      return [rps('SET'), rps('GET')];
    };
    // warm-up: every path once
    await tool(['bulk', '-p', String(ports.tcp), '-d', '1', '-c', '1']);
    await wsClient(ports.ws);
    const viaMeshlet = (target: Target): Child | null => (target === 'meshlet' ? meshlet : null);
    for (let round = 1; round <= ROUNDS; round++) {
      process.stderr.write(`bench:tcp: round ${round} of ${ROUNDS}\n`);
      for (const [target, port, proxy] of tcpTargets) {
        put(results, 'TCP bulk', target, await sample(proxy, async () => {
          const j = await tool(['bulk', '-p', String(port), '-d', String(DURATION_S), '-c', String(BULK_CONNECTIONS)]);
          return [Number(j.mb_per_s), Number(j.bytes) / 1048576];
        }));
      }
      for (const [target, port, proxy] of tcpTargets) {
        put(results, 'TCP connections', target, await sample(proxy, async () => {
          const j = await tool(['connect', '-p', String(port), '-d', String(DURATION_S), '-c', String(CONNECT_CONCURRENCY)]);
          return [Number(j.per_s), Number(j.connections)];
        }));
      }
      for (const [target, port, proxy] of [['direct', wsPort, null], ['meshlet', ports.ws, meshlet]] as [Target, number, Child | null][]) {
        put(results, 'WebSocket echo', target, await sample(proxy, () => wsClient(port)));
      }
      if (hasRedis) {
        for (const [target, port] of [['direct', redisPort], ['meshlet', ports.redis]] as [Target, number][]) {
          let get = 0;
          const set = await sample(viaMeshlet(target), async () => {
            const [s, g] = await redisBench(port);
            get = g;
            return [s, 2 * REDIS_REQUESTS]; // (the CPU time covers both tests)
          });
          put(results, 'redis-benchmark SET', target, set);
          put(results, 'redis-benchmark GET', target, { value: get, units: REDIS_REQUESTS, cpuMs: null });
        }
      }
    }
  } finally {
    await stopAll();
  }
  const sections = [
    results.has('TCP bulk') ? table('TCP bulk', 'MB/s', { label: 'CPU s per GiB', per: 1.024 }, results.get('TCP bulk') as Map<Target, Sample[]>) : '',
    results.has('TCP connections') ? table('TCP connections', 'conn/s', { label: 'CPU µs per connection', per: 1000 }, results.get('TCP connections') as Map<Target, Sample[]>) : '',
    results.has('WebSocket echo') ? table('WebSocket echo', 'msg/s', { label: 'CPU µs per message', per: 1000 }, results.get('WebSocket echo') as Map<Target, Sample[]>) : '',
    results.has('redis-benchmark SET') ? table('redis-benchmark SET', 'ops/s', { label: 'CPU µs per op (SET and GET)', per: 1000 }, results.get('redis-benchmark SET') as Map<Target, Sample[]>) : '',
    results.has('redis-benchmark GET') ? table('redis-benchmark GET', 'ops/s', null, results.get('redis-benchmark GET') as Map<Target, Sample[]>) : '',
  ].filter((s) => s !== '');
  const setup = [
    `- pinning: ${CAN_PIN ? 'meshlet (--workers 1) and HAProxy (nbthread 1, option splice-auto) on CPU 0; upstreams and load on CPU 1 (taskset)' : 'none (no taskset, or one CPU)'}`,
    `- ${ROUNDS} rounds, targets interleaved in each; ${DURATION_S} s per run; load average after the run: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    `- TCP bulk: bench/tcpload, ${BULK_CONNECTIONS} connections writing 64 KiB blocks to a discarding server, every byte drained before the clock stops`,
    `- TCP connections: bench/tcpload, ${CONNECT_CONCURRENCY} loops of connect, 1 byte, half-close, wait for the close`,
    `- WebSocket echo: ws on both ends, ${WS_CONNECTIONS} connections × ${WS_DEPTH} messages of ${WS_SIZE} bytes in flight, no compression`,
    `- redis-benchmark: ${REDIS_REQUESTS} requests per test, 50 clients, SET and GET`,
    '- CPU: the proxy process\'s user + system time during the run, per unit of what it moved',
  ];
  const body = `# meshlet TCP / WebSocket / Redis bench\n\n${[...machine, ...setup].join('\n')}\n\n${sections.join('\n')}`;
  process.stdout.write(`\n${sections.join('\n')}`);
  process.stdout.write(`\nbench:tcp: wrote ${path.relative(REPO_ROOT, writeReport(REPO_ROOT, startedAt, body, 'tcp-bench'))}\n`);
}

main().catch(async (err: Error) => {
  process.stderr.write(`bench:tcp: ${err.stack ?? err.message}\n`);
  await stopAll(3000);
  process.exit(1);
});
