// `npm run bench:hop`: the mesh hop client → proxy A → proxy B → upstream through a meshlet pair
// and an nginx pair, plaintext and mTLS (bench/hop.ts), both proxies of a pair pinned to the proxy
// CPU, upstream and load on the other. Every pair runs at once and the runs interleave (round 1:
// each target once, round 2: …), so the paired ratios compare targets measured in the same minute.
// Per target: max throughput (wrk), the pair's CPU per request, RSS per proxy, B's handshakes (or
// new connections) per 10k requests; then open-loop latency at BENCH_RATE (bench/openloop).
// Settings: BENCH_HOP (targets), BENCH_RUNS (4), BENCH_DURATION (10 s), BENCH_CONNECTIONS (50),
// BENCH_RATE (2000), BENCH_WORKERS (meshlet workers per sidecar, 1), BENCH_KEY (rsa | ecdsa:
// the workload certificates' key; the CA is RSA), BENCH_BASE (a built checkout of another commit:
// the targets meshlet-mtls-base / meshlet-plain-base run the pair from it, and the paired ratios
// compare it with this checkout's), BENCH_OPENLOOP (0: max throughput only). Not a test.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BASE_TARGETS, HOP_TARGETS, baseRootFromEnv, hopIdentities, startHop, type HopPair, type HopTarget, type KeyKind } from './hop.js';
import { loadTools, type LoadResult, type LoadTool } from './load.js';
import { medianOf, positiveEnv } from './measure.js';
import { fixedRateTool, type FixedRateResult, type FixedRateTool } from './openloop.js';
import { CAN_PIN, stopAll, stopChildrenOnExit } from './proc.js';
import { treeUsage, whileStopped } from './proc-stats.js';
import { fixed, machineLines, writeReport } from './report.js';
import { HAS_NGINX, HOST, startUpstream } from './servers.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WARMUP_S = 2;

interface Settings {
  targets: HopTarget[]; runs: number; durationS: number; connections: number; rate: number; workers: number; key: KeyKind;
  baseRoot: string | null; openLoop: boolean; freeze: boolean;
}

interface MaxRun { load: LoadResult; cpuMsPer10k: number; rssA: number; rssB: number; handshakesPer10k: number }
interface RateRun { r: FixedRateResult; cpuMsPer10k: number }
interface Running { target: HopTarget; pair: HopPair | null; error: string | null; max: MaxRun[]; rate: RateRun[] }

function readSettings(): Settings {
  const targets = (process.env.BENCH_HOP ?? HOP_TARGETS.join(',')).split(',').map((t) => t.trim()).filter((t) => t !== '');
  const known: readonly string[] = [...HOP_TARGETS, ...BASE_TARGETS];
  const unknown = targets.filter((t) => !known.includes(t));
  if (unknown.length > 0) throw new Error(`BENCH_HOP: unknown target(s) ${unknown.join(', ')}; known: ${known.join(',')}`);
  const baseRoot = baseRootFromEnv();
  if (baseRoot === null && targets.some((t) => (BASE_TARGETS as readonly string[]).includes(t))) throw new Error('BENCH_HOP: the *-base targets need BENCH_BASE');
  const key = process.env.BENCH_KEY ?? 'rsa';
  if (key !== 'rsa' && key !== 'ecdsa') throw new Error(`BENCH_KEY: rsa or ecdsa, got "${key}"`);
  return {
    targets: targets as HopTarget[], runs: positiveEnv('BENCH_RUNS', 4), durationS: positiveEnv('BENCH_DURATION', 10),
    connections: positiveEnv('BENCH_CONNECTIONS', 50), rate: positiveEnv('BENCH_RATE', 2000), workers: positiveEnv('BENCH_WORKERS', 1), key,
    baseRoot, openLoop: process.env.BENCH_OPENLOOP !== '0', freeze: process.env.BENCH_FREEZE !== '0',
  };
}

const pairUsage = (p: HopPair): { cpuMs: number; rssA: number; rssB: number } => {
  const [a, b] = [treeUsage(p.a.pid), treeUsage(p.b.pid)];
  return { cpuMs: a.cpuMs + b.cpuMs, rssA: a.rssMb, rssB: b.rssMb };
};

async function maxRun(p: HopPair, tool: LoadTool, s: Settings): Promise<MaxRun> {
  const [u0, h0] = [pairUsage(p), await p.handshakes()];
  const load = await tool.run({ url: `http://127.0.0.1:${p.port}/`, host: HOST, connections: s.connections, durationS: s.durationS });
  const u1 = pairUsage(p);
  const h1 = await p.handshakes();
  const per10k = (n: number): number => (n * 10_000) / load.requests;
  process.stderr.write(`bench: ${p.target}: ${load.rps.toFixed(0)} req/s, ${per10k(u1.cpuMs - u0.cpuMs).toFixed(0)} ms/10k, ${load.errors} errors\n`);
  return { load, cpuMsPer10k: per10k(u1.cpuMs - u0.cpuMs), rssA: u1.rssA, rssB: u1.rssB, handshakesPer10k: per10k(h1 - h0) };
}

async function rateRun(p: HopPair, tool: FixedRateTool, s: Settings): Promise<RateRun> {
  // a warm-up at the rate first, as the max-throughput runs have theirs: the pair was idle while the others ran
  await tool.run({ port: p.port, host: HOST, connections: s.connections, durationS: WARMUP_S, rate: s.rate });
  const u0 = pairUsage(p);
  const r = await tool.run({ port: p.port, host: HOST, connections: s.connections, durationS: s.durationS, rate: s.rate });
  const cpu = ((pairUsage(p).cpuMs - u0.cpuMs) * 10_000) / r.completed;
  process.stderr.write(`bench: ${p.target} @ ${s.rate}/s: p50 ${r.p50Ms.toFixed(2)} p99 ${r.p99Ms.toFixed(2)} p99.9 ${r.p999Ms.toFixed(2)} ms, ${r.errors} errors\n`);
  return { r, cpuMsPer10k: cpu };
}

async function rounds(running: Running[], s: Settings, each: (t: Running) => Promise<void>): Promise<void> {
  for (let round = 0; round < s.runs; round++) {
    for (const t of running) {
      if (t.error !== null) continue;
      try {
        await whileStopped(s.freeze ? othersOf(running, t) : [], () => each(t));
      } catch (err) {
        t.error = (err as Error).message;
        process.stderr.write(`bench: ${t.target} failed: ${t.error}\n`);
      }
    }
  }
}

/**
 * The pairs not being measured are stopped (SIGSTOP) meanwhile: they share CPU 0 with the measured
 * pair, and an idle node process does its own work there (V8 shrinks an idle heap with full
 * collections some seconds after its load stopped: the next pair's open-loop run met it).
 */
function othersOf(running: Running[], measured: Running): number[] {
  const roots: number[] = [];
  for (const t of running) if (t !== measured && t.pair !== null) roots.push(t.pair.a.pid, t.pair.b.pid);
  return roots;
}

const span = (xs: number[], digits: number): string =>
  `${fixed(medianOf(xs), digits)} [${fixed(Math.min(...xs), digits)}..${fixed(Math.max(...xs), digits)}]`;

function maxTable(running: Running[]): string {
  const lines = running.map((t) => {
    if (t.max.length === 0) return `| ${t.target} | failed: ${(t.error ?? '').split('\n')[0]} | | | | |`;
    const m = t.max;
    return `| ${t.target} | ${span(m.map((x) => x.load.rps), 0)} | ${fixed(medianOf(m.map((x) => x.cpuMsPer10k)), 0)} | ${fixed(medianOf(m.map((x) => x.rssA)), 1)} / ${fixed(medianOf(m.map((x) => x.rssB)), 1)} `
      + `| ${fixed(medianOf(m.map((x) => x.handshakesPer10k)), 1)} | ${fixed(medianOf(m.map((x) => x.load.p99Ms)), 2)} | ${m.reduce((n, x) => n + x.load.errors, 0)} |`;
  });
  return ['| pair | req/s median [min..max] | pair CPU ms / 10k req | RSS A / B MB | B handshakes (nginx: connections) per 10k req | p99 ms at max load | errors |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |', ...lines].join('\n');
}

function rateTable(running: Running[], s: Settings): string {
  const lines = running.map((t) => {
    if (t.rate.length === 0) return `| ${t.target} | failed | | | | | |`;
    const r = t.rate;
    return `| ${t.target} | ${fixed(medianOf(r.map((x) => x.r.achievedRps)), 0)} | ${fixed(medianOf(r.map((x) => x.r.p50Ms)), 2)} | ${span(r.map((x) => x.r.p99Ms), 2)} `
      + `| ${span(r.map((x) => x.r.p999Ms), 2)} | ${fixed(medianOf(r.map((x) => x.cpuMsPer10k)), 0)} | ${r.reduce((n, x) => n + x.r.errors + x.r.unsent, 0)} |`;
  });
  return [`| pair @ ${s.rate} req/s | achieved | p50 ms | p99 ms median [min..max] | p99.9 ms median [min..max] | pair CPU ms / 10k | errors + unsent |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |', ...lines].join('\n');
}

/** Per round: x ÷ y of `f`, and the median. */
function paired(running: Running[], x: HopTarget, y: HopTarget, f: (t: Running, i: number) => number): { each: number[]; median: number } | null {
  const [a, b] = [running.find((t) => t.target === x), running.find((t) => t.target === y)];
  if (a === undefined || b === undefined) return null;
  const n = Math.min(a.max.length, b.max.length, a.rate.length || Infinity, b.rate.length || Infinity);
  const each: number[] = [];
  for (let i = 0; i < n; i++) each.push(f(a, i) / f(b, i));
  return each.length === 0 ? null : { each, median: medianOf(each) };
}

function pairedSection(running: Running[]): string {
  const rows: [string, HopTarget, HopTarget, (t: Running, i: number) => number, string][] = [
    ['req/s', 'meshlet-mtls', 'nginx-mtls', (t, i) => t.max[i]?.load.rps ?? NaN, '≥ 0.7 (goal 1.0)'],
    ['CPU per request', 'meshlet-mtls', 'nginx-mtls', (t, i) => t.max[i]?.cpuMsPer10k ?? NaN, '≤ 1.5'],
    [`p99 open loop`, 'meshlet-mtls', 'nginx-mtls', (t, i) => t.rate[i]?.r.p99Ms ?? NaN, '≤ 2'],
    [`p99.9 open loop`, 'meshlet-mtls', 'nginx-mtls', (t, i) => t.rate[i]?.r.p999Ms ?? NaN, '≤ 3'],
    ['req/s', 'meshlet-mtls', 'meshlet-plain', (t, i) => t.max[i]?.load.rps ?? NaN, '≥ 0.6'],
    ['req/s', 'nginx-mtls', 'nginx-plain', (t, i) => t.max[i]?.load.rps ?? NaN, '–'],
    ['req/s', 'meshlet-plain', 'nginx-plain', (t, i) => t.max[i]?.load.rps ?? NaN, '–'],
    ['CPU per request', 'meshlet-mtls', 'meshlet-plain', (t, i) => t.max[i]?.cpuMsPer10k ?? NaN, '–'],
    ['req/s', 'meshlet-mtls', 'meshlet-mtls-base', (t, i) => t.max[i]?.load.rps ?? NaN, 'A/B'],
    ['CPU per request', 'meshlet-mtls', 'meshlet-mtls-base', (t, i) => t.max[i]?.cpuMsPer10k ?? NaN, 'A/B'],
    ['req/s', 'meshlet-plain', 'meshlet-plain-base', (t, i) => t.max[i]?.load.rps ?? NaN, 'A/B'],
    ['CPU per request', 'meshlet-plain', 'meshlet-plain-base', (t, i) => t.max[i]?.cpuMsPer10k ?? NaN, 'A/B'],
  ];
  const lines = rows.flatMap(([what, x, y, f, target]) => {
    const p = paired(running, x, y, f);
    return p === null || p.each.every(Number.isNaN) ? [] : [`| ${what} | ${x} ÷ ${y} | ${p.each.map((v) => v.toFixed(2)).join(', ')} | **${p.median.toFixed(2)}** | ${target} |`];
  });
  return ['| figure | ratio | each round | median | issue 17 target |', '| --- | --- | --- | ---: | --- |', ...lines].join('\n');
}

async function main(): Promise<void> {
  stopChildrenOnExit();
  const s = readSettings();
  const startedAt = new Date();
  const machine = machineLines();
  const tools = loadTools(REPO_ROOT);
  const tool = tools.find((t) => t.name === 'wrk') ?? (tools[0] as LoadTool);
  const fixedTool = await fixedRateTool(REPO_ROOT);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshlet-hop-bench-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const ids = await hopIdentities('hop-bench-mesh', s.key);
  const targets = s.targets.filter((t) => HAS_NGINX || !t.startsWith('nginx'));
  const running: Running[] = [];
  try {
    const upstream = await startUpstream(dir);
    for (const target of targets) {
      const t: Running = { target, pair: null, error: null, max: [], rate: [] };
      running.push(t);
      try {
        process.stderr.write(`bench: ${target}: starting\n`);
        t.pair = await startHop(target, { repoRoot: REPO_ROOT, dir, upstreamPort: upstream.port, ids, workers: s.workers, baseRoot: s.baseRoot });
        await tool.run({ url: `http://127.0.0.1:${t.pair.port}/`, host: HOST, connections: s.connections, durationS: WARMUP_S });
      } catch (err) {
        t.error = (err as Error).message;
        process.stderr.write(`bench: ${target} failed to start: ${t.error}\n`);
      }
    }
    await rounds(running, s, async (t) => { t.max.push(await maxRun(t.pair as HopPair, tool, s)); });
    if (s.openLoop) await rounds(running, s, async (t) => { t.rate.push(await rateRun(t.pair as HopPair, fixedTool, s)); });
    for (const t of running) await t.pair?.stop();
    await upstream.stop();
  } finally {
    await stopAll();
  }
  const setup = [
    `- hop: ${tool.name} (${s.connections} connections, ${s.durationS} s after a ${WARMUP_S} s warm-up, \`Host: ${HOST}\`) → proxy A → proxy B → nginx upstream; ${s.runs} interleaved rounds`,
    ...(s.baseRoot === null ? [] : [`- *-base targets: the meshlet pair of ${s.baseRoot} (${gitHead(s.baseRoot)}); this checkout: ${gitHead(REPO_ROOT)}`]),
    `- meshlet: --workers ${s.workers} per sidecar; mTLS = DestinationRule ISTIO_MUTUAL (subjectAltNames B) on A, PeerAuthentication STRICT on B; TLS 1.3 (A offers 1.3 only)`,
    '- nginx: 1 worker each, keepalive 64 upstream connections; mTLS = proxy_ssl_certificate (A) → ssl_verify_client on (B), proxy_ssl_session_reuse on, tickets on; A does not check B\'s SPIFFE id (nginx cannot), meshlet does',
    `- workload certificates: ${s.key === 'rsa' ? 'RSA 2048' : 'ECDSA P-256'} leaves from one RSA-2048 mesh CA`,
    `- pinning: ${CAN_PIN ? 'both proxies of a pair on CPU 0; upstream nginx, wrk and openloop on CPU 1' : 'none (no taskset or one CPU)'}`,
    `- open loop: ${fixedTool.openLoop ? 'bench/openloop' : 'autocannon -R (closed loop)'} at ${s.rate} req/s, ${s.connections} connections, ${s.durationS} s per round after a ${WARMUP_S} s warm-up at the rate`,
    `- ${s.freeze ? 'while one pair is measured the other pairs are stopped (SIGSTOP; BENCH_FREEZE=0: left running)' : 'the other pairs keep running while one is measured (BENCH_FREEZE=0)'}`,
    '- CPU: both proxies\' process trees (utime + stime); RSS at the end of each max-throughput run; B handshakes: meshlet_tls_handshakes_total{direction="inbound"} of B (nginx: connections B accepted, stub_status)',
  ];
  const tables = `## Max throughput\n\n${maxTable(running)}\n\n${s.openLoop ? `## Open loop\n\n${rateTable(running, s)}\n\n` : ''}## Paired ratios (same round)\n\n${pairedSection(running)}\n`;
  const body = `# meshlet mesh hop bench\n\n${[...machine, ...setup].join('\n')}\n\n${tables}\n- load average after the run: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`;
  process.stdout.write(`\n${tables}`);
  process.stdout.write(`\nbench: wrote ${path.relative(REPO_ROOT, writeReport(REPO_ROOT, startedAt, body, 'hop-bench'))}\n`);
  if (running.some((t) => t.error !== null)) process.exitCode = 1;
}

function gitHead(root: string): string {
  try {
    return execFileSync('git', ['-C', root, 'log', '-1', '--format=%h %s'], { encoding: 'utf8' }).trim().slice(0, 100);
  } catch {
    return 'not a git checkout';
  }
}

main().catch(async (err: Error) => {
  process.stderr.write(`bench: ${err.stack ?? err.message}\n`);
  await stopAll(3000);
  process.exit(1);
});
