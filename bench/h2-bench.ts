// `npm run bench:h2`: HTTP/2 and gRPC through meshlet, same run, proxy pinned (CPU 0; upstream and
// load on CPU 1), rounds interleaved (each round runs every target once, so this shared VM's drift
// hits all alike):
//  1. h2load → direct / meshlet / HAProxy (`proto h2` both sides) → nginx h2c, with 1 and 100
//     concurrent streams per connection: req/s, the proxy's CPU per 10k requests, p50/p99 (from
//     h2load's per-request log) and the p99 the proxy adds over direct in the same round;
//  2. gRPC unary (grpc-js client, one channel) → direct / the two-sidecar hop plaintext / the hop
//     over ISTIO_MUTUAL + STRICT → a grpc-js server.
// BENCH_DURATION (s, default 10), BENCH_RUNS (default 3), BENCH_H2_CONNECTIONS (default 8),
// BENCH_GRPC_CONCURRENCY (default 32). Not a test.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { medianOf, positiveEnv } from './measure.js';
import { hasCommand, runToEnd, stopAll, stopChildrenOnExit, type Child } from './proc.js';
import { treeUsage } from './proc-stats.js';
import { fixed, machineLines, writeReport } from './report.js';
import { H2_HOST, startGrpcHop, startGrpcServer, startH2Floor, startH2Upstream, startHaproxyH2, startMeshletH2, type GrpcHop } from './h2-servers.js';
import { PROXY_CPU, UPSTREAM_CPU, type Server } from './servers.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WARMUP_S = 2;

interface Result { rps: number; p50Ms: number; p99Ms: number; errors: number; requests: number; cpuMsPer10k: number | null }

interface Target {
  name: string;
  port: number;
  /** the proxy processes whose CPU counts (none for direct) */
  procs: Child[];
  /** results by load label, one per round */
  results: Map<string, Result[]>;
}

function cpuMs(procs: Child[]): number {
  return procs.reduce((sum, p) => sum + treeUsage(p.pid).cpuMs, 0);
}

/** h2load for `durationS` with a per-request log; p50/p99 from the log's latency column (µs). */
async function h2load(port: number, connections: number, streams: number, durationS: number, dir: string): Promise<Omit<Result, 'cpuMsPer10k'>> {
  const log = path.join(dir, `h2load-${port}-${streams}.log`);
  const args = ['-c', String(connections), '-m', String(streams), '-D', String(durationS), '--warm-up-time', '1', '-H', `:authority: ${H2_HOST}`,
    '--log-file', log, `http://127.0.0.1:${port}/`];
  const r = await runToEnd('h2load', UPSTREAM_CPU, 'h2load', args, (durationS + 30) * 1000);
  if (r.code !== 0) throw new Error(`h2load exited with ${r.code}: ${r.output()}`);
  const out = r.stdout();
  const rps = Number(/finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(out)?.[1] ?? NaN);
  const m = /requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  const lat = readFileSync(log, 'utf8').trim().split('\n').map((l) => Number(l.split('\t')[2])).filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  rmSync(log, { force: true });
  const q = (p: number): number => (lat.length === 0 ? NaN : (lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))] as number) / 1000);
  return { rps, p50Ms: q(50), p99Ms: q(99), errors: m === null ? -1 : Number(m[4]) + Number(m[5]) + Number(m[6]), requests: m === null ? 0 : Number(m[3]) };
}

async function grpcLoad(port: number, concurrency: number, durationS: number): Promise<Omit<Result, 'cpuMsPer10k'>> {
  const spec = { target: `127.0.0.1:${port}`, authority: 'echo', concurrency, durationS, warmupS: WARMUP_S };
  const r = await runToEnd('grpc-load', UPSTREAM_CPU, process.execPath, [path.join(REPO_ROOT, 'dist/bench/grpc-load.js'), JSON.stringify(spec)], (durationS + 60) * 1000);
  const j = JSON.parse(r.stdout().trim().split('\n').at(-1) ?? '{}') as Omit<Result, 'cpuMsPer10k'> & { error?: string; lastError?: string };
  if (r.code !== 0 || j.error !== undefined) throw new Error(`grpc-load: ${j.error ?? r.output()}`);
  if (j.errors > 0) process.stderr.write(`bench: grpc-load: ${j.errors} errors, the last: ${j.lastError}\n`);
  return j;
}

async function measured(t: Target, label: string, run: () => Promise<Omit<Result, 'cpuMsPer10k'>>): Promise<void> {
  const before = cpuMs(t.procs);
  const r = await run();
  const cpu = t.procs.length === 0 ? null : ((cpuMs(t.procs) - before) * 10_000) / Math.max(1, r.requests);
  const result = { ...r, cpuMsPer10k: cpu };
  const list = t.results.get(label) ?? [];
  list.push(result);
  t.results.set(label, list);
  process.stderr.write(`bench: ${t.name} / ${label}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50Ms.toFixed(2)} p99 ${r.p99Ms.toFixed(2)} ms, CPU ${fixed(cpu, 0)} ms/10k, ${r.errors} errors\n`);
}

/** Per label, per target: medians over rounds, and the ratios to `reference` paired by round. */
function table(targets: Target[], labels: string[], reference: string): string {
  const ref = targets.find((t) => t.name === reference);
  const lines: string[] = [
    `| load | target | req/s (median) | rounds | req/s ÷ ${reference} (paired, median) | CPU ms / 10k req | p50 ms | p99 ms | p99 added over ${reference} (paired, median) | errors |`,
    '| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const label of labels) {
    for (const t of targets) {
      const rs = t.results.get(label) ?? [];
      if (rs.length === 0) continue;
      const refs = ref?.results.get(label) ?? [];
      const n = Math.min(rs.length, refs.length);
      const ratio = t === ref || n === 0 ? '–' : `${medianOf(rs.slice(0, n).map((r, i) => r.rps / (refs[i] as Result).rps)).toFixed(2)}×`;
      const added = t === ref || n === 0 ? '–' : fixed(medianOf(rs.slice(0, n).map((r, i) => r.p99Ms - (refs[i] as Result).p99Ms)), 2);
      lines.push(`| ${label} | ${t.name} | ${medianOf(rs.map((r) => r.rps)).toFixed(0)} | ${rs.map((r) => r.rps.toFixed(0)).join(', ')} | ${ratio} `
        + `| ${fixed(medianOf(rs.map((r) => r.cpuMsPer10k ?? NaN)), 0)} | ${fixed(medianOf(rs.map((r) => r.p50Ms)), 2)} | ${fixed(medianOf(rs.map((r) => r.p99Ms)), 2)} | ${added} `
        + `| ${rs.reduce((s, r) => s + r.errors, 0)} |`);
    }
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  stopChildrenOnExit();
  if (!hasCommand('h2load')) throw new Error('h2load not found: apt-get install nghttp2-client');
  const durationS = positiveEnv('BENCH_DURATION', 10);
  const runs = positiveEnv('BENCH_RUNS', 3);
  const connections = positiveEnv('BENCH_H2_CONNECTIONS', 8);
  const concurrency = positiveEnv('BENCH_GRPC_CONCURRENCY', 32);
  const startedAt = new Date();
  const machine = machineLines();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshlet-h2-bench-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const h2Targets: Target[] = [];
  const grpcTargets: Target[] = [];
  const h2Labels = [`h2, ${connections} conn × 1 stream`, `h2, ${connections} conn × 100 streams`];
  const grpcLabel = `gRPC unary, 1 channel × ${concurrency} calls`;
  const servers: Server[] = [];
  const hops: GrpcHop[] = [];
  try {
    const upstream = await startH2Upstream(dir);
    servers.push(upstream);
    const meshlet = await startMeshletH2(REPO_ROOT, dir, upstream.port);
    const haproxy = hasCommand('haproxy') ? await startHaproxyH2(dir, upstream.port) : null;
    const floor = await startH2Floor(REPO_ROOT, upstream.port);
    servers.push(meshlet, floor, ...(haproxy === null ? [] : [haproxy]));
    h2Targets.push({ name: 'direct', port: upstream.port, procs: [], results: new Map() });
    h2Targets.push({ name: 'meshlet', port: meshlet.port, procs: [meshlet.child], results: new Map() });
    if (haproxy !== null) h2Targets.push({ name: 'haproxy', port: haproxy.port, procs: [haproxy.child], results: new Map() });
    h2Targets.push({ name: 'node:http2 floor', port: floor.port, procs: [floor.child], results: new Map() });

    const grpcServer = await startGrpcServer(REPO_ROOT);
    servers.push(grpcServer);
    const plain = await startGrpcHop(REPO_ROOT, dir, grpcServer.port, false);
    const mtls = await startGrpcHop(REPO_ROOT, dir, grpcServer.port, true);
    hops.push(plain, mtls);
    grpcTargets.push({ name: 'direct', port: grpcServer.port, procs: [], results: new Map() });
    grpcTargets.push({ name: 'two sidecars, plaintext', port: plain.port, procs: [plain.a, plain.b], results: new Map() });
    grpcTargets.push({ name: 'two sidecars, ISTIO_MUTUAL + STRICT', port: mtls.port, procs: [mtls.a, mtls.b], results: new Map() });

    for (let round = 0; round < runs; round++) {
      for (const [i, streams] of [1, 100].entries()) {
        for (const t of h2Targets) await measured(t, h2Labels[i] as string, () => h2load(t.port, connections, streams, durationS, dir));
      }
      for (const t of grpcTargets) await measured(t, grpcLabel, () => grpcLoad(t.port, concurrency, durationS));
    }
  } finally {
    for (const h of hops) await h.stop();
    await stopAll();
  }
  const setup = [
    `- pinning: every proxy process (meshlet's worker and control threads; HAProxy nbthread 1; both sidecars of the hop) on CPU ${PROXY_CPU}, upstream and load generator on CPU ${UPSTREAM_CPU} (taskset)`,
    `- h2: h2load -c ${connections} -m 1 / -m 100, ${durationS} s (1 s warm-up), GET / → nginx 1.22 h2c (prior knowledge, 100-byte body); meshlet 1 worker (HTTP listener, HTTP2 ServiceEntry port); HAProxy 2.6 \`proto h2\` on bind and server, http-reuse always; node:http2 floor (bench/h2-floor-server.ts: node:http2 server → one node:http2 client session, GET only, nothing else: what nghttp2 through Node costs per request)`,
    `- gRPC: grpc-js client (one channel, ${concurrency} unary calls in flight, 100-byte messages) ${durationS} s after a ${WARMUP_S} s warm-up → grpc-js server; the hop: sidecar A (outbound, GRPC ServiceEntry) → sidecar B (inbound GRPC port), 1 worker each; mTLS: ISTIO_MUTUAL with ALPN h2 (TLS terminated in B's worker), RSA-2048 certificates`,
    `- ${runs} rounds, each target once per round and load; ratios and added p99 are paired within a round, then the median is taken; CPU ms/10k is the proxy processes' user+system time per 10k completed requests`,
  ];
  const body = `# meshlet HTTP/2 and gRPC bench\n\n${[...machine, ...setup].join('\n')}\n\n## HTTP/2 (h2load)\n\n${table(h2Targets, h2Labels, 'direct')}\n\n`
    + `## gRPC unary (grpc-js)\n\n${table(grpcTargets, [grpcLabel], 'direct')}\n`;
  process.stdout.write(`\n${body}`);
  process.stdout.write(`\nbench: wrote ${path.relative(REPO_ROOT, writeReport(REPO_ROOT, startedAt, body, 'h2-bench'))}\n`);
}

main().catch(async (err: Error) => {
  process.stderr.write(`bench: ${err.stack ?? err.message}\n`);
  await stopAll(3000);
  process.exit(1);
});
