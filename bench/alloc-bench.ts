// `npm run bench:alloc`: JavaScript heap bytes allocated per proxied GET, read from V8's own GC
// trace (`--trace-gc-nvp` prints, per isolate and per collection, `allocated=` bytes since the
// previous one), for meshlet (--workers 1, routing + stats on: its worker isolate) and the
// uws-floor, loaded the same way in one run. Allocation sets how often the young generation is
// scavenged, and a scavenge is what a request that meets one waits for (p99). Then the mTLS mesh
// hop (bench/hop.ts: client → sidecar A → ISTIO_MUTUAL → sidecar B → upstream), each sidecar's
// worker per request; with BENCH_BASE (a built checkout of another commit) its pair too. Not a test.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { baseRootFromEnv, hopIdentities, startHop, type HopTarget } from './hop.js';
import { loadTools, type LoadTool } from './load.js';
import type { Child } from './proc.js';
import { positiveEnv } from './measure.js';
import { startUwsFloor } from './peers.js';
import { stopAll, stopChildrenOnExit } from './proc.js';
import { machineLines, writeReport } from './report.js';
import { HOST, startMeshlet, startUpstream } from './servers.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const GC_LINE = /^\[\d+:(0x[0-9a-f]+)\][^\n]*?\ballocated=(\d+)/gm;

/** Bytes each isolate allocated according to the GC lines in `text`. */
function allocatedByIsolate(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(GC_LINE)) out.set(m[1] as string, (out.get(m[1] as string) ?? 0) + Number(m[2]));
  return out;
}

interface Row { name: string; requests: number; rps: number; bytesPerRequest: number; gcs: number }

/**
 * Loads `port` and reads each process's GC lines over the run: one row per process (named), its
 * busiest isolate (the one serving requests: meshlet's worker) ÷ the requests.
 */
async function measure(tool: LoadTool, port: number, procs: Array<[string, Child]>, durationS: number): Promise<Row[]> {
  const spec = { url: `http://127.0.0.1:${port}/`, host: HOST, connections: 50, durationS };
  await tool.run({ ...spec, durationS: 3 }); // warm-up: JIT, pools, young generation size
  const from = procs.map(([, child]) => child.stdout().length);
  const r = await tool.run(spec);
  if (r.errors > 0) process.stderr.write(`bench: ${procs[0]?.[0]}: ${r.errors} errors (non-2xx or socket errors)\n`);
  return procs.map(([name, child], i) => {
    const window = child.stdout().slice(from[i]);
    const busiest = Math.max(0, ...allocatedByIsolate(window).values());
    const gcs = [...window.matchAll(GC_LINE)].length;
    return { name, requests: r.requests, rps: r.rps, bytesPerRequest: busiest / r.requests, gcs };
  });
}

/** The mTLS hop's sidecars, A and B, per request through the pair (`target`: this checkout's or BENCH_BASE's). */
async function measureHop(tool: LoadTool, target: HopTarget, dir: string, upstreamPort: number, baseRoot: string | null, durationS: number): Promise<Row[]> {
  const ids = await hopIdentities('alloc-bench-mesh');
  const pair = await startHop(target, { repoRoot: REPO_ROOT, dir, upstreamPort, ids, workers: 1, baseRoot, nodeArgs: ['--trace-gc-nvp'] });
  try {
    return await measure(tool, pair.port, [[`${target} A (outbound, TLS client)`, pair.a], [`${target} B (inbound, TLS server)`, pair.b]], durationS);
  } finally {
    await pair.stop();
  }
}

async function main(): Promise<void> {
  stopChildrenOnExit();
  const durationS = positiveEnv('BENCH_DURATION', 10);
  const tools = loadTools(REPO_ROOT);
  const tool = tools.find((t) => t.name === 'wrk') ?? (tools[0] as LoadTool);
  const startedAt = new Date();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshlet-alloc-bench-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const rows: Row[] = [];
  try {
    const upstream = await startUpstream(dir);
    const nodeArgs = ['--trace-gc-nvp'];
    const meshlet = await startMeshlet(dir, upstream.port, { repoRoot: REPO_ROOT, extraArgs: [], profileDir: null, nodeArgs });
    const floor = await startUwsFloor(REPO_ROOT, upstream.port, nodeArgs);
    for (const t of [meshlet, floor]) rows.push(...await measure(tool, t.port, [[t.name, t.child]], durationS));
    await meshlet.stop();
    await floor.stop();
    const baseRoot = baseRootFromEnv();
    for (const target of ['meshlet-mtls', ...(baseRoot === null ? [] : ['meshlet-mtls-base'])] as HopTarget[]) {
      rows.push(...await measureHop(tool, target, dir, upstream.port, baseRoot, durationS));
    }
    await upstream.stop();
  } finally {
    await stopAll();
  }
  const table = [
    `- ${tool.name}, 50 connections, ${durationS} s after a 3 s warm-up; bytes = the busiest isolate's \`allocated=\` sum over the run ÷ requests`,
    '',
    '| target | requests | req/s | scavenges | bytes allocated per request |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.name} | ${r.requests} | ${r.rps.toFixed(0)} | ${r.gcs} | **${r.bytesPerRequest.toFixed(0)}** |`),
  ].join('\n');
  process.stdout.write(`\n${table}\n`);
  const body = `# meshlet allocation bench\n\n${machineLines().join('\n')}\n${table}\n`;
  process.stdout.write(`\nbench: wrote ${path.relative(REPO_ROOT, writeReport(REPO_ROOT, startedAt, body, 'alloc-bench'))}\n`);
}

main().catch(async (err: Error) => {
  process.stderr.write(`bench: ${err.stack ?? err.message}\n`);
  await stopAll(3000);
  process.exit(1);
});
