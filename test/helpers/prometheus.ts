// A real Prometheus server (Debian's `prometheus`) scraping meshlet's admin endpoint, for
// end-to-end metric checks: temp config and TSDB, loopback port, instant queries over its HTTP API.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { freePort } from './ports.js';

export const PROMETHEUS = process.env.PROMETHEUS ?? 'prometheus';

export function prometheusInstalled(): boolean {
  const r = spawnSync(PROMETHEUS, ['--version'], { encoding: 'utf8', timeout: 15_000 });
  return r.error === undefined && r.status === 0;
}

export interface Prometheus {
  url: string;
  /** an instant query's vector result: [labels, value] */
  query(q: string): Promise<[Record<string, string>, number][]>;
  output(): string;
  stop(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Starts Prometheus scraping `metricsPath` on 127.0.0.1:`targetPort` (or each of several) every second; resolves once /-/ready answers. */
export async function startPrometheus(targetPort: number | readonly number[], metricsPath: string, readyWithinMs = 20_000): Promise<Prometheus> {
  const targets = (typeof targetPort === 'number' ? [targetPort] : targetPort).map((p) => `'127.0.0.1:${p}'`).join(', ');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshlet-prometheus-'));
  const config = path.join(dir, 'prometheus.yml');
  writeFileSync(config, `global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}
scrape_configs:
- job_name: meshlet
  metrics_path: ${metricsPath}
  static_configs: [{targets: [${targets}]}]
`);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc: ChildProcess = spawn(PROMETHEUS, [`--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  proc.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // Prometheus has no readiness event to wait on from outside: poll /-/ready, bounded.
  const deadline = Date.now() + readyWithinMs;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`prometheus exited ${proc.exitCode}:\n${out}`);
    const ready = await request(`${url}/-/ready`).then(async (r) => { await r.body.dump(); return r.statusCode === 200; }, () => false);
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus not ready within ${readyWithinMs} ms:\n${out}`);
    }
    await sleep(100);
  }
  return {
    url,
    output: () => out,
    stop,
    async query(q) {
      const res = await request(`${url}/api/v1/query?query=${encodeURIComponent(q)}`);
      const body = await res.body.json() as { status: string; error?: string; data?: { result: { metric: Record<string, string>; value: [number, string] }[] } };
      if (body.status !== 'success') throw new Error(`query ${q}: ${body.error ?? body.status}`);
      return (body.data?.result ?? []).map((r) => [r.metric, Number(r.value[1])]);
    },
  };
}
