// The admin endpoint (loopback by default): /ready for probes, /workers, and a crash drill for
// one worker (the supervisor respawns it while the others keep serving).
import http from 'node:http';
import type { Supervisor } from '../control/supervisor.js';

export interface AdminContext {
  supervisor: Supervisor;
  generation(): number;
}

export function startAdmin(host: string, port: number, ctx: AdminContext): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    const send = (status: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (url.pathname === '/ready') {
      return ctx.supervisor.allReady ? send(200, 'LIVE\n') : send(503, 'NOT READY\n');
    }
    if (url.pathname === '/workers') {
      return send(200, JSON.stringify({ generation: ctx.generation(), workers: ctx.supervisor.status() }), 'application/json');
    }
    const crash = /^\/workers\/(\d+)\/crash$/.exec(url.pathname);
    if (crash !== null) {
      if (req.method !== 'POST') return send(405, 'use POST\n');
      const ok = ctx.supervisor.crash(Number(crash[1]));
      return send(ok ? 202 : 404, ok ? 'crashing\n' : 'no such worker\n');
    }
    send(404, 'admin endpoints: /ready /workers POST /workers/N/crash\n');
  });
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new Error(`admin ${host}:${port}: ${err.code === 'EADDRINUSE' ? 'already in use' : err.message}`)));
    server.listen(port, host, () => resolve(server));
  });
}
