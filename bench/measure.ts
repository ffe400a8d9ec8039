// Shared by the benches: positive-integer env settings, one measured load run (the proxy's CPU
// time around it, RSS at its end) and the median of n runs.
import type { LoadSpec, LoadTool } from './load.js';
import { treeUsage } from './proc-stats.js';
import type { Row } from './report.js';
import type { Server } from './servers.js';

export function positiveEnv(name: string, fallback: number): number {
  const n = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}: expected a positive integer, got "${process.env[name]}"`);
  return n;
}

/** One measured load run; the proxy's CPU time is read around it and its RSS at its end. */
export async function measure(label: string, tool: LoadTool, spec: LoadSpec, proxy: Server | null): Promise<Row> {
  const before = proxy === null ? null : treeUsage(proxy.child.pid);
  const load = await tool.run(spec);
  const after = proxy === null ? null : treeUsage(proxy.child.pid);
  const cpuMs = before === null || after === null ? null : after.cpuMs - before.cpuMs;
  process.stderr.write(`bench: ${label} / ${tool.name}: ${load.rps.toFixed(0)} req/s, ${load.errors} errors\n`);
  return { target: label, tool: tool.name, load, cpuMsPer10k: cpuMs === null ? null : (cpuMs * 10_000) / load.requests, rssMb: after?.rssMb ?? null };
}

/** Runs `once` n times and keeps the run with the median throughput (a single run here varies ±20%). */
export async function medianRun(n: number, once: () => Promise<Row>): Promise<Row> {
  const rows: Row[] = [];
  for (let i = 0; i < n; i++) rows.push(await once());
  return medianRow(rows);
}

/** The run with the median throughput (its CPU and RSS come with it); rows must not be empty. */
export function medianRow(rows: Row[]): Row {
  const sorted = [...rows].sort((a, b) => (a.load?.rps ?? 0) - (b.load?.rps ?? 0));
  return sorted[Math.floor(sorted.length / 2)] as Row;
}

/** The median of the finite values (NaN when none): for latency percentiles, each taken separately. */
export function medianOf(values: number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
