// Debian's nghttp2-client (`nghttp`, `h2load`): an HTTP/2 client independent of Node's. Installed
// by .ci/run when missing; tests that need it are skipped (with the reason) without it.
import { spawn, spawnSync } from 'node:child_process';

export function nghttpInstalled(): boolean {
  return spawnSync('nghttp', ['--version'], { encoding: 'utf8', timeout: 10_000 }).status === 0;
}

export function h2loadInstalled(): boolean {
  return spawnSync('h2load', ['--version'], { encoding: 'utf8', timeout: 10_000 }).status === 0;
}

export const NGHTTP_MISSING = 'nghttp2-client (nghttp, h2load) is not installed: apt-get install nghttp2-client';

export interface RunResult { code: number | null; stdout: string; stderr: string }

/** Runs `cmd args…` to its end (killed after `timeoutMs`). */
export function run(cmd: string, args: string[], timeoutMs = 30_000): Promise<RunResult> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => { stdout += d.toString('latin1'); });
    p.stderr.on('data', (d: Buffer) => { stderr += d.toString('latin1'); });
    const kill = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.once('exit', (code) => { clearTimeout(kill); resolve({ code, stdout, stderr }); });
  });
}

/** `nghttp` to `url` with `:authority` `authority` and extra args; `verbose`: frames and headers in stdout (else the body only). */
export function nghttp(url: string, authority: string, args: string[] = [], verbose = true): Promise<RunResult> {
  return run('nghttp', [...(verbose ? ['-v'] : []), '--no-dep', '-H', `:authority: ${authority}`, ...args, url]);
}

/** The response headers nghttp printed for stream `id` (`recv (stream_id=N) name: value`). */
export function nghttpHeaders(out: string): Record<string, string[]> {
  const h: Record<string, string[]> = {};
  for (const m of out.matchAll(/recv \(stream_id=\d+\) ([^:\s][^:]*|:[a-z]+): (.*)$/gm)) {
    (h[m[1] as string] ??= []).push(m[2] as string);
  }
  return h;
}
