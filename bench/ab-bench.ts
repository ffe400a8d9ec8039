// `npm run bench:ab -- <repo A> <repo B>`: two builds of meshlet (each a checkout with `dist/`
// built) loaded AT THE SAME TIME, both pinned to the proxy CPU, one load generator each. The
// kernel's scheduler splits that CPU between them, so their req/s ratio is the ratio of their
// per-request costs under identical conditions: this VM's speed drifts by ±20–30% between
// minutes, which back-to-back runs cannot tell from a change, and which hits both builds alike
// here (an A/A run of one build against itself stays within ±3% per round). Not a test.
// BENCH_B_RESILIENCE=1 gives B's route retries, outlier detection and a consistent-hash balancer:
// with the same checkout as A and B, the ratio is those features' cost per request.
// BENCH_AB_HOP=mtls (or plain) runs each build as the mesh hop of bench/hop.ts instead (client →
// sidecar A → ISTIO_MUTUAL → sidecar B → upstream): the four sidecars share the proxy CPU, and
// each pair's CPU is its two sidecars'.
// `uws-floor` in place of a checkout is bench/uws-floor-server.ts (issue 16's floor): `npm run
// bench:ab -- uws-floor <repo>` is meshlet ÷ the floor without the drift between sequential runs.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hopIdentities, startHop } from './hop.js';
import { loadTools, type LoadResult, type LoadTool } from './load.js';
import { medianOf, positiveEnv } from './measure.js';
import { stopAll, stopChildrenOnExit } from './proc.js';
import { startUwsFloor } from './peers.js';
import { treeUsage } from './proc-stats.js';
import { machineLines, writeReport } from './report.js';
import { HOST, startMeshlet, startUpstream } from './servers.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CONNECTIONS = 50;
const WARMUP_S = 3;
/** in place of a checkout: the uWS floor (bench/uws-floor-server.ts) */
const FLOOR = 'uws-floor';

interface Side {
  root: string;
  /** where the load goes */
  port: number;
  /** the processes whose CPU is the side's (a meshlet; a hop's two sidecars) */
  pids: number[];
  stop(): Promise<unknown>;
}

function usage(s: Side): { cpuMs: number; rssMb: number } {
  const u = s.pids.map((pid) => treeUsage(pid));
  return { cpuMs: u.reduce((n, x) => n + x.cpuMs, 0), rssMb: Math.max(...u.map((x) => x.rssMb)) };
}

interface Round {
  a: LoadResult;
  b: LoadResult;
  /** CPU µs per request of each proxy process tree in this round */
  aUs: number;
  bUs: number;
  /** RSS of each proxy process tree at the end of the round */
  aRssMb: number;
  bRssMb: number;
}

async function loadBoth(tool: LoadTool, a: Side, b: Side, durationS: number): Promise<Round> {
  const [a0, b0] = [usage(a), usage(b)];
  const spec = (s: Side) => ({ url: `http://127.0.0.1:${s.port}/`, host: HOST, connections: CONNECTIONS, durationS });
  const [ra, rb] = await Promise.all([tool.run(spec(a)), tool.run(spec(b))]);
  const [a1, b1] = [usage(a), usage(b)];
  return {
    a: ra, b: rb, aUs: ((a1.cpuMs - a0.cpuMs) * 1000) / ra.requests, bUs: ((b1.cpuMs - b0.cpuMs) * 1000) / rb.requests, aRssMb: a1.rssMb, bRssMb: b1.rssMb,
  };
}

function report(roots: [string, string], rounds: Round[], tool: LoadTool, durationS: number, what: string): string {
  const lines = rounds.map((r, i) =>
    `| ${i + 1} | ${r.a.rps.toFixed(0)} | ${r.b.rps.toFixed(0)} | **${(r.b.rps / r.a.rps).toFixed(3)}** | ${r.aUs.toFixed(1)} | ${r.bUs.toFixed(1)} | ${r.aRssMb.toFixed(1)} | ${r.bRssMb.toFixed(1)} | ${r.a.errors + r.b.errors} |`);
  const ratio = medianOf(rounds.map((r) => r.b.rps / r.a.rps));
  const cpu = medianOf(rounds.map((r) => r.bUs / r.aUs));
  const last = rounds[rounds.length - 1];
  return [
    `- A: \`${roots[0]}\`\n- B: \`${roots[1]}\``,
    `- both ${what} pinned to the proxy CPU and loaded at once: ${tool.name}, ${CONNECTIONS} connections each, ${durationS} s rounds after a ${WARMUP_S} s warm-up; one upstream`,
    '',
    '| round | A req/s | B req/s | B ÷ A | A CPU µs/req | B CPU µs/req | A RSS MB | B RSS MB | errors |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...lines,
    '',
    `**Median B ÷ A: ${ratio.toFixed(3)}× req/s, ${cpu.toFixed(3)}× CPU per request** (${rounds.length} rounds); RSS at the end: A ${last?.aRssMb.toFixed(1)} MB, B ${last?.bRssMb.toFixed(1)} MB.`,
  ].join('\n');
}

async function main(): Promise<void> {
  stopChildrenOnExit();
  const roots = process.argv.slice(2).map((r) => (r === FLOOR ? r : path.resolve(r)));
  if (roots.length !== 2) throw new Error(`usage: npm run bench:ab -- <repo A> <repo B> (each with dist/ built, or ${FLOOR})`);
  const [rootA, rootB] = roots as [string, string];
  // B's route with retries + outlier detection + consistent hash (bench/servers.ts): with A = B, the features' cost
  const resilienceB = process.env.BENCH_B_RESILIENCE === '1';
  const hop = process.env.BENCH_AB_HOP ?? '';
  if (hop !== '' && hop !== 'mtls' && hop !== 'plain') throw new Error(`BENCH_AB_HOP: mtls or plain, got "${hop}"`);
  const rounds = positiveEnv('BENCH_ROUNDS', 8);
  const durationS = positiveEnv('BENCH_DURATION', 5);
  const tools = loadTools(REPO_ROOT);
  const tool = tools.find((t) => t.name === 'wrk') ?? (tools[0] as LoadTool);
  const startedAt = new Date();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshlet-ab-bench-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const results: Round[] = [];
  try {
    const upstream = await startUpstream(dir);
    const ids = hop === '' ? null : await hopIdentities('ab-bench-mesh');
    const side = async (root: string, name: string, resilience: boolean): Promise<Side> => {
      if (root === FLOOR) {
        if (ids !== null) throw new Error(`BENCH_AB_HOP: ${FLOOR} is not a mesh hop`);
        const floor = await startUwsFloor(REPO_ROOT, upstream.port);
        return { root, port: floor.port, pids: [floor.child.pid], stop: () => floor.stop() };
      }
      const own = mkdtempSync(path.join(dir, `${name}-`)); // each its own config file: a shared one would hot-reload the other
      if (ids !== null) {
        const pair = await startHop(hop === 'mtls' ? 'meshlet-mtls' : 'meshlet-plain', { repoRoot: root, dir: own, upstreamPort: upstream.port, ids, workers: 1, baseRoot: null });
        return { root, port: pair.port, pids: [pair.a.pid, pair.b.pid], stop: () => pair.stop() };
      }
      const proxy = await startMeshlet(own, upstream.port, { repoRoot: root, extraArgs: [], profileDir: null, resilience });
      return { root, port: proxy.port, pids: [proxy.child.pid], stop: () => proxy.stop() };
    };
    const a = await side(rootA, 'a', false);
    const b = await side(rootB, 'b', resilienceB && hop === '');
    await loadBoth(tool, a, b, WARMUP_S);
    for (let i = 0; i < rounds; i++) {
      const r = await loadBoth(tool, a, b, durationS);
      process.stderr.write(`bench: round ${i + 1}: A ${r.a.rps.toFixed(0)} req/s, B ${r.b.rps.toFixed(0)} req/s, B/A ${(r.b.rps / r.a.rps).toFixed(3)}\n`);
      results.push(r);
    }
    await a.stop();
    await b.stop();
    await upstream.stop();
  } finally {
    await stopAll();
  }
  const what = hop !== '' ? `mesh hops (${hop}: two sidecars each, --workers 1)` : roots.includes(FLOOR) ? 'proxies (meshlet --workers 1, uws-floor)' : 'meshlets (--workers 1)';
  const table = report([rootA, resilienceB && hop === '' ? `${rootB} (route with retries + outlier detection + consistent hash)` : rootB], results, tool, durationS, what);
  const body = `# meshlet A/B bench (same CPU, same time)\n\n${machineLines().join('\n')}\n${table}\n`;
  process.stdout.write(`\n${table}\n`);
  process.stdout.write(`\nbench: wrote ${path.relative(REPO_ROOT, writeReport(REPO_ROOT, startedAt, body, 'ab-bench'))}\n`);
  if (results.some((r) => r.a.errors + r.b.errors > 0)) process.exitCode = 1;
}

main().catch(async (err: Error) => {
  process.stderr.write(`bench: ${err.stack ?? err.message}\n`);
  await stopAll(3000);
  process.exit(1);
});
