// `meshlet wait-ready [--timeout 30s] [--admin HOST:PORT]`: for init scripts and Kubernetes
// postStart hooks; exits 0 once the local meshlet's /ready answers 200, 1 at the timeout.
import http from 'node:http';
import { parseArgs } from 'node:util';
import { parseDurationMs, parseHostPort } from './args.js';

const POLL_MS = 100;

function ready(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: '/ready', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.once('error', () => resolve(false));
    req.once('timeout', () => { req.destroy(); resolve(false); });
  });
}

export async function waitReadyCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { timeout: { type: 'string' }, admin: { type: 'string' } } });
  const timeoutMs = values.timeout === undefined ? 30_000 : parseDurationMs(values.timeout, '--timeout');
  const { host, port } = parseHostPort(values.admin ?? '127.0.0.1:15000', '--admin');
  const deadline = Date.now() + timeoutMs;
  // meshlet is another process: polling its probe endpoint is the interface, as kubelet does
  while (!(await ready(host, port))) {
    if (Date.now() >= deadline) {
      process.stderr.write(`meshlet: not ready at http://${host}:${port}/ready after ${timeoutMs} ms\n`);
      process.exit(1);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  process.stdout.write('ready\n');
}
