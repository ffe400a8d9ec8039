// Load generators, pinned to the load CPU: autocannon (always) and wrk (when installed). Each run
// returns req/s, p50/p99 latency, errors and the request count in one shape.
import path from 'node:path';
import { hasCommand, runToEnd } from './proc.js';
import { UPSTREAM_CPU } from './servers.js';

export interface LoadSpec {
  url: string;
  host: string;
  connections: number;
  durationS: number;
}

export interface LoadResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** non-2xx responses plus socket errors and timeouts */
  errors: number;
  requests: number;
}

export interface LoadTool {
  name: string;
  run(spec: LoadSpec): Promise<LoadResult>;
}

const LOAD_CPU = UPSTREAM_CPU;

async function runTool(name: string, cmd: string, args: string[], durationS: number): Promise<string> {
  const r = await runToEnd(name, LOAD_CPU, cmd, args, (durationS + 30) * 1000);
  if (r.code !== 0) throw new Error(`${name} exited with ${r.code}:\n${r.output()}`);
  return r.stdout();
}

interface AutocannonJson {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
}

function autocannonTool(repoRoot: string): LoadTool {
  const bin = path.join(repoRoot, 'node_modules/autocannon/autocannon.js');
  return {
    name: 'autocannon',
    async run(spec) {
      const args = [bin, '-j', '-c', String(spec.connections), '-d', String(spec.durationS), '-H', `Host=${spec.host}`, spec.url];
      const j = JSON.parse(await runTool('autocannon', process.execPath, args, spec.durationS)) as AutocannonJson;
      return { rps: j.requests.average, p50Ms: j.latency.p50, p99Ms: j.latency.p99, errors: j.non2xx + j.errors, requests: j.requests.total };
    },
  };
}

const UNIT_MS: Record<string, number> = { us: 1e-3, ms: 1, s: 1e3, m: 60e3 };

function wrkLatencyMs(out: string, percentile: string): number {
  const m = new RegExp(`^\\s*${percentile}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
  return m === null ? NaN : Number(m[1]) * (UNIT_MS[m[2] as string] ?? NaN);
}

function wrkNumber(out: string, re: RegExp): number {
  return Number(re.exec(out)?.[1] ?? 0);
}

/** wrk -t1 --latency; its text output parsed */
function parseWrk(out: string): LoadResult {
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = socket === null ? 0 : socket.slice(1).reduce((sum, n) => sum + Number(n), 0);
  return {
    rps: wrkNumber(out, /^Requests\/sec:\s+([\d.]+)/m),
    p50Ms: wrkLatencyMs(out, '50'),
    p99Ms: wrkLatencyMs(out, '99'),
    errors: wrkNumber(out, /Non-2xx or 3xx responses: (\d+)/) + socketErrors,
    requests: wrkNumber(out, /^\s*(\d+) requests in /m),
  };
}

const wrkTool: LoadTool = {
  name: 'wrk',
  async run(spec) {
    const args = ['-t1', `-c${spec.connections}`, `-d${spec.durationS}s`, '--latency', '-H', `Host: ${spec.host}`, spec.url];
    return parseWrk(await runTool('wrk', 'wrk', args, spec.durationS));
  },
};

export function loadTools(repoRoot: string): LoadTool[] {
  return hasCommand('wrk') ? [autocannonTool(repoRoot), wrkTool] : [autocannonTool(repoRoot)];
}
