// A real nginx (Debian's) as a reverse proxy in front of meshlet, with its defaults (notably
// proxy_http_version 1.0): temp prefix, loopback port, stopped by the test.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import net from 'node:net';
import { freePort } from './ports.js';

export function nginxInstalled(): boolean {
  const r = spawnSync('nginx', ['-v'], { encoding: 'utf8', timeout: 10_000 });
  return r.error === undefined && r.status === 0;
}

export interface Nginx {
  port: number;
  output(): string;
  stop(): Promise<void>;
}

/**
 * nginx proxying every request to 127.0.0.1:`upstreamPort` with a stock `proxy_pass` (HTTP/1.0
 * upstream requests, nginx's default) and the usual `proxy_set_header Host $host` (meshlet routes by Host).
 */
export async function startNginxProxy(upstreamPort: number): Promise<Nginx> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshlet-nginx-'));
  for (const d of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(path.join(dir, d));
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  writeFileSync(conf, `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port};
    location / { proxy_pass http://127.0.0.1:${upstreamPort}; proxy_set_header Host $host; }
  }
}
`);
  const proc: ChildProcess = spawn('nginx', ['-p', dir, '-c', conf, '-e', path.join(dir, 'error.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  proc.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  // ready once its port accepts (nginx has no readiness event of its own)
  for (let i = 0; ; i++) {
    const s = net.connect(port, '127.0.0.1');
    const ok = await Promise.race([once(s, 'connect').then(() => true, () => false), exited.then(() => false)]);
    s.destroy();
    if (ok) break;
    if (proc.exitCode !== null || i > 100) throw new Error(`nginx did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port, output: () => out,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        await exited;
      }
    },
  };
}
