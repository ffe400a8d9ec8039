// `npm run bench:rss`: meshlet's resident memory (VmRSS of its process: the control thread and
// every worker thread) idle after start, sampled every second through BENCH_DURATION (default 60)
// seconds of maximum load (wrk, else autocannon; 50 connections, GET / through --workers 1 to a
// tiny upstream), and after the load; with each thread's V8 heap from the admin /workers endpoint.
// Issue 16's target: ≤ 80 MB after 60 s of maximum load with one worker. Not a test.
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTools, type LoadTool } from './load.js';
import { positiveEnv } from './measure.js';
import { stopAll, stopChildrenOnExit } from './proc.js';
import { machineLines, writeReport } from './report.js';
import { HOST, startMeshlet, startUpstream } from './servers.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SETTLE_MS = 3000;

function vmRssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? NaN : Number(m[1]) / 1024;
}

interface HeapMb { used: number; committed: number }
interface Workers { process: { rssMb: number; controlHeapMb: HeapMb }; workers: { heapMb: HeapMb }[] }

function adminWorkers(port: number): Promise<Workers> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/workers', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => { try { resolve(JSON.parse(body) as Workers); } catch (err) { reject(err as Error); } });
    }).once('error', reject);
  });
}

interface Point { label: string; rssMb: number; controlHeap: HeapMb; workerHeap: HeapMb }

async function point(label: string, pid: number, adminPort: number): Promise<Point> {
  const w = await adminWorkers(adminPort);
  return { label, rssMb: vmRssMb(pid), controlHeap: w.process.controlHeapMb, workerHeap: w.workers[0]?.heapMb ?? { used: NaN, committed: NaN } };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  stopChildrenOnExit();
  const durationS = positiveEnv('BENCH_DURATION', 60);
  // e.g. BENCH_NODE_ARGS='--max-semi-space-size=2' to measure a V8 flag's trade-off
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const tools = loadTools(REPO_ROOT);
  const tool = tools.find((t) => t.name === 'wrk') ?? (tools[0] as LoadTool);
  const startedAt = new Date();
  const machine = machineLines();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshlet-rss-bench-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const points: Point[] = [];
  const samples: number[] = [];
  let requests = 0;
  let rps = 0;
  let p99Ms = NaN;
  try {
    const upstream = await startUpstream(dir);
    const meshlet = await startMeshlet(dir, upstream.port, { repoRoot: REPO_ROOT, extraArgs: [], profileDir: null, nodeArgs });
    const adminPort = meshlet.adminPort;
    const pid = meshlet.child.pid;
    await sleep(SETTLE_MS);
    points.push(await point('idle, 3 s after ready', pid, adminPort));
    const sampler = setInterval(() => samples.push(vmRssMb(pid)), 1000);
    const r = await tool.run({ url: `http://127.0.0.1:${meshlet.port}/`, host: HOST, connections: 50, durationS });
    clearInterval(sampler);
    requests = r.requests;
    rps = r.rps;
    p99Ms = r.p99Ms;
    if (r.errors > 0) process.stderr.write(`bench: ${r.errors} errors (non-2xx or socket errors)\n`);
    points.push(await point(`right after ${durationS} s of load`, pid, adminPort));
    await sleep(SETTLE_MS);
    points.push(await point('3 s later', pid, adminPort));
    await meshlet.stop();
    await upstream.stop();
  } finally {
    await stopAll();
  }
  const mb = (n: number): string => n.toFixed(1);
  const table = [
    `- ${tool.name}, 50 connections, ${durationS} s, meshlet --workers 1 (routing + stats on)${nodeArgs.length > 0 ? `, node ${nodeArgs.join(' ')}` : ''}: ${requests} requests, ${rps.toFixed(0)} req/s, p99 ${p99Ms.toFixed(2)} ms`,
    `- RSS sampled every second under load: max ${mb(Math.max(...samples))} MB, last ${mb(samples.at(-1) ?? NaN)} MB`,
    '',
    '| when | RSS (MB) | control heap used / committed (MB) | worker heap used / committed (MB) |',
    '| --- | ---: | ---: | ---: |',
    ...points.map((p) => `| ${p.label} | **${mb(p.rssMb)}** | ${mb(p.controlHeap.used)} / ${mb(p.controlHeap.committed)} | ${mb(p.workerHeap.used)} / ${mb(p.workerHeap.committed)} |`),
  ].join('\n');
  process.stdout.write(`\n${table}\n`);
  const body = `# meshlet RSS bench\n\n${machine.join('\n')}\n${table}\n`;
  process.stdout.write(`\nbench: wrote ${path.relative(REPO_ROOT, writeReport(REPO_ROOT, startedAt, body, 'rss-bench'))}\n`);
}

main().catch(async (err: Error) => {
  process.stderr.write(`bench: ${err.stack ?? err.message}\n`);
  await stopAll(3000);
  process.exit(1);
});
