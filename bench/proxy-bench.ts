// `npm run bench`: one run measuring direct → upstream, meshlet and nginx (as reverse proxies) against
// the same upstream with autocannon (and wrk), then printing and saving a Markdown table. Not a test.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTools, type LoadSpec, type LoadTool } from './load.js';
import { CAN_PIN, stopAll, stopChildrenOnExit } from './proc.js';
import { measure, medianRun, positiveEnv } from './measure.js';
import { renderSelfTime, topSelfTime } from './profile.js';
import { machineLines, renderTable, writeReport, type Row } from './report.js';
import { HAS_NGINX, HOST, startMeshlet, startNginxProxy, startUpstream, type Server } from './servers.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WARMUP_S = 2;
/**
 * meshlet-resilience: the route has retries, outlier detection and a consistent-hash balancer;
 * meshlet-undici: the undici reference codec instead of meshlet's h1 codec; meshlet-nostats: no
 * stats records (the cost of stats); meshlet-accesslog: an access log line per request to a file.
 */
const TARGETS = ['direct', 'meshlet', 'meshlet-resilience', 'meshlet-undici', 'meshlet-nostats', 'meshlet-accesslog', 'nginx'] as const;
type Target = (typeof TARGETS)[number];

interface Settings {
  durationS: number;
  /** measured runs per target and tool; the median (by req/s) is reported */
  runs: number;
  connections: number;
  targets: Target[];
  meshletArgs: string[];
  profileDir: string | null;
}

function readSettings(): Settings {
  const targets = (process.env.BENCH_TARGETS ?? TARGETS.join(',')).split(',').map((t) => t.trim()).filter((t) => t !== '');
  const unknown = targets.filter((t) => !(TARGETS as readonly string[]).includes(t));
  if (unknown.length > 0) throw new Error(`BENCH_TARGETS: unknown target(s) ${unknown.join(', ')}; known: ${TARGETS.join(',')}`);
  return {
    durationS: positiveEnv('BENCH_DURATION', 10),
    runs: positiveEnv('BENCH_RUNS', 3),
    connections: positiveEnv('BENCH_CONNECTIONS', 50),
    targets: targets as Target[],
    meshletArgs: (process.env.BENCH_MESHLET_ARGS ?? '').split(/\s+/).filter((a) => a !== ''),
    profileDir: process.env.BENCH_CPU_PROFILE === '1' ? path.join(REPO_ROOT, 'bench/results/profiles') : null,
  };
}

function targetLabel(target: Target, settings: Settings): string {
  return target === 'meshlet' && settings.meshletArgs.length > 0 ? `meshlet (${settings.meshletArgs.join(' ')})` : target;
}

/** null for direct: nothing between the load and the upstream */
function startProxy(target: Target, dir: string, upstream: Server, settings: Settings): Promise<Server | null> {
  switch (target) {
    case 'direct': return Promise.resolve(null);
    case 'nginx': return startNginxProxy(dir, upstream.port);
    case 'meshlet': return startMeshlet(dir, upstream.port, { repoRoot: REPO_ROOT, extraArgs: settings.meshletArgs, profileDir: settings.profileDir });
    case 'meshlet-resilience': return startMeshlet(dir, upstream.port, { repoRoot: REPO_ROOT, extraArgs: settings.meshletArgs, profileDir: null, resilience: true });
    case 'meshlet-undici': return startMeshlet(dir, upstream.port, { repoRoot: REPO_ROOT, extraArgs: [...settings.meshletArgs, '--upstream-codec', 'undici'], profileDir: null });
    case 'meshlet-nostats': return startMeshlet(dir, upstream.port, { repoRoot: REPO_ROOT, extraArgs: [...settings.meshletArgs, '--disable-stats'], profileDir: null });
    case 'meshlet-accesslog': return startMeshlet(dir, upstream.port, { repoRoot: REPO_ROOT, extraArgs: [...settings.meshletArgs, '--access-log', path.join(dir, 'access.log')], profileDir: null });
  }
}

async function benchTarget(target: Target, dir: string, upstream: Server, tools: LoadTool[], settings: Settings): Promise<Row[]> {
  const label = targetLabel(target, settings);
  process.stderr.write(`bench: ${label}: starting\n`);
  let proxy: Server | null = null;
  try {
    proxy = await startProxy(target, dir, upstream, settings);
    const spec: LoadSpec = { url: `http://127.0.0.1:${(proxy ?? upstream).port}/`, host: HOST, connections: settings.connections, durationS: settings.durationS };
    await tools[0]?.run({ ...spec, durationS: WARMUP_S });
    const rows: Row[] = [];
    for (const tool of tools) rows.push(await medianRun(settings.runs, () => measure(label, tool, spec, proxy)));
    return rows;
  } catch (err) {
    const error = (err as Error).message;
    process.stderr.write(`bench: ${label} failed: ${error}\n`);
    return tools.map((tool) => ({ target: label, tool: tool.name, load: null, cpuMsPer10k: null, rssMb: null, error }));
  } finally {
    const code = await proxy?.stop();
    if (code !== undefined && code !== 0) process.stderr.write(`bench: ${label} exited with ${code} on SIGTERM\n`);
  }
}

function profilesSince(dir: string, since: number): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(dir, f))
    .filter((f) => statSync(f).mtimeMs >= since);
}

function profileSection(settings: Settings, since: number): string {
  if (settings.profileDir === null || !settings.targets.includes('meshlet')) return '';
  const files = profilesSince(settings.profileDir, since);
  if (files.length === 0) return '\n## meshlet CPU profile\n\nno .cpuprofile was written (did meshlet exit gracefully?)\n';
  const list = files.map((f) => `- ${path.relative(REPO_ROOT, f)}`).join('\n');
  return `\n## meshlet CPU profile: top 25 self time, all threads, % of busy time\n\n${list}\n\n${renderSelfTime(topSelfTime(files, REPO_ROOT, 25))}\n`;
}

function setupLines(tools: LoadTool[], settings: Settings, upstreamKind: string): string[] {
  return [
    `- load: ${tools.map((t) => t.name).join(' + ')}, ${settings.connections} connections, ${settings.durationS} s each after a ${WARMUP_S} s warm-up, \`Host: ${HOST}\`; median of ${settings.runs} runs`,
    `- upstream: ${upstreamKind} on 127.0.0.1`,
    `- pinning: ${CAN_PIN ? 'proxy on CPU 0, upstream and load generator on CPU 1 (taskset); direct leaves CPU 0 idle' : 'none (no taskset, or one CPU)'}`,
    '- autocannon latency has 1 ms resolution; CPU and RSS are the proxy process tree\'s, RSS at the end of each run',
  ];
}

async function main(): Promise<void> {
  stopChildrenOnExit();
  const settings = readSettings();
  const startedAt = new Date();
  const machine = machineLines();
  if (settings.profileDir !== null) mkdirSync(settings.profileDir, { recursive: true });
  const targets = settings.targets.filter((t) => t !== 'nginx' || HAS_NGINX);
  if (targets.length < settings.targets.length) process.stderr.write('bench: nginx is not installed, skipping the nginx target\n');
  const tools = loadTools(REPO_ROOT);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshlet-bench-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const rows: Row[] = [];
  let upstreamKind: string;
  try {
    const upstream = await startUpstream(dir);
    upstreamKind = upstream.kind;
    for (const target of targets) rows.push(...(await benchTarget(target, dir, upstream, tools, settings)));
    await upstream.stop();
  } finally {
    await stopAll();
  }
  const table = renderTable(rows);
  const profile = profileSection(settings, startedAt.getTime());
  const body = `# meshlet proxy bench\n\n${[...machine, ...setupLines(tools, settings, upstreamKind)].join('\n')}\n\n${table}\n${profile}`;
  process.stdout.write(`\n${table}\n${profile}`);
  process.stdout.write(`\nbench: wrote ${path.relative(REPO_ROOT, writeReport(REPO_ROOT, startedAt, body))}\n`);
  if (rows.some((r) => r.load === null)) process.exitCode = 1;
}

main().catch(async (err: Error) => {
  process.stderr.write(`bench: ${err.stack ?? err.message}\n`);
  await stopAll(3000);
  process.exit(1);
});
