// `npm run bench:peers`: direct vs meshlet (1 worker, all workers) vs nginx vs HAProxy vs node's
// http-proxy against one upstream: max throughput (wrk, else autocannon) and open-loop latency at
// fixed rates (bench/openloop), each the median of BENCH_RUNS runs; a Markdown report. Not a test.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTools, type LoadSpec, type LoadTool } from './load.js';
import { measure, medianOf, medianRun, positiveEnv } from './measure.js';
import { fixedRateTool, type FixedRateResult, type FixedRateTool } from './openloop.js';
import { medianResult, renderLatencyTable, type LatencyRow } from './peer-report.js';
import { HAS_HAPROXY, startHaproxy, startHttpProxy } from './peers.js';
import { CAN_PIN, stopAll, stopChildrenOnExit } from './proc.js';
import { treeUsage } from './proc-stats.js';
import { machineLines, renderTable, writeReport, type Row } from './report.js';
import { HAS_NGINX, HOST, startMeshlet, startNginxProxy, startUpstream, type Server } from './servers.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WARMUP_S = 2;
const ALL_WORKERS = os.availableParallelism();
const TARGETS = ['direct', 'meshlet-1w', 'meshlet-all', 'nginx', 'haproxy', 'http-proxy'] as const;
type Target = (typeof TARGETS)[number];

interface Settings {
  durationS: number;
  runs: number;
  connections: number;
  rates: number[];
  targets: Target[];
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
    rates, targets: targets as Target[],
  };
}

function label(target: Target): string {
  if (target === 'meshlet-1w') return 'meshlet (1 worker)';
  if (target === 'meshlet-all') return `meshlet (${ALL_WORKERS} workers)`;
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
    case 'meshlet-all': return startMeshlet(dir, upstream.port, { ...meshlet, workers: ALL_WORKERS });
    case 'nginx': return startNginxProxy(dir, upstream.port);
    case 'haproxy': return startHaproxy(dir, upstream.port);
    case 'http-proxy': return startHttpProxy(REPO_ROOT, upstream.port);
  }
}

/** `runs` fixed-rate runs; the median of each percentile and of the proxy's CPU per 10k requests */
async function latencyAt(name: string, rate: number, fixedTool: FixedRateTool, port: number, proxy: Server | null, s: Settings): Promise<LatencyRow> {
  const results: FixedRateResult[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < s.runs; i++) {
    const before = proxy === null ? null : treeUsage(proxy.child.pid);
    const r = await fixedTool.run({ port, host: HOST, connections: s.connections, durationS: s.durationS, rate });
    if (before !== null && proxy !== null) cpu.push(((treeUsage(proxy.child.pid).cpuMs - before.cpuMs) * 10_000) / r.completed);
    process.stderr.write(`bench: ${name} @ ${rate}/s: p50 ${r.p50Ms.toFixed(2)} p99 ${r.p99Ms.toFixed(2)} ms, ${r.achievedRps.toFixed(0)} req/s, ${r.errors} errors\n`);
    results.push(r);
  }
  return { target: name, rate, result: medianResult(results), cpuMsPer10k: cpu.length === 0 ? null : medianOf(cpu) };
}

async function benchTarget(target: Target, dir: string, upstream: Server, tool: LoadTool, fixedTool: FixedRateTool, s: Settings): Promise<[Row, LatencyRow[]]> {
  const name = label(target);
  process.stderr.write(`bench: ${name}: starting\n`);
  let proxy: Server | null = null;
  try {
    proxy = await startProxy(target, dir, upstream);
    const port = (proxy ?? upstream).port;
    const spec: LoadSpec = { url: `http://127.0.0.1:${port}/`, host: HOST, connections: s.connections, durationS: s.durationS };
    await tool.run({ ...spec, durationS: WARMUP_S });
    const row = await medianRun(s.runs, () => measure(name, tool, spec, proxy));
    const latency: LatencyRow[] = [];
    for (const rate of s.rates) latency.push(await latencyAt(name, rate, fixedTool, port, proxy, s));
    return [row, latency];
  } catch (err) {
    const error = (err as Error).message;
    process.stderr.write(`bench: ${name} failed: ${error}\n`);
    return [{ target: name, tool: tool.name, load: null, cpuMsPer10k: null, rssMb: null, error },
      s.rates.map((rate) => ({ target: name, rate, result: null, cpuMsPer10k: null, error }))];
  } finally {
    await proxy?.stop();
  }
}

function setupLines(tool: LoadTool, fixedTool: FixedRateTool, s: Settings, upstreamKind: string, skipped: string[]): string[] {
  return [
    `- max throughput: ${tool.name}, ${s.connections} connections, ${s.durationS} s after a ${WARMUP_S} s warm-up, \`Host: ${HOST}\`; the median run of ${s.runs}`,
    `- fixed rates ${s.rates.join(', ')} req/s: ${fixedTool.openLoop ? 'bench/openloop (open loop: latency from the intended send time, no coordinated omission)' : 'autocannon -R (closed loop: NOT coordinated-omission free; no C compiler here)'}, ${s.connections} keep-alive connections, ${s.durationS} s; each figure the median over ${s.runs} runs`,
    `- upstream: ${upstreamKind} on 127.0.0.1; proxies: meshlet --workers 1 and --workers ${ALL_WORKERS}, nginx (1 worker, keep-alive upstream), HAProxy (nbthread 1, http-reuse always), http-proxy (node, keep-alive agent)`,
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
  let upstreamKind: string;
  try {
    const upstream = await startUpstream(dir);
    upstreamKind = upstream.kind;
    for (const target of s.targets.filter(available)) {
      const [row, lat] = await benchTarget(target, dir, upstream, tool, fixedTool, s);
      rows.push(row);
      latency.push(...lat);
    }
    await upstream.stop();
  } finally {
    await stopAll();
  }
  const tables = `## Max throughput\n\n${renderTable(rows)}\n\n## Latency at fixed rates\n\n${renderLatencyTable(latency)}\n`;
  const body = `# meshlet peer bench\n\n${[...machine, ...setupLines(tool, fixedTool, s, upstreamKind, skipped)].join('\n')}\n\n${tables}`;
  process.stdout.write(`\n${tables}`);
  process.stdout.write(`\nbench: wrote ${path.relative(REPO_ROOT, writeReport(REPO_ROOT, startedAt, body, 'peer-bench'))}\n`);
  if (rows.some((r) => r.load === null)) process.exitCode = 1;
}

main().catch(async (err: Error) => {
  process.stderr.write(`bench: ${err.stack ?? err.message}\n`);
  await stopAll(3000);
  process.exit(1);
});
