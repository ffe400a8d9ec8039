// Starts the real `meshlet run` binary as a child process on loopback ports and waits for /ready.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { freePort } from './ports.js';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const MAIN = path.join(REPO_ROOT, 'dist/src/cli/main.js');

export interface Meshlet {
  proc: ChildProcess;
  /** outbound listener port (the Sidecar egress port the helper adds) */
  port: number;
  adminPort: number;
  url: string;
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function writeConfig(yaml: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshlet-test-'));
  const file = path.join(dir, 'config.yaml');
  writeFileSync(file, yaml);
  return file;
}

export function sidecarYaml(port: number, extra = ''): string {
  return `apiVersion: networking.istio.io/v1beta1
kind: Sidecar
metadata:
  name: test-sidecar
spec:
  egress:
  - port: {number: ${port}, protocol: HTTP, name: http-out}
    bind: 127.0.0.1
    hosts: ["*/*"]
${extra}---
`;
}

export interface StartOptions {
  workers?: number;
  args?: string[];
  /** config files given as-is (after the generated Sidecar file) */
  files?: string[];
  /** do not add the generated Sidecar with a free outbound port */
  noSidecar?: boolean;
  port?: number;
  /** environment of the meshlet process (default: this process's) */
  env?: NodeJS.ProcessEnv;
}

/** Runs meshlet with `yaml` (plus a Sidecar on a free port). Rejects with its output if it exits first. */
export async function startMeshlet(yaml: string, opts: StartOptions = {}): Promise<Meshlet> {
  const port = opts.port ?? (await freePort());
  const adminPort = await freePort();
  const files = opts.noSidecar === true ? [] : [writeConfig(sidecarYaml(port))];
  if (yaml !== '') files.push(writeConfig(yaml));
  files.push(...(opts.files ?? []));
  const args = [MAIN, 'run', ...files.flatMap((f) => ['-c', f]), '--workers', String(opts.workers ?? 1),
    '--admin', `127.0.0.1:${adminPort}`, '--log-level', 'info', ...(opts.args ?? [])];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  proc.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const ready = waitReady(proc, adminPort);
  const code = await Promise.race([ready.then(() => 'ready' as const, () => 'failed' as const), exited]);
  if (code !== 'ready') throw new Error(`meshlet exited with ${code} before ready:\n${out}`);
  return {
    proc, port, adminPort, url: `http://127.0.0.1:${port}`,
    output: () => out,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode !== null) return proc.exitCode;
      proc.kill(signal);
      return exited;
    },
  };
}

/** Runs meshlet expecting it to refuse to start; resolves with exit code and output. */
export function runMeshletExpectingExit(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    proc.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    proc.once('exit', (code) => { clearTimeout(timer); resolve({ code, output: out }); });
  });
}

/** Resolves on meshlet's own "meshlet ready" log line (an event, not a poll), then checks /ready. */
async function waitReady(proc: ChildProcess, adminPort: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    const onData = (d: Buffer): void => {
      seen += d.toString();
      if (seen.includes('"msg":"meshlet ready"')) {
        proc.stderr?.off('data', onData);
        resolve();
      }
    };
    proc.stderr?.on('data', onData);
    proc.once('exit', () => reject(new Error('exited')));
  });
  const res = await request(`http://127.0.0.1:${adminPort}/ready`);
  await res.body.dump();
  if (res.statusCode !== 200) throw new Error(`/ready answered ${res.statusCode} after the ready line`);
}

export function serviceEntryYaml(name: string, endpoints: { port: number; labels?: Record<string, string> }[], host = name): string {
  const eps = endpoints.map((e) => `  - address: 127.0.0.1
    ports: {http: ${e.port}}
    labels: ${JSON.stringify(e.labels ?? {})}`).join('\n');
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ${name}
spec:
  hosts: [${host}]
  resolution: STATIC
  ports:
  - {number: 80, name: http, protocol: HTTP}
  endpoints:${endpoints.length === 0 ? ' []' : `\n${eps}`}
---
`;
}

export interface CliRun { code: number | null; stdout: string; stderr: string }

/** Runs `meshlet ARGS…` to its end (killed after 20 s), with its output. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<CliRun> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const kill = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.once('exit', (code) => { clearTimeout(kill); resolve({ code, stdout, stderr }); });
  });
}

/** A VirtualService for host `name` with one http rule (`body`: YAML lines of the rule). */
export function virtualServiceYaml(name: string, body: string): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${name}}
spec:
  hosts: [${name}]
  http:
  - ${body.trim().replace(/\n/g, '\n    ')}
---
`;
}

export interface CaServe {
  proc: ChildProcess;
  /** https://127.0.0.1:PORT */
  url: string;
  /** everything it printed so far */
  log(): string;
}

/** `meshlet ca serve --dir DIR` on a free loopback port; resolves on its "mesh CA serving" line. */
export function startCaServe(dir: string, extra: string[] = []): Promise<CaServe> {
  const proc = spawn(process.execPath, [MAIN, 'ca', 'serve', '--dir', dir, '--listen', '127.0.0.1:0', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  return new Promise<CaServe>((resolve, reject) => {
    let url = '';
    proc.stderr?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"url":"(https:\/\/127\.0\.0\.1:\d+)".*"msg":"mesh CA serving"/.exec(out);
      if (m !== null && url === '') {
        url = m[1] as string;
        resolve({ proc, url, log: () => out });
      }
    });
    proc.once('exit', (code) => reject(new Error(`ca serve exited ${code}:\n${out}`)));
  });
}
