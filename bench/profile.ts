// Reads V8 .cpuprofile files (node --cpu-prof) and ranks functions by self time, aggregated by
// function name + url:line across the given profiles (meshlet's main thread and its workers).
import { readFileSync } from 'node:fs';

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  fn: string;
  ms: number;
  pct: number;
}

function frameKey(frame: CpuProfile['nodes'][number]['callFrame'], repoRoot: string): string {
  const url = frame.url.replace(/^file:\/\//, '').replace(repoRoot, '');
  const where = url === '' ? '' : ` ${url}:${frame.lineNumber + 1}`;
  return `${frame.functionName === '' ? '(anonymous)' : frame.functionName}${where}`;
}

/** Self time per sample is the delta to the next sample (the last sample gets none); "(idle)" is
 * left out, so percentages are of the time the threads were busy. */
export function topSelfTime(files: string[], repoRoot: string, n: number): SelfTime[] {
  const totals = new Map<string, number>();
  let allUs = 0;
  for (const file of files) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const keyOf = new Map(profile.nodes.map((node) => [node.id, frameKey(node.callFrame, repoRoot)]));
    profile.samples.forEach((id, i) => {
      const us = profile.timeDeltas[i + 1] ?? 0;
      const key = keyOf.get(id) ?? '?';
      if (key === '(idle)') return;
      totals.set(key, (totals.get(key) ?? 0) + us);
      allUs += us;
    });
  }
  return [...totals].sort((a, b) => b[1] - a[1]).slice(0, n)
    .map(([fn, us]) => ({ fn, ms: us / 1000, pct: allUs === 0 ? 0 : (100 * us) / allUs }));
}

export function renderSelfTime(rows: SelfTime[]): string {
  const lines = rows.map((r) => `| ${r.ms.toFixed(1)} | ${r.pct.toFixed(1)}% | \`${r.fn.replaceAll('|', '\\|')}\` |`);
  return ['| self ms | % | function |', '| ---: | ---: | --- |', ...lines].join('\n');
}
