// The HTTP/2 bench's processes, each on 127.0.0.1 and waited for: an h2c upstream (nginx's
// `listen … http2`, prior knowledge), meshlet (an HTTP listener, a ServiceEntry port HTTP2 to the
// upstream), HAProxy with `proto h2` on both sides, a grpc-js server, and the two-sidecar gRPC hop
// (plaintext, or ISTIO_MUTUAL + STRICT).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { identityArgs, identityDir, makeCa, makeLeaf, peerAuthenticationYaml } from '../test/helpers/certs.js';
import { freePort, httpStatus, launch, runToEnd, stop, waitUntil, type Child } from './proc.js';
import { PROXY_CPU, UPSTREAM_CPU, server, type Server } from './servers.js';

export const H2_HOST = 'bench-h2';
const BODY = 'meshlet bench upstream: hello from 127.0.0.1, a small fixed body for every GET / request.\n'.padEnd(100, '.');

/** Until `h2load -n 1` gets a 2xx from `port` (HTTP/2 only: httpStatus cannot speak it). */
async function answersH2(child: Child, port: number, authority = H2_HOST): Promise<void> {
  await waitUntil(child, async () => {
    const r = await runToEnd('h2load-probe', null, 'h2load', ['-n', '1', '-c', '1', '-H', `:authority: ${authority}`, `http://127.0.0.1:${port}/`], 5000);
    return r.code === 0 && /1 succeeded/.test(r.stdout());
  });
}

/** nginx 1.22 `listen … http2` without TLS: HTTP/2 with prior knowledge, a fixed body; pinned to the load CPU */
export async function startH2Upstream(dir: string): Promise<Server> {
  const prefix = path.join(dir, 'h2-upstream');
  mkdirSync(prefix, { recursive: true });
  const port = await freePort();
  const conf = path.join(prefix, 'nginx.conf');
  writeFileSync(conf, `daemon off;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  default_type text/plain;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  http2_max_requests 1000000;
  http2_max_concurrent_streams 1024;
  client_body_temp_path ${prefix}/client_body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  server {
    listen 127.0.0.1:${port} http2;
    location / { return 200 ${JSON.stringify(BODY)}; }
  }
}
`);
  const child = launch('h2-upstream', UPSTREAM_CPU, 'nginx', ['-p', prefix, '-c', conf, '-e', path.join(prefix, 'error.log')]);
  await answersH2(child, port);
  return server('h2-upstream', port, child);
}

/** meshlet --workers 1 on the proxy CPU: an HTTP egress listener (h2c served by the AUTO codec) → an HTTP2 ServiceEntry port */
export async function startMeshletH2(repoRoot: string, dir: string, upstreamPort: number): Promise<Server> {
  const [port, admin] = [await freePort(), await freePort()];
  const file = path.join(dir, 'meshlet-h2.yaml');
  writeFileSync(file, `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: bench}
spec:
  egress:
  - port: {number: ${port}, protocol: HTTP, name: http-bench}
    bind: 127.0.0.1
    hosts: ["*/*"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${H2_HOST}}
spec:
  hosts: [${H2_HOST}]
  resolution: STATIC
  ports: [{number: 80, name: http2, protocol: HTTP2}]
  endpoints: [{address: 127.0.0.1, ports: {http2: ${upstreamPort}}}]
`);
  const child = launch('meshlet', PROXY_CPU, process.execPath, [path.join(repoRoot, 'dist/src/cli/main.js'), 'run', '-c', file,
    '--workers', '1', '--admin', `127.0.0.1:${admin}`, '--log-level', 'warn']);
  await waitUntil(child, async () => (await httpStatus(admin, '/ready')) === 200);
  await answersH2(child, port);
  return server('meshlet', port, child);
}

/** HAProxy 2.6, one thread, HTTP/2 on both sides (`proto h2`), connection reuse */
export async function startHaproxyH2(dir: string, upstreamPort: number): Promise<Server> {
  const port = await freePort();
  const conf = path.join(dir, 'haproxy-h2.cfg');
  writeFileSync(conf, `global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 75s
  timeout server 75s
frontend bench
  bind 127.0.0.1:${port} proto h2
  default_backend upstream
backend upstream
  http-reuse always
  server up 127.0.0.1:${upstreamPort} proto h2
`);
  const child = launch('haproxy', PROXY_CPU, 'haproxy', ['-db', '-f', conf]);
  await answersH2(child, port);
  return server('haproxy', port, child);
}

/** dist/bench/h2-floor-server.js: node:http2 in, node:http2 out, nothing else (the floor of a node:http2 proxy) */
export async function startH2Floor(repoRoot: string, upstreamPort: number): Promise<Server> {
  const port = await freePort();
  const child = launch('h2-floor', PROXY_CPU, process.execPath, [path.join(repoRoot, 'dist/bench/h2-floor-server.js'), String(port), String(upstreamPort)]);
  await answersH2(child, port);
  return server('h2-floor', port, child);
}

/** dist/bench/grpc-server.js (grpc-js, the Echo service) on the load CPU */
export async function startGrpcServer(repoRoot: string): Promise<Server> {
  const port = await freePort();
  const child = launch('grpc-server', UPSTREAM_CPU, process.execPath, [path.join(repoRoot, 'dist/bench/grpc-server.js'), String(port)]);
  await waitUntil(child, async () => child.stdout().includes('listening'));
  return server('grpc-server', port, child);
}

export interface GrpcHop {
  /** sidecar A's outbound port: the client's target */
  port: number;
  a: Child;
  b: Child;
  stop(): Promise<void>;
}

/**
 * client → sidecar A (outbound, GRPC ServiceEntry) → sidecar B (inbound GRPC port) → the gRPC
 * server; `mtls`: ISTIO_MUTUAL from A, PeerAuthentication STRICT on B. Both sidecars 1 worker on
 * the proxy CPU.
 */
export async function startGrpcHop(repoRoot: string, dir: string, serverPort: number, mtls: boolean): Promise<GrpcHop> {
  const [inbound, egressB, egressA, adminA, adminB] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const tag = mtls ? 'mtls' : 'plain';
  let idA: string[] = [];
  let idB: string[] = [];
  if (mtls) {
    const ca = makeCa('bench-mesh');
    idA = identityArgs(identityDir(makeLeaf(ca, 'spiffe://cluster.local/ns/bench/sa/a'), ca.certPem));
    idB = identityArgs(identityDir(makeLeaf(ca, 'spiffe://cluster.local/ns/bench/sa/b'), ca.certPem));
  }
  const fileB = path.join(dir, `hop-b-${tag}.yaml`);
  writeFileSync(fileB, `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: b}
spec:
  ingress:
  - port: {number: ${inbound}, protocol: GRPC, name: grpc-in}
    defaultEndpoint: 127.0.0.1:${serverPort}
  egress:
  - port: {number: ${egressB}, protocol: HTTP}
    hosts: ["*/*"]
---
${peerAuthenticationYaml(mtls ? 'STRICT' : 'DISABLE')}`);
  const fileA = path.join(dir, `hop-a-${tag}.yaml`);
  writeFileSync(fileA, `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: a}
spec:
  egress:
  - port: {number: ${egressA}, protocol: HTTP, name: http-out}
    bind: 127.0.0.1
    hosts: ["*/*"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: echo}
spec:
  hosts: [echo]
  resolution: STATIC
  ports: [{number: 80, name: grpc, protocol: GRPC}]
  endpoints: [{address: 127.0.0.1, ports: {grpc: ${inbound}}}]
---
${mtls ? `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo}
spec:
  host: echo
  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
` : ''}`);
  const main = path.join(repoRoot, 'dist/src/cli/main.js');
  const b = launch(`sidecar-b-${tag}`, PROXY_CPU, process.execPath, [main, 'run', '-c', fileB, '--workers', '1', '--admin', `127.0.0.1:${adminB}`, '--log-level', 'warn', ...idB]);
  const a = launch(`sidecar-a-${tag}`, PROXY_CPU, process.execPath, [main, 'run', '-c', fileA, '--workers', '1', '--admin', `127.0.0.1:${adminA}`, '--log-level', 'warn', ...idA]);
  await waitUntil(b, async () => (await httpStatus(adminB, '/ready')) === 200);
  await waitUntil(a, async () => (await httpStatus(adminA, '/ready')) === 200);
  return { port: egressA, a, b, stop: async () => { await Promise.all([stop(a), stop(b)]); } };
}
