// Mesh-store test helpers: sidecars started with --store, `meshlet apply --store`, and waits on
// the store's own events (status and workload keys), never sleeps.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import { request } from 'undici';
import { EtcdClient } from '../../src/store/etcd/client.js';
import { PrefixWatch, type WatchEvent } from '../../src/store/etcd/watch.js';
import type { SidecarStatus } from '../../src/store/status.js';
import { freePort } from './ports.js';
import { runCli, startMeshlet, writeConfig, type CliRun, type Meshlet } from './meshlet.js';

export const PREFIX = '/meshlet';

/** Runs `meshlet apply -f <yaml> --store URL [extra…]`. */
export function storeApply(url: string, yaml: string, extra: string[] = []): Promise<CliRun> {
  return runCli(['apply', '-f', writeConfig(yaml), '--store', url, ...extra]);
}

/** The generation `meshlet apply` printed ("applied: store generation N"). */
export function appliedGeneration(run: CliRun): number {
  const m = /store generation (\d+)/.exec(run.stdout);
  if (run.code !== 0 || m === null) throw new Error(`apply failed (${run.code}):\n${run.stdout}${run.stderr}`);
  return Number(m[1]);
}

/** Sidecar YAML with an egress port and, optionally, an ingress port forwarding to `app`. */
export function meshSidecarYaml(out: number, inbound: { port: number; app: number } | null): string {
  return `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: local}
spec:
  egress:
  - port: {number: ${out}, protocol: HTTP, name: http-out}
    bind: 127.0.0.1
    hosts: ["*/*"]
${inbound === null ? '' : `  ingress:
  - port: {number: ${inbound.port}, protocol: HTTP, name: http}
    bind: 127.0.0.1
    defaultEndpoint: 127.0.0.1:${inbound.app}
`}`;
}

export function workloadYaml(name: string, labels: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshlet-wl-'));
  const file = path.join(dir, 'workload.yaml');
  writeFileSync(file, `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${name}}
spec:
  labels: ${JSON.stringify(labels)}
`);
  return file;
}

export interface MeshSidecar extends Meshlet {
  inboundPort: number | null;
  /** the sidecar id (status key) */
  id: string;
}

/** Starts `meshlet run --store URL` with its own Sidecar file (egress on a free port, optional ingress). */
export async function startMeshSidecar(url: string, opts: { app?: number; register?: string; args?: string[]; workers?: number; env?: NodeJS.ProcessEnv } = {}): Promise<MeshSidecar> {
  const out = await freePort();
  const inboundPort = opts.app === undefined ? null : await freePort();
  const local = writeConfig(meshSidecarYaml(out, inboundPort === null ? null : { port: inboundPort, app: opts.app as number }));
  const args = ['--store', url, ...(opts.register === undefined ? [] : ['--register', opts.register]), ...(opts.args ?? [])];
  const m = await startMeshlet('', { noSidecar: true, files: [local], port: out, args, workers: opts.workers ?? 1, ...(opts.env === undefined ? {} : { env: opts.env }) });
  return { ...m, inboundPort, id: `${os.hostname().toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 50) || 'host'}-${m.adminPort}` };
}

/**
 * Resolves once `done` holds for the keys under `prefix` (key → value), checked on the initial
 * read and after every watch event; rejects after `timeoutMs`. `revision` on the result: the
 * revision of the event that made it hold (or of the initial read).
 */
export async function waitForKeys(client: EtcdClient, prefix: string, done: (kvs: Map<string, string>) => boolean, timeoutMs = 15_000, what = prefix, atRevision?: number): Promise<Map<string, string> & { revision: number }> {
  // `atRevision`: start from the prefix as it was then (read before the change the caller causes),
  // so that the revision returned is the change's own, not that of a read after later writes
  const first = await client.range(prefix, atRevision);
  const from = atRevision ?? first.revision;
  const kvs = Object.assign(new Map(first.kvs.map((kv) => [kv.key, kv.value])), { revision: from });
  if (done(kvs)) return kvs;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { watch.close(); reject(new Error(`timed out after ${timeoutMs} ms waiting on ${what}: ${JSON.stringify([...kvs].map(([k, v]) => `${k} ${v.slice(0, 400)}`))}`)); }, timeoutMs);
    const watch = new PrefixWatch(client, [prefix], from + 1, {
      events: (_i, events: WatchEvent[]) => {
        for (const e of events) {
          if (e.type === 'put') kvs.set(e.kv.key, e.kv.value);
          else kvs.delete(e.kv.key);
          kvs.revision = e.kv.modRevision;
        }
        if (done(kvs)) {
          clearTimeout(timer);
          watch.close();
          resolve(kvs);
        }
      },
      connection: () => undefined,
      resync: async () => (await client.range(prefix)).revision,
    });
    watch.start();
  });
}

export function statuses(kvs: Map<string, string>): SidecarStatus[] {
  return [...kvs.values()].map((v) => JSON.parse(v) as SidecarStatus);
}

/** Waits until each sidecar's status says it applied a set at `revision` or later (state as given). */
export function waitApplied(client: EtcdClient, ids: string[], revision: number, state: 'SYNCED' | 'REJECTED' = 'SYNCED', timeoutMs = 15_000): Promise<Map<string, string> & { revision: number }> {
  return waitForKeys(client, `${PREFIX}/status/`, (kvs) => {
    const byId = new Map(statuses(kvs).map((s) => [s.sidecar, s]));
    return ids.every((id) => { const s = byId.get(id); return s !== undefined && s.revision >= revision && s.state === state; });
  }, timeoutMs, `status of ${ids.join(', ')} at revision ≥ ${revision} (${state})`);
}

/** GET through a sidecar's outbound listener with Host `host`; returns status and the body's JSON (or text). */
export async function get(m: { port: number }, host: string, pathname = '/'): Promise<{ status: number; body: Record<string, unknown> | string; headers: Record<string, string | string[] | undefined> }> {
  const res = await request(`http://127.0.0.1:${m.port}${pathname}`, { headers: { host } });
  const text = await res.body.text();
  let body: Record<string, unknown> | string = text;
  try { body = JSON.parse(text) as Record<string, unknown>; } catch { /* not JSON */ }
  return { status: res.statusCode, body, headers: res.headers };
}

export function newClient(endpoints: string[]): EtcdClient {
  return new EtcdClient({ endpoints, tls: null });
}
