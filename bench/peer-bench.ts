// `npm run bench:peers`: direct vs meshlet (1 worker, all workers) vs nginx vs HAProxy vs node's
// http-proxy vs the uWS + raw socket floor (what this runtime allows at all) against one upstream:
// max throughput (wrk, else autocannon) and open-loop latency at fixed rates (bench/openloop),
// each the median of BENCH_RUNS runs; a Markdown report. With BENCH_HOP set, the mesh hop bench
// (client → meshlet → mTLS → meshlet → app beside two nginx) runs after it. Not a test.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTools, type LoadSpec, type LoadTool } from './load.js';
import { measure, medianOf, medianRow, positiveEnv } from './measure.js';
import { fixedRateTool, type FixedRateResult, type FixedRateTool } from './openloop.js';
import { medianResult, renderLatencyTable, type LatencyRow } from './peer-report.js';
import { HAS_HAPROXY, startHaproxy, startHttpProxy, startUwsFloor } from './peers.js';
import { CAN_PIN, stopAll, stopChildrenOnExit } from './proc.js';
import { treeUsage, whileStopped } from './proc-stats.js';
import { machineLines, renderTable, writeReport, type Row } from './report.js';
import { HAS_NGINX, HOST, startMeshlet, startNginxProxy, startUpstream, type Server } from './servers.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WARMUP_S = 2;
const ALL_WORKERS = os.availableParallelism();
const TARGETS = ['direct', 'meshlet-1w', 'meshlet-resilience', 'meshlet-all', 'nginx', 'haproxy', 'http-proxy', 'uws-floor'] as const;
type Target = (typeof TARGETS)[number];

interface Settings {
  durationS: number;
  runs: number;
  connections: number;
  rates: number[];
  targets: Target[];
  /** stop the targets not being measured (BENCH_FREEZE=0: leave them running) */
  freeze: boolean;
}

function readSettings(): Settings {
  const list = (v: string): string[] => v.split(',').map((t) => t.trim()).filter((t) => t !== '');
  const targets = list(process.env.BENCH_PEERS ?? TARGETS.join(','));
  const unknown = targets.filter((t) => !(TARGETS as readonly string[]).includes(t));
  if (unknown.length > 0) throw new Error(`BENCH_PEERS: unknown target(s) ${unknown.join(', ')}; known: ${TARGETS.join(',')}`);
  const rates = list(process.env.BENCH_RATES ?? '2000,5000').map(Number);
  if (rates.some((r) => !(r > 0))) throw new Error(`BENCH_RATES: expected positive numbers, got "${process.env.BENCH_RATES}"`);
  return {
    durationS: positiveEnv('BENCH_DURATION', 10), runs: positiveEnv('BENCH_RUNS', 3), connections: positiveEnv('BENCH_CONNECTIONS', 50),
    rates, targets: targets as Target[], freeze: process.env.BENCH_FREEZE !== '0',
  };
}

function label(target: Target): string {
  if (target === 'meshlet-1w') return 'meshlet (1 worker)';
  if (target === 'meshlet-all') return `meshlet (${ALL_WORKERS} workers)`;
  if (target === 'meshlet-resilience') return 'meshlet-resilience (1 worker)';
  return target;
}

function available(target: Target): boolean {
  if (target === 'nginx' && !HAS_NGINX) return false;
  if (target === 'haproxy' && !HAS_HAPROXY) return false;
  return true;
}

function startProxy(target: Target, dir: string, upstream: Server): Promise<Server | null> {
  const meshlet = { repoRoot: REPO_ROOT, extraArgs: [], profileDir: null };
  switch (target) {
    case 'direct': return Promise.resolve(null);
    case 'meshlet-1w': return startMeshlet(dir, upstream.port, { ...meshlet, workers: 1 });
    case 'meshlet-resilience': return startMeshlet(dir, upstream.port, { ...meshlet, workers: 1, resilience: true });
    case 'meshlet-all': return startMeshlet(dir, upstream.port, { ...meshlet, workers: ALL_WORKERS });
    case 'nginx': return startNginxProxy(dir, upstream.port);
    case 'haproxy': return startHaproxy(dir, upstream.port);
    case 'http-proxy': return startHttpProxy(REPO_ROOT, upstream.port);
    case 'uws-floor': return startUwsFloor(REPO_ROOT, upstream.port);
  }
}

/** One fixed-rate run with the proxy's CPU per 10k completed requests (null for direct). */
async function latencyOnce(t: Running, rate: number, fixedTool: FixedRateTool, s: Settings): Promise<[FixedRateResult, number | null]> {
  const proxy = t.proxy;
  // a warm-up at the rate first, as the max-throughput runs have theirs: the target was idle (stopped) while the others ran
  await fixedTool.run({ port: t.port, host: HOST, connections: s.connections, durationS: WARMUP_S, rate });
  const before = proxy === null ? null : treeUsage(proxy.child.pid);
  const r = await fixedTool.run({ port: t.port, host: HOST, connections: s.connections, durationS: s.durationS, rate });
  const cpu = before === null || proxy === null ? null : ((treeUsage(proxy.child.pid).cpuMs - before.cpuMs) * 10_000) / r.completed;
  process.stderr.write(`bench: ${t.name} @ ${rate}/s: p50 ${r.p50Ms.toFixed(2)} p99 ${r.p99Ms.toFixed(2)} ms, ${r.achievedRps.toFixed(0)} req/s, ${r.errors} errors\n`);
  return [r, cpu];
}

/** A target started for the whole bench: every proxy runs at once (idle ones cost nothing) so runs can interleave. */
interface Running {
  target: Target;
  name: string;
  proxy: Server | null;
  port: number;
  /** set when it failed to start or failed a run: it is skipped from then on */
  error: string | null;
  rows: Row[];
  latency: Map<number, { results: FixedRateResult[]; cpu: number[] }>;
}

async function startTarget(target: Target, dir: string, upstream: Server, tool: LoadTool, s: Settings): Promise<Running> {
  const name = label(target);
  process.stderr.write(`bench: ${name}: starting\n`);
  const t: Running = { target, name, proxy: null, port: upstream.port, error: null, rows: [], latency: new Map() };
  try {
    t.proxy = await startProxy(target, dir, upstream);
    t.port = (t.proxy ?? upstream).port;
    await tool.run({ url: `http://127.0.0.1:${t.port}/`, host: HOST, connections: s.connections, durationS: WARMUP_S });
  } catch (err) {
    fail(t, err);
  }
  return t;
}

function fail(t: Running, err: unknown): void {
  t.error = (err as Error).message;
  process.stderr.write(`bench: ${t.name} failed: ${t.error}\n`);
}

/**
 * Round after round, each target once per round (direct, meshlet, nginx, direct, …): this VM's
 * speed drifts by ±20–30% over minutes, so targets measured minutes apart are not comparable;
 * within a round they are, and the paired ratios below compare rounds, not medians.
 */
async function throughputRounds(targets: Running[], tool: LoadTool, s: Settings): Promise<void> {
  for (let round = 0; round < s.runs; round++) {
    for (const t of targets) {
      if (t.error !== null) continue;
      const spec: LoadSpec = { url: `http://127.0.0.1:${t.port}/`, host: HOST, connections: s.connections, durationS: s.durationS };
      await alone(targets, t, s, async () => {
        t.rows.push(await measure(t.name, tool, spec, t.proxy));
      });
    }
  }
}

/**
 * One run of `t`; a failure marks the target. The other proxies are stopped (SIGSTOP) meanwhile:
 * every proxy shares CPU 0, and an idle node process does its own work there (V8 shrinks a heap
 * with full collections some seconds after its load stopped), which landed in the next target's
 * run (bench/hop-bench.ts does the same).
 */
async function alone(running: Running[], t: Running, s: Settings, run: () => Promise<void>): Promise<void> {
  const others: number[] = [];
  if (s.freeze) for (const o of running) if (o !== t && o.proxy !== null && o.proxy.child.pid !== undefined) others.push(o.proxy.child.pid);
  try {
    await whileStopped(others, run);
  } catch (err) {
    fail(t, err);
  }
}

async function latencyRounds(targets: Running[], fixedTool: FixedRateTool, s: Settings): Promise<void> {
  for (const rate of s.rates) {
    for (let round = 0; round < s.runs; round++) {
      for (const t of targets) {
        if (t.error !== null) continue;
        await alone(targets, t, s, async () => {
          const [r, cpu] = await latencyOnce(t, rate, fixedTool, s);
          const at = t.latency.get(rate) ?? { results: [], cpu: [] };
          at.results.push(r);
          if (cpu !== null) at.cpu.push(cpu);
          t.latency.set(rate, at);
        });
      }
    }
  }
}

/** the run with the median throughput (its CPU and RSS with it), or the failure */
function throughputRow(t: Running, tool: LoadTool): Row {
  if (t.rows.length === 0) {
    return { target: t.name, tool: tool.name, load: null, cpuMsPer10k: null, rssMb: null, error: t.error ?? 'no run' };
  }
  return medianRow(t.rows);
}

function latencyRows(t: Running, s: Settings): LatencyRow[] {
  return s.rates.map((rate) => {
    const at = t.latency.get(rate);
    if (at === undefined || at.results.length === 0) return { target: t.name, rate, result: null, cpuMsPer10k: null, error: t.error ?? 'no run' };
    return { target: t.name, rate, result: medianResult(at.results), cpuMsPer10k: at.cpu.length === 0 ? null : medianOf(at.cpu) };
  });
}

/** Per target: the median over rounds of its req/s over the reference's req/s in the same round. */
function pairedRatios(targets: Running[], reference: string): string | null {
  const ref = targets.find((t) => t.name === reference);
  if (ref === undefined || ref.rows.length === 0) return null;
  const lines = targets.filter((t) => t !== ref && t.rows.length > 0).map((t) => {
    const n = Math.min(t.rows.length, ref.rows.length);
    const ratios: number[] = [];
    for (let i = 0; i < n; i++) ratios.push((t.rows[i]?.load?.rps ?? NaN) / (ref.rows[i]?.load?.rps ?? NaN));
    const cpu: number[] = [];
    for (let i = 0; i < n; i++) cpu.push((t.rows[i]?.cpuMsPer10k ?? NaN) / (ref.rows[i]?.cpuMsPer10k ?? NaN));
    const each = ratios.map((r) => `${r.toFixed(2)}×`).join(', ');
    return `| ${t.name} | ${each} | **${medianOf(ratios).toFixed(2)}×** | ${Number.isFinite(medianOf(cpu)) ? `${medianOf(cpu).toFixed(2)}×` : '–'} |`;
  });
  return [`| target | req/s ÷ ${reference}'s, each round | median | CPU per request ÷ ${reference}'s (median) |`, '| --- | --- | ---: | ---: |', ...lines].join('\n');
}

function setupLines(tool: LoadTool, fixedTool: FixedRateTool, s: Settings, upstreamKind: string, skipped: string[]): string[] {
  return [
    `- max throughput: ${tool.name}, ${s.connections} connections, ${s.durationS} s after a ${WARMUP_S} s warm-up, \`Host: ${HOST}\`; the median run of ${s.runs}`,
    `- every target runs at once and the runs interleave (round 1: each target once, round 2: …), so drift of this VM's speed over minutes hits all targets alike; paired ratios compare targets within a round`,
    `- ${s.freeze ? 'while one target is measured the other proxies are stopped (SIGSTOP; BENCH_FREEZE=0: left running)' : 'the other proxies keep running while one is measured (BENCH_FREEZE=0)'}`,
    `- fixed rates ${s.rates.join(', ')} req/s: ${fixedTool.openLoop ? 'bench/openloop (open loop: latency from the intended send time, no coordinated omission)' : 'autocannon -R (closed loop: NOT coordinated-omission free; no C compiler here)'}, ${s.connections} keep-alive connections, ${s.durationS} s after a ${WARMUP_S} s warm-up at the rate; each figure the median over ${s.runs} runs`,
    `- upstream: ${upstreamKind} on 127.0.0.1; proxies: meshlet --workers 1 and --workers ${ALL_WORKERS}, meshlet-resilience (--workers 1, its route with retries, outlier detection and a consistent-hash balancer on the source IP), nginx (1 worker, keep-alive upstream), HAProxy (nbthread 1, http-reuse always), http-proxy (node, keep-alive agent), uws-floor (bench/uws-floor-server.ts: uWS inbound + a raw net.Socket pool, GET and Content-Length only, no routing, copying, validation or stats: the least a Node proxy can do per request)`,
    `- pinning: ${CAN_PIN ? 'every proxy (all its workers) on CPU 0, upstream and load generator on CPU 1 (taskset): with 2 CPUs, several meshlet workers share CPU 0' : 'none (no taskset, or one CPU)'}`,
    '- CPU and RSS are the proxy process tree\'s (RSS at the end of the throughput run); CPU per 10k requests also at each fixed rate',
    ...skipped.map((t) => `- skipped: ${t} (not installed)`),
  ];
}

async function main(): Promise<void> {
  stopChildrenOnExit();
  const s = readSettings();
  const startedAt = new Date();
  const machine = machineLines();
  const skipped = s.targets.filter((t) => !available(t));
  for (const t of skipped) process.stderr.write(`bench: ${t} is not installed, skipping it\n`);
  const tools = loadTools(REPO_ROOT);
  const tool = tools.find((t) => t.name === 'wrk') ?? (tools[0] as LoadTool);
  const fixedTool = await fixedRateTool(REPO_ROOT);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshlet-peer-bench-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const rows: Row[] = [];
  const latency: LatencyRow[] = [];
  const running: Running[] = [];
  let upstreamKind: string;
  try {
    const upstream = await startUpstream(dir);
    upstreamKind = upstream.kind;
    for (const target of s.targets.filter(available)) running.push(await startTarget(target, dir, upstream, tool, s));
    await throughputRounds(running, tool, s);
    await latencyRounds(running, fixedTool, s);
    for (const t of running) {
      rows.push(throughputRow(t, tool));
      latency.push(...latencyRows(t, s));
    }
    for (const t of running) await t.proxy?.stop();
    await upstream.stop();
  } finally {
    await stopAll();
  }
  // meshlet (1 worker) as reference: what a route's retries + outlier detection + consistent hash cost (meshlet-resilience)
  const paired = ['nginx', 'direct', 'uws-floor', label('meshlet-1w')].map((ref) => pairedRatios(running, ref)).filter((t): t is string => t !== null);
  const pairedSection = paired.length === 0 ? '' : `\n## Paired ratios (targets interleaved: each round runs every target once)\n\n${paired.join('\n\n')}\n`;
  const tables = `## Max throughput\n\n${renderTable(rows)}\n${pairedSection}\n## Latency at fixed rates\n\n${renderLatencyTable(latency)}\n`;
  const body = `# meshlet peer bench\n\n${[...machine, ...setupLines(tool, fixedTool, s, upstreamKind, skipped)].join('\n')}\n\n${tables}`;
  process.stdout.write(`\n${tables}`);
  process.stdout.write(`\nbench: wrote ${path.relative(REPO_ROOT, writeReport(REPO_ROOT, startedAt, body, 'peer-bench'))}\n`);
  if (rows.some((r) => r.load === null)) process.exitCode = 1;
  if (process.env.BENCH_HOP !== undefined) await runHopBench();
}

/**
 * BENCH_HOP set (its targets, e.g. `meshlet-plain,meshlet-mtls,nginx-plain,nginx-mtls`): the mesh
 * hop bench (bench/hop-bench.ts) runs next with the same settings, so one command gives both reports.
 */
async function runHopBench(): Promise<void> {
  process.stderr.write('bench: BENCH_HOP is set: the mesh hop bench runs next\n');
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(new URL('./hop-bench.js', import.meta.url))], { stdio: 'inherit' });
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) process.exitCode = 1;
}

main().catch(async (err: Error) => {
  process.stderr.write(`bench: ${err.stack ?? err.message}\n`);
  await stopAll(3000);
  process.exit(1);
});
