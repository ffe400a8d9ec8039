// `npm run bench:regex`: the per-request cost of route regexes. CPU ns per full match for typical
// uri/header/authority patterns: V8's backtracking RegExp (`^(?:re)$`, what meshlet ran before),
// re2js's RE2JS.testExact (8 MiB DFA) and meshlet's StringMatcher (re2js RE2Set, 256 KiB DFA).
// Then pathological inputs: `/(a+)+` on `/` + n a's + `!` (V8 only up to BENCH_REGEX_V8_MAX a's,
// default 26: it doubles per a), patterns whose DFA explodes on 4 KiB values (the request head
// limit), and the query/cookie scans on 4 K to 64 K characters (linear: 4× the input, 4× the time).
import { performance } from 'node:perf_hooks';
import { RE2JS } from 're2js';
import { StringMatcher } from '../src/routing/string-match.js';
import { queryParam } from '../src/routing/request-view.js';
import { cookieValue } from '../src/request/hash-key.js';

type Test = (s: string) => boolean;

const TYPICAL: [field: string, regex: string, inputs: string[]][] = [
  ['uri', '/api/v[0-9]+/.*', ['/api/v2/users/123', '/web/index.html']],
  ['uri', '/items/[0-9]+', ['/items/123456', '/items/abc']],
  ['header user-agent', '(?:Mozilla|curl)/.*', ['curl/8.5.0', 'Wget/1.21.4']],
  ['header x-request-id', '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', ['0f8e2c3a-7b1d-4e5f-9a6b-1c2d3e4f5a6b', 'not-a-uuid']],
  ['authority', '(www\\.)?example\\.(com|org)(:[0-9]+)?', ['www.example.com:8080', 'example.net']],
];

const v8 = (re: string): Test => {
  const r = new RegExp(`^(?:${re})$`);
  return (s) => r.test(s);
};
const re2js = (re: string): Test => {
  const r = RE2JS.compile(re);
  return (s) => r.testExact(s);
};
const re2 = (re: string): Test => {
  const m = new StringMatcher({ kind: 'regex', value: re }, false);
  return (s) => m.test(s);
};

/** CPU ns per call (user + system: less swayed by other processes than wall time), median of 5 runs of `n` calls after a warm-up. */
function nsPerCall(f: Test, s: string, n = 200_000): number {
  let sink = 0;
  for (let i = 0; i < Math.min(n, 20_000); i++) if (f(s)) sink++;
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < n; i++) if (f(s)) sink++;
    const d = process.cpuUsage(t0);
    runs.push(((d.user + d.system) * 1e3) / n);
  }
  if (sink < 0) throw new Error('unreachable');
  runs.sort((a, b) => a - b);
  return runs[2] as number;
}

/** ms for one call (wall time). */
function msOnce(f: () => unknown): number {
  const t0 = performance.now();
  f();
  return performance.now() - t0;
}

const line = (s: string): void => {
  process.stdout.write(`${s}\n`);
};

line(`route regexes, Node ${process.version}, ${new Date().toISOString()}`);
line('');
line('| field | regex | input | V8 RegExp ns | re2js testExact ns | meshlet (RE2Set) ns |');
line('|---|---|---|---:|---:|---:|');
for (const [field, regex, inputs] of TYPICAL) {
  const a = v8(regex);
  const b = re2js(regex);
  const c = re2(regex);
  for (const s of inputs) {
    if (a(s) !== b(s) || b(s) !== c(s)) throw new Error(`engines disagree on ${regex} / ${s}`);
    line(`| ${field} | \`${regex}\` | \`${s}\` (${a(s) ? 'match' : 'no match'}) | ${nsPerCall(a, s).toFixed(0)} | ${nsPerCall(b, s).toFixed(0)} | ${nsPerCall(c, s).toFixed(0)} |`);
  }
}

line('');
line('`/(a+)+` on `/` + n a\'s + `!` (no match): V8 RegExp ms for one match; meshlet µs CPU per match');
line('');
line('| n | V8 RegExp ms | meshlet µs |');
line('|---:|---:|---:|');
const v8Max = Number(process.env.BENCH_REGEX_V8_MAX ?? 26);
const evil = v8('/(a+)+');
const safe = re2('/(a+)+');
evil('/aaaa!'); // irregexp compiles to native code on the first runs: keep that out of the n = 20 row
evil('/aaaa!');
for (const n of [20, 22, 24, 26, 28, 30, 1000, 100_000, 1_000_000]) {
  const s = `/${'a'.repeat(n)}!`;
  const tv8 = n <= v8Max ? msOnce(() => evil(s)).toFixed(1) : 'not run';
  const reps = Math.max(5, Math.floor(2_000_000 / n));
  line(`| ${n.toLocaleString('en-US')} | ${tv8} | ${(nsPerCall(safe, s, reps) / 1000).toFixed(2)} |`);
}

line('');
line('DFA-hostile patterns, 30 random values (ms CPU per match: median / worst)');
line('');
line('| regex | values | re2js testExact | meshlet (RE2Set) |');
line('|---|---|---:|---:|');
const rand = (n: number, alphabet: string): string => {
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(Math.random() * alphabet.length)];
  return s;
};
const HOSTILE: [regex: string, what: string, make: () => string][] = [
  // 2^21 DFA states: "the 21st character from the end is an a"
  ['(a|b)*a(a|b){20}', '4,000 random a/b', () => rand(4000, 'ab')],
  ['.*a.{30}', '4,000 random a/b', () => rand(4000, 'ab')],
  // a small DFA, but each state's table has a column per \pL range
  ['\\pL{1000}', '1,000 random letters', () => rand(1000, 'aébçdè')],
];
const ms = (f: Test, values: string[]): string => {
  const t: number[] = [];
  for (const v of values) {
    const t0 = process.cpuUsage();
    f(v);
    const d = process.cpuUsage(t0);
    t.push((d.user + d.system) / 1000);
  }
  t.sort((x, y) => x - y);
  return `${(t[t.length >> 1] as number).toFixed(2)} / ${(t[t.length - 1] as number).toFixed(2)}`;
};
for (const [regex, what, make] of HOSTILE) {
  const values = Array.from({ length: 30 }, make);
  line(`| \`${regex}\` | ${what} | ${ms(re2js(regex), values)} | ${ms(re2(regex), values)} |`);
}
line('');
line('| input (characters) | queryParam µs CPU | cookieValue µs CPU |');
line('|---:|---:|---:|');
for (const n of [4000, 16_000, 64_000]) {
  const q = 'a&'.repeat(n / 2);
  const c = ['cookie', 'a;'.repeat(n / 2)];
  const reps = Math.floor(4_000_000 / n);
  line(`| \`a&a&…\` / \`a;a;…\` ${n.toLocaleString('en-US')} | ${(nsPerCall(() => queryParam(q, 'b') !== null, '', reps) / 1000).toFixed(1)} | ${(nsPerCall(() => cookieValue(c, 'b') !== null, '', reps) / 1000).toFixed(1)} |`);
}
