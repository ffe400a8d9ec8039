// Fixed-rate latency for the peer bench: bench/openloop/openloop.c (open loop, latency from the
// intended send time), compiled on demand with `cc -O2` into dist/; without a compiler, autocannon's
// rate mode (closed loop, so not coordinated-omission free). Both answer one FixedRateResult.
import { statSync } from 'node:fs';
import path from 'node:path';
import { hasCommand, runToEnd } from './proc.js';
import { UPSTREAM_CPU } from './servers.js';

export interface FixedRateSpec {
  port: number;
  host: string;
  connections: number;
  durationS: number;
  /** requests per second */
  rate: number;
}

export interface FixedRateResult {
  rate: number;
  achievedRps: number;
  completed: number;
  /** socket errors, timeouts and non-2xx answers */
  errors: number;
  /** due requests never sent (no connection was free in time): the target is saturated */
  unsent: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
}

export interface FixedRateTool {
  name: string;
  /** open loop: latency counted from the intended send time */
  openLoop: boolean;
  run(spec: FixedRateSpec): Promise<FixedRateResult>;
}

interface OpenloopJson {
  error?: string;
  rate: number;
  scheduled: number;
  sent: number;
  completed: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  achieved_rps: number;
  latency_ms: { p50: number; p90: number; p99: number; p999: number };
}

/** openloop's one line of JSON; throws on its {"error": …} answer */
export function parseOpenloop(out: string): FixedRateResult {
  const j = JSON.parse(out.trim().split('\n').at(-1) ?? '') as OpenloopJson;
  if (j.error !== undefined) throw new Error(`openloop: ${j.error}`);
  const l = j.latency_ms;
  return {
    rate: j.rate, achievedRps: j.achieved_rps, completed: j.completed, errors: j.errors + j.timeouts + j.non2xx,
    unsent: j.scheduled - j.sent, p50Ms: l.p50, p90Ms: l.p90, p99Ms: l.p99, p999Ms: l.p999,
  };
}

async function run(name: string, cmd: string, args: string[], durationS: number): Promise<string> {
  const r = await runToEnd(name, UPSTREAM_CPU, cmd, args, (durationS + 30) * 1000);
  if (r.code !== 0) throw new Error(`${name} exited with ${r.code}:\n${r.output()}`);
  return r.stdout();
}

function mtime(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return -1;
  }
}

/** Compiles openloop.c when the binary is missing or older; null when there is no compiler. */
async function buildOpenloop(repoRoot: string): Promise<string | null> {
  const src = path.join(repoRoot, 'bench/openloop/openloop.c');
  const bin = path.join(repoRoot, 'dist/bench/openloop/openloop');
  if (mtime(bin) >= mtime(src)) return bin;
  const cc = ['cc', 'gcc', 'clang'].find(hasCommand);
  if (cc === undefined) return null;
  await run(cc, 'sh', ['-c', `mkdir -p "${path.dirname(bin)}" && ${cc} -O2 -Wall -o "${bin}" "${src}"`], 60);
  return bin;
}

function openloopTool(bin: string): FixedRateTool {
  return {
    name: 'openloop', openLoop: true,
    async run(s) {
      const args = ['-p', String(s.port), '-r', String(s.rate), '-d', String(s.durationS), '-c', String(s.connections), '-H', s.host];
      return parseOpenloop(await run('openloop', bin, args, s.durationS));
    },
  };
}

interface AutocannonRateJson {
  requests: { average: number; total: number };
  latency: { p50: number; p90: number; p99: number; p99_9: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}

function autocannonRateTool(repoRoot: string): FixedRateTool {
  const bin = path.join(repoRoot, 'node_modules/autocannon/autocannon.js');
  return {
    name: 'autocannon -R', openLoop: false,
    async run(s) {
      const args = [bin, '-j', '-c', String(s.connections), '-R', String(s.rate), '-d', String(s.durationS), '-H', `Host=${s.host}`, `http://127.0.0.1:${s.port}/`];
      const j = JSON.parse(await run('autocannon', process.execPath, args, s.durationS)) as AutocannonRateJson;
      return {
        rate: s.rate, achievedRps: j.requests.average, completed: j.requests.total, errors: j.non2xx + j.errors + j.timeouts, unsent: 0,
        p50Ms: j.latency.p50, p90Ms: j.latency.p90, p99Ms: j.latency.p99, p999Ms: j.latency.p99_9,
      };
    },
  };
}

export async function fixedRateTool(repoRoot: string): Promise<FixedRateTool> {
  const bin = await buildOpenloop(repoRoot);
  if (bin !== null) return openloopTool(bin);
  process.stderr.write('bench: no C compiler: fixed-rate latency falls back to autocannon -R (closed loop, not coordinated-omission free)\n');
  return autocannonRateTool(repoRoot);
}
