// The processes under test, each on 127.0.0.1 and waited for: the upstream (nginx, else a node:http
// child), nginx as a reverse proxy, and meshlet with a generated Istio config routing to the upstream.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, hasCommand, httpStatus, launch, stop, waitUntil, type Child } from './proc.js';

export const PROXY_CPU = 0;
export const UPSTREAM_CPU = 1;
export const HOST = 'bench-upstream';
export const HAS_NGINX = hasCommand('nginx');
const BODY = 'meshlet bench upstream: hello from 127.0.0.1, a small fixed body for every GET / request.\n'.padEnd(100, '.');

export interface Server {
  name: string;
  port: number;
  child: Child;
  stop(): Promise<number>;
}

export function server(name: string, port: number, child: Child): Server {
  return { name, port, child, stop: () => stop(child) };
}

export async function answers200(child: Child, port: number): Promise<void> {
  await waitUntil(child, async () => (await httpStatus(port, '/', HOST)) === 200);
}

function nginxConf(dir: string, port: number, httpBlock: string, location: string): string {
  return `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  default_type text/plain;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${httpBlock}
  server {
    listen 127.0.0.1:${port};
    location / {
${location}
    }
  }
}
`;
}
async function startNginx(name: string, dir: string, cpu: number, httpBlock: string, location: string): Promise<Server> {
  const prefix = path.join(dir, name);
  mkdirSync(prefix, { recursive: true });
  const port = await freePort();
  const conf = path.join(prefix, 'nginx.conf');
  writeFileSync(conf, nginxConf(prefix, port, httpBlock, location));
  const child = launch(name, cpu, 'nginx', ['-p', prefix, '-c', conf, '-e', path.join(prefix, 'error.log')]);
  await answers200(child, port);
  return server(name, port, child);
}

const NODE_UPSTREAM = `
const body = process.argv[2];
require('node:http').createServer({ keepAliveTimeout: 75000 }, (req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}).listen(Number(process.argv[1]), '127.0.0.1');
`;

/** nginx serving a fixed body when installed, else a node:http server; pinned to the load CPU */
export async function startUpstream(dir: string): Promise<Server & { kind: string }> {
  if (HAS_NGINX) {
    const up = await startNginx('upstream', dir, UPSTREAM_CPU, '', `      return 200 ${JSON.stringify(BODY)};`);
    return { ...up, kind: 'nginx' };
  }
  const port = await freePort();
  const child = launch('upstream', UPSTREAM_CPU, process.execPath, ['-e', NODE_UPSTREAM, String(port), BODY]);
  await answers200(child, port);
  return { ...server('upstream', port, child), kind: 'node:http' };
}

export function startNginxProxy(dir: string, upstreamPort: number): Promise<Server> {
  const upstreamBlock = `  upstream bench_upstream {\n    server 127.0.0.1:${upstreamPort};\n    keepalive 64;\n  }`;
  const location = ['proxy_pass http://bench_upstream;', 'proxy_http_version 1.1;', 'proxy_set_header Connection "";']
    .map((l) => `      ${l}`).join('\n');
  return startNginx('nginx-proxy', dir, PROXY_CPU, upstreamBlock, location);
}

/** retries + outlier detection + a consistent-hash balancer: the resilience features' cost (issue 5) */
const RESILIENCE_POLICY = `
  trafficPolicy:
    loadBalancer: {consistentHash: {useSourceIp: true}}
    outlierDetection: {consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s}`;
const RESILIENCE_RETRIES = `
    retries: {attempts: 2, retryOn: "connect-failure,reset,5xx"}`;

function meshletConfig(listenerPort: number, upstreamPort: number, resilience = false): string {
  return `apiVersion: networking.istio.io/v1beta1
kind: Sidecar
metadata: {name: bench}
spec:
  egress:
  - port: {number: ${listenerPort}, protocol: HTTP, name: bench}
    bind: 127.0.0.1
    hosts: ['*/*']
---
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: ${HOST}}
spec:
  hosts: [${HOST}]
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints:
  - {address: 127.0.0.1, ports: {http: ${upstreamPort}}, labels: {version: v1}}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: ${HOST}}
spec:
  host: ${HOST}${resilience ? RESILIENCE_POLICY : ''}
  subsets:
  - {name: v1, labels: {version: v1}}
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: ${HOST}}
spec:
  hosts: [${HOST}]
  http:
  - match: [{uri: {prefix: /}}]
    route:
    - destination: {host: ${HOST}, subset: v1}${resilience ? RESILIENCE_RETRIES : ''}
`;
}

export interface MeshletOptions {
  repoRoot: string;
  extraArgs: string[];
  /** run node with --cpu-prof into this directory */
  profileDir: string | null;
  /** data-plane workers (default 1) */
  workers?: number;
  /** route with retries + outlier detection + consistent hashing */
  resilience?: boolean;
  /** more node flags (e.g. --trace-gc-nvp for bench/alloc-bench.ts) */
  nodeArgs?: string[];
}

/** `meshlet run --workers 1` (or opts.workers) pinned to the proxy CPU; ready when the admin /ready answers 200 */
export async function startMeshlet(dir: string, upstreamPort: number, opts: MeshletOptions): Promise<Server & { adminPort: number }> {
  const [port, adminPort] = [await freePort(), await freePort()];
  const config = path.join(dir, 'meshlet.yaml');
  writeFileSync(config, meshletConfig(port, upstreamPort, opts.resilience === true));
  const nodeArgs = [...(opts.nodeArgs ?? []), ...(opts.profileDir === null ? [] : ['--cpu-prof', '--cpu-prof-dir', opts.profileDir])];
  const child = launch('meshlet', PROXY_CPU, process.execPath, [...nodeArgs, path.join(opts.repoRoot, 'dist/src/cli/main.js'),
    'run', '-c', config, '--workers', String(opts.workers ?? 1), '--admin', `127.0.0.1:${adminPort}`, '--log-level', 'warn', ...opts.extraArgs]);
  await waitUntil(child, async () => (await httpStatus(adminPort, '/ready')) === 200);
  const status = await httpStatus(port, '/', HOST);
  if (status !== 200) process.stderr.write(`bench: warning: meshlet answered GET / (Host: ${HOST}) with ${status}\n`);
  return { ...server('meshlet', port, child), adminPort };
}
