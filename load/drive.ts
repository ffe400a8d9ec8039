// The load of a scenario run: autocannon in-process (every response's status and latency counted,
// latency percentiles from an HDR histogram of them), or k6 running the scenario's .k6.js twin.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import type { EventEmitter } from 'node:events';
import { build } from 'hdr-histogram-js';
import type { ClientStats } from './summary.js';

export interface DriveSpec {
  url: string;
  host: string;
  connections: number;
  /** overall req/s; 0: as fast as possible */
  rate: number;
  durationS: number;
  slowMs: number | null;
}

interface AutocannonResult { errors: number }
type AutocannonInstance = EventEmitter & PromiseLike<AutocannonResult>;
type Autocannon = (opts: Record<string, unknown>) => AutocannonInstance;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

export async function autocannonDrive(spec: DriveSpec): Promise<ClientStats> {
  const hist = build({ bitBucketSize: 32, autoResize: true, lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3, useWebAssembly: false });
  const statusCounts: Record<string, number> = {};
  let slow = 0;
  const instance = autocannon({
    url: spec.url, connections: spec.connections, duration: spec.durationS, headers: { host: spec.host },
    ...(spec.rate > 0 ? { overallRate: spec.rate } : {}),
  });
  instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    statusCounts[status] = (statusCounts[status] ?? 0) + 1;
    hist.recordValue(Math.max(1, Math.round(ms * 1000)));
    if (spec.slowMs !== null && ms >= spec.slowMs) slow++;
  });
  const result = await instance;
  const responses = Object.values(statusCounts).reduce((a, b) => a + b, 0);
  const ms = (p: number): number => (hist.totalCount === 0 ? NaN : hist.getValueAtPercentile(p) / 1000);
  return {
    tool: 'autocannon', requests: responses + result.errors, statusCounts, errors: result.errors,
    p50Ms: ms(50), p99Ms: ms(99), p999Ms: ms(99.9), slowMs: spec.slowMs, slow,
  };
}

/** `k6 run` with the scenario's script; resolves with k6's exit code (99: a threshold failed). */
export function k6Drive(script: string, spec: DriveSpec): Promise<number> {
  const env = { MESHLET_URL: new URL(spec.url).origin, DURATION: `${spec.durationS}s`, RATE: String(spec.rate || 1000), VUS: String(spec.connections) };
  const args = ['run', ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]), script];
  const child = spawn('k6', args, { stdio: ['ignore', 'inherit', 'inherit'] });
  return new Promise((resolve) => {
    child.once('error', (err) => { process.stderr.write(`load: k6: ${err.message} (is k6 installed?)\n`); resolve(-1); });
    child.once('close', (code) => resolve(code ?? -1));
  });
}
