// `node dist/bench/path-bench.js`: the per-request cost of path normalisation (ns per call), median
// of 5 runs, for a typical path (the fast path: nothing to do) and for paths that need rewriting.
import { normalizeRequestTarget, type PathNormalization } from '../src/http/path-normalize.js';

const CALLS = 2_000_000;

const CASES: [string, string, string, PathNormalization][] = [
  ['typical path, query (BASE)', '/api/v1/orders/12345/items', 'limit=10&page=2', 'BASE'],
  ['typical path (MERGE_SLASHES)', '/api/v1/orders/12345/items', '', 'MERGE_SLASHES'],
  ['typical path (NONE)', '/api/v1/orders/12345/items', '', 'NONE'],
  ['root (BASE)', '/', '', 'BASE'],
  ['%2e%2e bypass (BASE)', '/public/%2e%2e/admin/users', '', 'BASE'],
  ['dot segments (BASE)', '/a/b/./c/../d/e', '', 'BASE'],
  ['%2F and // (DECODE_AND_MERGE_SLASHES)', '/a//b%2Fc/%61%62%63', '', 'DECODE_AND_MERGE_SLASHES'],
];

let sink = 0;

function run(path: string, query: string, mode: PathNormalization): number {
  const t = { path, query };
  const start = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i++) {
    t.path = path;
    t.query = query;
    if (normalizeRequestTarget(t, mode)) sink += t.path.length;
  }
  return Number(process.hrtime.bigint() - start) / CALLS;
}

for (const [name, path, query, mode] of CASES) {
  run(path, query, mode); // warm-up
  const runs = Array.from({ length: 5 }, () => run(path, query, mode)).sort((a, b) => a - b);
  process.stdout.write(`${name.padEnd(40)} ${(runs[2] as number).toFixed(1).padStart(6)} ns/call  (runs: ${runs.map((r) => r.toFixed(1)).join(', ')})\n`);
}
if (sink === 42) process.stdout.write('\n');
