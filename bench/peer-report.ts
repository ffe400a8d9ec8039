// The peer bench's fixed-rate latency table: per target and rate the median (field by field) of
// its runs, p50/p90/p99/p99.9, the p99 added over direct at the same rate, and the proxy's CPU.
import { medianOf } from './measure.js';
import type { FixedRateResult } from './openloop.js';
import { fixed } from './report.js';

export interface LatencyRow {
  target: string;
  rate: number;
  /** null when the target failed at this rate */
  result: FixedRateResult | null;
  /** the proxy's CPU time per 10k completed requests; null for direct */
  cpuMsPer10k: number | null;
  error?: string;
}

/** Each field's median over the runs: percentiles of different runs are not mixed into one run. */
export function medianResult(runs: FixedRateResult[]): FixedRateResult {
  if (runs.length === 0) throw new Error('medianResult: no runs');
  const m = (f: (r: FixedRateResult) => number): number => medianOf(runs.map(f));
  return {
    rate: runs[0]?.rate ?? NaN, achievedRps: m((r) => r.achievedRps), completed: m((r) => r.completed), errors: m((r) => r.errors),
    unsent: m((r) => r.unsent), p50Ms: m((r) => r.p50Ms), p90Ms: m((r) => r.p90Ms), p99Ms: m((r) => r.p99Ms), p999Ms: m((r) => r.p999Ms),
  };
}

/** p99 over direct's p99 at the same rate, ms; null when either is missing */
export function addedP99(row: LatencyRow, rows: LatencyRow[]): number | null {
  const direct = rows.find((r) => r.target === 'direct' && r.rate === row.rate)?.result;
  return row.result === null || direct === undefined || direct === null ? null : row.result.p99Ms - direct.p99Ms;
}

/** "saturated" when fewer than 95% of the scheduled rate was achieved or requests stayed unsent */
export function saturated(r: FixedRateResult): boolean {
  return r.achievedRps < 0.95 * r.rate || r.unsent > 0;
}

export function renderLatencyTable(rows: LatencyRow[]): string {
  const head = '| target | rate req/s | achieved req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | added p99 over direct ms | errors | CPU ms/10k req |';
  const lines = rows.map((row) => {
    const r = row.result;
    if (r === null) return `| ${row.target} | ${row.rate} | failed: ${(row.error ?? '').split(/[;\n]/)[0]} | | | | | | | |`;
    const added = addedP99(row, rows);
    const achieved = `${fixed(r.achievedRps, 0)}${saturated(r) ? ` (saturated${r.unsent > 0 ? `, ${fixed(r.unsent, 0)} unsent` : ''})` : ''}`;
    return `| ${row.target} | ${row.rate} | ${achieved} | ${fixed(r.p50Ms, 2)} | ${fixed(r.p90Ms, 2)} | ${fixed(r.p99Ms, 2)} | ${fixed(r.p999Ms, 2)} `
      + `| ${row.target === 'direct' ? '–' : added === null ? '–' : `${added >= 0 ? '+' : ''}${fixed(added, 2)}`} | ${fixed(r.errors, 0)} | ${fixed(row.cpuMsPer10k, 1)} |`;
  });
  return [head, '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |', ...lines].join('\n');
}
