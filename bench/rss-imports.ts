// `npm run bench:rss-imports`: which packages the control thread and the worker load at start (the
// static import graph of the built entry points, dynamic import() not followed: that is what is
// loaded only when needed), and what each costs in RSS, imported alone into a fresh node (median
// of 3). Not a test; the figures add up only roughly (packages share their own dependencies).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { medianOf } from './measure.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ENTRIES = { control: 'dist/src/cli/main.js', worker: 'dist/workers/data-plane.js' };
// static imports and re-exports only: `import x from '…'`, `import '…'`, `export … from '…'`
const STATIC = /^\s*(?:import|export)\s+(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/gm;

/** The packages (bare specifiers, node: excluded) statically reachable from `entry` through local files. */
function packagesOf(entry: string): Map<string, string> {
  const seen = new Set<string>();
  const packages = new Map<string, string>(); // package → first local file importing it
  const queue = [path.join(REPO_ROOT, entry)];
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const m of readFileSync(file, 'utf8').matchAll(STATIC)) {
      const spec = m[1] as string;
      if (spec.startsWith('node:')) continue;
      if (spec.startsWith('.')) {
        const next = path.resolve(path.dirname(file), spec);
        if (existsSync(next)) queue.push(next);
        continue;
      }
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0] as string;
      if (!packages.has(name)) packages.set(name, path.relative(REPO_ROOT, file));
    }
  }
  return packages;
}

const PROBE = `
const before = process.memoryUsage().rss;
await import(process.argv[1]);
await new Promise((r) => setTimeout(r, 200));
process.stdout.write(String(process.memoryUsage().rss - before));`;

/** RSS added by importing `spec` from the repository root, in MB (median of 3 fresh processes). */
function importCostMb(spec: string): number {
  const runs = [0, 1, 2].map(() => Number(execFileSync(process.execPath, ['--input-type=module', '-e', PROBE, spec], { cwd: REPO_ROOT, encoding: 'utf8' })));
  return medianOf(runs) / 1048576;
}

function main(): void {
  for (const [thread, entry] of Object.entries(ENTRIES)) {
    const pkgs = packagesOf(entry);
    process.stdout.write(`\n${thread} (${entry}): ${pkgs.size} packages imported statically\n\n| package | RSS when imported alone (MB) | first imported by |\n| --- | ---: | --- |\n`);
    for (const [name, by] of pkgs) process.stdout.write(`| ${name} | ${importCostMb(name).toFixed(1)} | ${by} |\n`);
  }
}

main();
