// Child processes of the bench: spawn (pinned to one CPU with taskset when possible), wait until
// ready, stop with SIGTERM, and stop whatever is still running when the bench ends or is interrupted.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';

export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  stdout(): string;
  /** stdout and stderr, interleaved */
  output(): string;
  /** resolves with the exit code (128 + n when killed by signal n, -1 when it could not start) */
  exited: Promise<number>;
}

const live = new Set<Child>();

export function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/** taskset needs a second CPU to be of use: the proxy goes on CPU 0, upstream and load on CPU 1 */
export const CAN_PIN = hasCommand('taskset') && os.availableParallelism() > 1;

/** `cpu` null: not pinned; a string is a taskset CPU list ('0,1') */
export function launch(name: string, cpu: number | string | null, cmd: string, args: string[]): Child {
  const [file, argv] = CAN_PIN && cpu !== null ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, args];
  const proc = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let stdout = '';
  proc.stdout?.on('data', (d: Buffer) => { stdout += d.toString(); out += d.toString(); });
  proc.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<number>((resolve) => {
    proc.once('error', (err) => { out += `${err.message}\n`; resolve(-1); });
    proc.once('close', (code, signal) => resolve(code ?? 128 + (signal === null ? 0 : os.constants.signals[signal])));
  });
  const child: Child = { name, proc, pid: proc.pid ?? -1, stdout: () => stdout, output: () => out, exited };
  live.add(child);
  void exited.then(() => live.delete(child));
  return child;
}

function isRunning(child: Child): boolean {
  return child.proc.exitCode === null && child.proc.signalCode === null && child.pid > 0;
}

/** SIGTERM, then SIGKILL if it has not exited within `graceMs` */
export async function stop(child: Child, graceMs = 20_000): Promise<number> {
  if (isRunning(child)) child.proc.kill('SIGTERM');
  const timer = setTimeout(() => child.proc.kill('SIGKILL'), graceMs);
  const code = await child.exited;
  clearTimeout(timer);
  return code;
}

export async function stopAll(graceMs?: number): Promise<void> {
  await Promise.all([...live].map((c) => stop(c, graceMs)));
}

/** Runs a command to completion, killing it after `timeoutMs`. */
export async function runToEnd(name: string, cpu: number | null, cmd: string, args: string[], timeoutMs: number): Promise<Child & { code: number }> {
  const child = launch(name, cpu, cmd, args);
  const timer = setTimeout(() => child.proc.kill('SIGKILL'), timeoutMs);
  const code = await child.exited;
  clearTimeout(timer);
  return { ...child, code };
}

/** Children are stopped on an error, on SIGINT/SIGTERM, and (SIGTERM only, it must be sync) on exit. */
export function stopChildrenOnExit(): void {
  process.once('exit', () => { for (const c of live) if (isRunning(c)) c.proc.kill('SIGTERM'); });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping ${live.size} child process(es)\n`);
      void stopAll(3000).finally(() => process.exit(130));
    });
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Status of `GET http://127.0.0.1:<port><path>`, or null when it could not connect. */
export function httpStatus(port: number, path: string, host?: string): Promise<number | null> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: 1000, headers: host === undefined ? {} : { host } }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? null));
    });
    req.once('error', () => resolve(null));
    req.once('timeout', () => req.destroy());
  });
}

/** Polls `probe` until it is true; fails if the child exits first or after `timeoutMs`. */
export async function waitUntil(child: Child, probe: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (!isRunning(child)) throw new Error(`${child.name} exited (${await child.exited}) before it was ready; its output:\n${child.output()}`);
    if (Date.now() > deadline) throw new Error(`${child.name} not ready after ${timeoutMs} ms; its output:\n${child.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
