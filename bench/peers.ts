// The peer bench's other proxies, each pinned to the proxy CPU and waited for: HAProxy (one
// thread, keep-alive and connection reuse to the upstream), node's http-proxy package and the
// uWS + raw socket floor (bench/uws-floor-server.ts).
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, hasCommand, launch } from './proc.js';
import { answers200, PROXY_CPU, server, type Server } from './servers.js';

export const HAS_HAPROXY = hasCommand('haproxy');

function haproxyConf(port: number, upstreamPort: number): string {
  return `global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 75s
  timeout server 75s
  timeout http-keep-alive 75s
  option http-keep-alive
frontend bench
  bind 127.0.0.1:${port}
  default_backend upstream
backend upstream
  http-reuse always
  server up 127.0.0.1:${upstreamPort}
`;
}

/** haproxy -db (foreground), no logging */
export async function startHaproxy(dir: string, upstreamPort: number): Promise<Server> {
  const port = await freePort();
  const conf = path.join(dir, 'haproxy.cfg');
  writeFileSync(conf, haproxyConf(port, upstreamPort));
  const child = launch('haproxy', PROXY_CPU, 'haproxy', ['-db', '-f', conf]);
  await answers200(child, port);
  return server('haproxy', port, child);
}

/** dist/bench/uws-floor-server.js: uWS + a raw net.Socket client, the least a Node proxy can do per request */
export async function startUwsFloor(repoRoot: string, upstreamPort: number, nodeArgs: string[] = []): Promise<Server> {
  const port = await freePort();
  const child = launch('uws-floor', PROXY_CPU, process.execPath, [...nodeArgs, path.join(repoRoot, 'dist/bench/uws-floor-server.js'), String(port), String(upstreamPort)]);
  await answers200(child, port);
  return server('uws-floor', port, child);
}

/** dist/bench/http-proxy-server.js on node */
export async function startHttpProxy(repoRoot: string, upstreamPort: number): Promise<Server> {
  const port = await freePort();
  const child = launch('http-proxy', PROXY_CPU, process.execPath, [path.join(repoRoot, 'dist/bench/http-proxy-server.js'), String(port), String(upstreamPort)]);
  await answers200(child, port);
  return server('http-proxy', port, child);
}
