// The results as Markdown: one row per target × load tool with ratios to direct and to nginx, the
// machine it ran on, and the file bench/results/proxy-bench-<ISO date>.md.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { LoadResult } from './load.js';

export interface Row {
  target: string;
  tool: string;
  load: LoadResult | null;
  /** the proxy's CPU time per 10k requests and RSS at the end of the run; null for direct */
  cpuMsPer10k: number | null;
  rssMb: number | null;
  /** why there is no result */
  error?: string;
}

export function fixed(n: number | null | undefined, digits: number): string {
  return n === null || n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(digits);
}

function ratio(row: Row, rows: Row[], baseTarget: string): string {
  const base = rows.find((r) => r.target.split(' ')[0] === baseTarget && r.tool === row.tool)?.load;
  return row.load === null || base === undefined || base === null ? '–' : `${fixed(row.load.rps / base.rps, 2)}×`;
}

export function renderTable(rows: Row[]): string {
  const head = '| target | tool | req/s | p50 ms | p99 ms | errors | CPU ms/10k req | RSS MB | ratio to direct | ratio to nginx |';
  const lines = rows.map((r) => r.load === null
    ? `| ${r.target} | ${r.tool} | failed: ${(r.error ?? '').split(/[;\n]/)[0]} | | | | | | | |`
    : `| ${r.target} | ${r.tool} | ${fixed(r.load.rps, 0)} | ${fixed(r.load.p50Ms, 2)} | ${fixed(r.load.p99Ms, 2)} | ${r.load.errors} `
      + `| ${fixed(r.cpuMsPer10k, 1)} | ${fixed(r.rssMb, 1)} | ${ratio(r, rows, 'direct')} | ${ratio(r, rows, 'nginx')} |`);
  return [head, '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |', ...lines].join('\n');
}

function cpuModel(): string {
  return /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
}

/** call before the run: the load average then tells whether something else was using the CPUs */
export function machineLines(): string[] {
  const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8' }).trim();
  return [`- date: ${sh('date', ['-u'])}`, `- kernel: ${sh('uname', ['-r'])}`, `- nproc: ${sh('nproc', [])}`,
    `- node: ${process.version}`, `- CPU: ${cpuModel()}`, `- load average before the run (1/5/15 min): ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`];
}

/** Writes `body` under bench/results/<prefix>-<ISO date>.md and returns the path. */
export function writeReport(repoRoot: string, startedAt: Date, body: string, prefix = 'proxy-bench'): string {
  const dir = path.join(repoRoot, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${prefix}-${startedAt.toISOString().replace(/\.\d+Z$/, 'Z').replaceAll(':', '-')}.md`);
  writeFileSync(file, body);
  return file;
}
