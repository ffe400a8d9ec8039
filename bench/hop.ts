// The mesh hop of `npm run bench:hop`: client → proxy A (outbound) → proxy B (inbound) → upstream,
// as a pair of meshlets (A routes the service to B's inbound port; mTLS: ISTIO_MUTUAL from A,
// PeerAuthentication STRICT on B) or a pair of nginx (mTLS: proxy_ssl with a client certificate
// from the same mesh CA → ssl_verify_client on). Both proxies of a pair are pinned to the proxy CPU.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { request } from 'undici';
import { identityDir, makeCa, makeEcdsaLeaf, makeLeaf, type IdentityDir } from '../test/helpers/certs.js';
import { freePort, httpStatus, launch, stop, waitUntil, type Child } from './proc.js';
import { HOST, PROXY_CPU } from './servers.js';

export type HopTarget = 'meshlet-plain' | 'meshlet-mtls' | 'nginx-plain' | 'nginx-mtls' | 'meshlet-plain-base' | 'meshlet-mtls-base';
/** the default targets */
export const HOP_TARGETS: readonly HopTarget[] = ['meshlet-plain', 'meshlet-mtls', 'nginx-plain', 'nginx-mtls'];
/**
 * A/B targets: the same meshlet pair run from a second checkout (HopOptions.baseRoot, BENCH_BASE:
 * a built worktree of another commit), for paired comparisons of a change in one run.
 */
export const BASE_TARGETS: readonly HopTarget[] = ['meshlet-plain-base', 'meshlet-mtls-base'];

export interface HopIdentities {
  a: IdentityDir;
  b: IdentityDir;
  /** B's SPIFFE id (A's DestinationRule subjectAltNames) */
  bId: string;
}

/** the workload certificates' key (the mesh CA is RSA either way) */
export type KeyKind = 'rsa' | 'ecdsa';

/** Workload identities for a pair's two sidecars, from one new mesh CA named `caName`. */
export async function hopIdentities(caName: string, key: KeyKind = 'rsa'): Promise<HopIdentities> {
  const ca = makeCa(caName);
  const leaf = (id: string) => (key === 'ecdsa' ? makeEcdsaLeaf(ca, id) : Promise.resolve(makeLeaf(ca, id)));
  const bId = 'spiffe://cluster.local/ns/bench/sa/b';
  return {
    a: identityDir(await leaf('spiffe://cluster.local/ns/bench/sa/a'), ca.certPem),
    b: identityDir(await leaf(bId), ca.certPem), bId,
  };
}

/** BENCH_BASE: a built checkout of another commit, for the *-base targets (null when not given). */
export function baseRootFromEnv(): string | null {
  const base = process.env.BENCH_BASE;
  return base === undefined || base === '' ? null : path.resolve(base);
}

export interface HopPair {
  target: HopTarget;
  /** A's listener: the client sends `Host: HOST` here */
  port: number;
  a: Child;
  b: Child;
  /** handshakes B has completed so far (meshlet: its counter; nginx: connections it accepted) */
  handshakes(): Promise<number>;
  stop(): Promise<void>;
}

export interface HopOptions {
  repoRoot: string;
  dir: string;
  upstreamPort: number;
  ids: HopIdentities;
  /** meshlet data-plane workers per sidecar */
  workers: number;
  /** the checkout the *-base targets run (null: none given) */
  baseRoot: string | null;
  /** node flags for the meshlet sidecars (alloc-bench: --trace-gc-nvp) */
  nodeArgs?: string[];
}

export function startHop(target: HopTarget, o: HopOptions): Promise<HopPair> {
  switch (target) {
    case 'meshlet-plain': return meshletPair(target, o, false, o.repoRoot);
    case 'meshlet-mtls': return meshletPair(target, o, true, o.repoRoot);
    case 'meshlet-plain-base': return meshletPair(target, o, false, baseRoot(o));
    case 'meshlet-mtls-base': return meshletPair(target, o, true, baseRoot(o));
    case 'nginx-plain': return nginxPair(target, o, false);
    case 'nginx-mtls': return nginxPair(target, o, true);
  }
}

function baseRoot(o: HopOptions): string {
  if (o.baseRoot === null) throw new Error('the *-base targets need BENCH_BASE (a built checkout of the commit to compare with)');
  return o.baseRoot;
}

function meshletB(inbound: number, egress: number, upstreamPort: number, mtls: boolean): string {
  return `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: hop-b}
spec:
  ingress:
  - port: {number: ${inbound}, protocol: HTTP, name: http-in}
    bind: 127.0.0.1
    defaultEndpoint: 127.0.0.1:${upstreamPort}
  egress:
  - port: {number: ${egress}, protocol: HTTP}
    bind: 127.0.0.1
    hosts: ["*/*"]
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default}
spec:
  mtls: {mode: ${mtls ? 'STRICT' : 'DISABLE'}}
`;
}

function meshletA(egress: number, bPort: number, bId: string, mtls: boolean): string {
  return `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: hop-a}
spec:
  egress:
  - port: {number: ${egress}, protocol: HTTP}
    bind: 127.0.0.1
    hosts: ["*/*"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${HOST}}
spec:
  hosts: [${HOST}]
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.0.1, ports: {http: ${bPort}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${HOST}}
spec:
  host: ${HOST}
${mtls ? `  trafficPolicy:\n    tls: {mode: ISTIO_MUTUAL, subjectAltNames: ["${bId}"]}\n` : ''}`;
}

async function meshletSidecar(name: string, o: HopOptions, root: string, yaml: string, identity: IdentityDir | null): Promise<{ child: Child; admin: number }> {
  const admin = await freePort();
  const file = path.join(o.dir, `${name}.yaml`);
  writeFileSync(file, yaml);
  const idArgs = identity === null ? [] : ['--identity-dir', path.dirname(identity.cert)];
  // BENCH_PROFILE_DIR: every thread of the sidecar writes a CPU profile there when it stops
  const profile = process.env.BENCH_PROFILE_DIR === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', path.join(process.env.BENCH_PROFILE_DIR, name)];
  const child = launch(name, PROXY_CPU, process.execPath, [...(o.nodeArgs ?? []), ...profile, path.join(root, 'dist/src/cli/main.js'), 'run', '-c', file,
    '--workers', String(o.workers), '--admin', `127.0.0.1:${admin}`, '--log-level', 'warn', ...idArgs]);
  await waitUntil(child, async () => (await httpStatus(admin, '/ready')) === 200);
  return { child, admin };
}

async function meshletCounter(admin: number): Promise<number> {
  const text = await (await request(`http://127.0.0.1:${admin}/stats/prometheus`)).body.text();
  let n = 0;
  for (const line of text.split('\n')) if (line.startsWith('meshlet_tls_handshakes_total{direction="inbound"')) n += Number(line.split(' ').at(-1));
  return n;
}

async function meshletPair(target: HopTarget, o: HopOptions, mtls: boolean, root: string): Promise<HopPair> {
  const [bPort, bEgress, aPort] = [await freePort(), await freePort(), await freePort()];
  const b = await meshletSidecar(`${target}-b`, o, root, meshletB(bPort, bEgress, o.upstreamPort, mtls), mtls ? o.ids.b : null);
  const a = await meshletSidecar(`${target}-a`, o, root, meshletA(aPort, bPort, o.ids.bId, mtls), mtls ? o.ids.a : null);
  await waitUntil(a.child, async () => (await httpStatus(aPort, '/', HOST)) === 200);
  return {
    target, port: aPort, a: a.child, b: b.child,
    // meshlet reports its counters once a second: wait for the last second's
    handshakes: async () => { await new Promise((r) => setTimeout(r, 1100)); return meshletCounter(b.admin); },
    stop: async () => { await stop(a.child); await stop(b.child); },
  };
}

const NGINX_PRELUDE = (prefix: string): string => `daemon off;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  client_body_temp_path ${prefix}/client_body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
`;

const PROXY_HTTP11 = 'proxy_http_version 1.1; proxy_set_header Connection "";';

async function nginxProcess(name: string, o: HopOptions, body: (prefix: string) => string): Promise<Child> {
  const prefix = path.join(o.dir, name);
  mkdirSync(prefix, { recursive: true });
  const conf = path.join(prefix, 'nginx.conf');
  writeFileSync(conf, `${NGINX_PRELUDE(prefix)}${body(prefix)}}\n`);
  return launch(name, PROXY_CPU, 'nginx', ['-p', prefix, '-c', conf, '-e', path.join(prefix, 'error.log')]);
}

/** nginx's connections accepted so far (stub_status), not counting the status request itself */
async function nginxAccepts(statusPort: number): Promise<number> {
  const text = await (await request(`http://127.0.0.1:${statusPort}/`)).body.text();
  const m = /\n\s*(\d+)\s+\d+\s+\d+\s*\n/.exec(text);
  if (m === null) throw new Error(`nginx stub_status: ${text}`);
  return Number(m[1]) - 1;
}

async function nginxPair(target: HopTarget, o: HopOptions, mtls: boolean): Promise<HopPair> {
  const [bPort, statusPort, aPort] = [await freePort(), await freePort(), await freePort()];
  const { a: idA, b: idB } = o.ids;
  const b = await nginxProcess(`${target}-b`, o, () => `  upstream app { server 127.0.0.1:${o.upstreamPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${bPort}${mtls ? ' ssl' : ''};
${mtls ? `    ssl_certificate ${idB.cert};
    ssl_certificate_key ${idB.key};
    ssl_client_certificate ${idB.ca};
    ssl_verify_client on;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_tickets on;
` : ''}    location / { proxy_pass http://app; ${PROXY_HTTP11} }
  }
  server { listen 127.0.0.1:${statusPort}; location / { stub_status; } }
`);
  await waitUntil(b, async () => (await httpStatus(statusPort, '/')) === 200);
  // A verifies nothing of B's certificate name: mesh certificates carry a SPIFFE URI SAN, which
  // nginx cannot check (meshlet checks it); the chain is B's job to prove on its side (client certs)
  const a = await nginxProcess(`${target}-a`, o, () => `  upstream hop_b { server 127.0.0.1:${bPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${aPort};
    location / {
      proxy_pass ${mtls ? 'https' : 'http'}://hop_b; ${PROXY_HTTP11}
${mtls ? `      proxy_ssl_certificate ${idA.cert};
      proxy_ssl_certificate_key ${idA.key};
      proxy_ssl_protocols TLSv1.2 TLSv1.3;
      proxy_ssl_session_reuse on;
` : ''}    }
  }
`);
  await waitUntil(a, async () => (await httpStatus(aPort, '/', HOST)) === 200);
  return {
    target, port: aPort, a, b,
    handshakes: () => nginxAccepts(statusPort),
    stop: async () => { await stop(a); await stop(b); },
  };
}
