// `npm run bench:mtls`: inbound throughput of meshlet with mTLS (STRICT, TLS terminated in the
// workers) against plaintext inbound in the same run — direct to the upstream, a plain inbound
// listener, PERMISSIVE plaintext (sniffed, no TLS), STRICT mTLS with 1 worker on the proxy CPU, and
// STRICT mTLS with 2 workers, first on the proxy CPU alone (the cost of spreading) and then on both
// CPUs (how inbound mTLS scales with workers on this 2-CPU machine: the load generator shares the
// second CPU). Keep-alive connections from BENCH_LOADERS (2) load processes.
// BENCH_DURATION (s, default 5), BENCH_CONNECTIONS (default 50, split over the loaders). Not a test.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { identityArgs, identityDir, makeCa, makeLeaf, peerAuthenticationYaml } from '../test/helpers/certs.js';
import type { LoadResult } from './load.js';
import { freePort, httpStatus, launch, runToEnd, stop, stopAll, stopChildrenOnExit, waitUntil, type Child } from './proc.js';
import { machineLines, renderTable, writeReport, type Row } from './report.js';
import { PROXY_CPU, UPSTREAM_CPU, startUpstream } from './servers.js';
import { treeUsage } from './proc-stats.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const HOST = 'bench-inbound';
const DURATION_S = Number(process.env.BENCH_DURATION ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const WARMUP_S = 1;
const LOADERS = Number(process.env.BENCH_LOADERS ?? 2);

interface Certs { ca: string; cert: string; key: string; args: string[] }

function sidecarYaml(inbound: number, egress: number, upstream: number): string {
  return `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: bench}
spec:
  ingress:
  - port: {number: ${inbound}, protocol: HTTP, name: http-in}
    defaultEndpoint: 127.0.0.1:${upstream}
  egress:
  - port: {number: ${egress}, protocol: HTTP}
    hosts: ["*/*"]
---
`;
}

async function startInbound(dir: string, upstream: number, mode: 'DISABLE' | 'PERMISSIVE' | 'STRICT', extra: string[], workers: number, cpus: number | string): Promise<{ child: Child; port: number }> {
  const [port, egress, admin] = [await freePort(), await freePort(), await freePort()];
  const file = path.join(dir, `inbound-${port}.yaml`);
  writeFileSync(file, sidecarYaml(port, egress, upstream) + peerAuthenticationYaml(mode));
  const child = launch('meshlet', cpus, process.execPath, [path.join(REPO_ROOT, 'dist/src/cli/main.js'), 'run', '-c', file,
    '--workers', String(workers), '--admin', `127.0.0.1:${admin}`, '--log-level', 'warn', ...extra]);
  await waitUntil(child, async () => (await httpStatus(admin, '/ready')) === 200);
  return { child, port };
}

/** LOADERS load processes at once (one node process is the bottleneck for a TLS client), results summed. */
async function load(url: string, durationS: number, certs: Certs | null): Promise<LoadResult> {
  const spec = { url, host: HOST, connections: Math.ceil(CONNECTIONS / LOADERS), durationS, ...(certs === null ? {} : { ca: certs.ca, cert: certs.cert, key: certs.key }) };
  const runs = await Promise.all(Array.from({ length: LOADERS }, () =>
    runToEnd('load', UPSTREAM_CPU, process.execPath, [path.join(REPO_ROOT, 'dist/bench/mtls-load.js'), JSON.stringify(spec)], (durationS + 30) * 1000)));
  const results = runs.map((r) => {
    if (r.code !== 0) throw new Error(`load exited with ${r.code}: ${r.output()}`);
    return JSON.parse(r.stdout()) as LoadResult;
  });
  const sum = (f: (r: LoadResult) => number): number => results.reduce((n, r) => n + f(r), 0);
  return { requests: sum((r) => r.requests), rps: sum((r) => r.rps), p50Ms: Math.max(...results.map((r) => r.p50Ms)), p99Ms: Math.max(...results.map((r) => r.p99Ms)), errors: sum((r) => r.errors) };
}

async function measure(target: string, url: string, proxy: Child | null, certs: Certs | null): Promise<Row> {
  await load(url, WARMUP_S, certs);
  const before = proxy === null ? null : treeUsage(proxy.pid);
  const result = await load(url, DURATION_S, certs);
  const after = proxy === null ? null : treeUsage(proxy.pid);
  process.stderr.write(`bench: ${target}: ${result.rps.toFixed(0)} req/s, p99 ${result.p99Ms.toFixed(2)} ms, ${result.errors} errors\n`);
  return { target, tool: 'undici', load: result, cpuMsPer10k: before === null || after === null ? null : ((after.cpuMs - before.cpuMs) * 10_000) / result.requests, rssMb: after?.rssMb ?? null };
}

async function main(): Promise<void> {
  stopChildrenOnExit();
  const startedAt = new Date();
  const machine = machineLines();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshlet-mtls-bench-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const ca = makeCa('bench-mesh');
  const server = identityDir(makeLeaf(ca, 'spiffe://cluster.local/ns/bench/sa/server'), ca.certPem);
  const client = identityDir(makeLeaf(ca, 'spiffe://cluster.local/ns/bench/sa/client'), ca.certPem);
  const clientCerts: Certs = { ...client, args: [] };
  const rows: Row[] = [];
  try {
    const upstream = await startUpstream(dir);
    rows.push(await measure('direct', `http://127.0.0.1:${upstream.port}`, null, null));
    const both = `${PROXY_CPU},${UPSTREAM_CPU}`;
    const variants: [string, 'DISABLE' | 'PERMISSIVE' | 'STRICT', string[], Certs | null, number, number | string][] = [
      ['meshlet inbound, plaintext', 'DISABLE', [], null, 1, PROXY_CPU],
      ['meshlet inbound, PERMISSIVE plaintext (sniffed)', 'PERMISSIVE', identityArgs(server), null, 1, PROXY_CPU],
      ['meshlet inbound, STRICT mTLS', 'STRICT', identityArgs(server), clientCerts, 1, PROXY_CPU],
      ['meshlet inbound, STRICT mTLS, 2 workers on CPU 0', 'STRICT', identityArgs(server), clientCerts, 2, PROXY_CPU],
      ['meshlet inbound, STRICT mTLS, 1 worker on CPUs 0-1', 'STRICT', identityArgs(server), clientCerts, 1, both],
      ['meshlet inbound, STRICT mTLS, 2 workers on CPUs 0-1', 'STRICT', identityArgs(server), clientCerts, 2, both],
    ];
    for (const [target, mode, extra, certs, workers, cpus] of variants) {
      const m = await startInbound(dir, upstream.port, mode, extra, workers, cpus);
      try {
        rows.push(await measure(target, `${certs === null ? 'http' : 'https'}://127.0.0.1:${m.port}`, m.child, certs));
      } finally {
        await stop(m.child);
      }
    }
    await upstream.stop();
  } finally {
    await stopAll();
  }
  const plain = rows.find((r) => r.target === 'meshlet inbound, plaintext')?.load;
  const mtls = rows.find((r) => r.target === 'meshlet inbound, STRICT mTLS')?.load;
  const summary = plain === undefined || mtls === undefined || plain === null || mtls === null ? '' :
    `\nmTLS vs plaintext inbound: ${(mtls.rps / plain.rps).toFixed(2)}× throughput, p99 +${(mtls.p99Ms - plain.p99Ms).toFixed(2)} ms (${plain.p99Ms.toFixed(2)} → ${mtls.p99Ms.toFixed(2)})\n`;
  const table = renderTable(rows);
  const setup = [`- load: ${LOADERS} undici processes, ${CONNECTIONS} keep-alive connections in all, ${DURATION_S} s after a ${WARMUP_S} s warm-up, on CPU ${UPSTREAM_CPU}`,
    `- meshlet: the workers (each terminating its own connections' TLS) on CPU ${PROXY_CPU}, or on both CPUs where said (sharing CPU ${UPSTREAM_CPU} with the load); RSA-2048 workload certificates, TLS 1.3`];
  const body = `# meshlet mTLS inbound bench\n\n${[...machine, ...setup].join('\n')}\n\n${table}\n${summary}`;
  process.stdout.write(`\n${table}\n${summary}`);
  process.stdout.write(`\nbench: wrote ${path.relative(REPO_ROOT, writeReport(REPO_ROOT, startedAt, body, 'mtls-bench'))}\n`);
}

main().catch(async (err: Error) => {
  process.stderr.write(`bench: ${err.stack ?? err.message}\n`);
  await stopAll(3000);
  process.exit(1);
});
