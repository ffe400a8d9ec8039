// `npm run bench:mesh`: the mesh store at scale on one machine. A 3-member etcd on loopback and
// BENCH_SIDECARS (50) sidecars, 1 worker each, every one registering a WorkloadEntry selected by one
// ServiceEntry (so each sidecar holds every other as an endpoint). Measures, from the store's own
// events (each sidecar's status key says which revision it serves, written once its workers have
// acknowledged the generation):
//   - apply → every sidecar serving it (BENCH_APPLIES, 20 applies), p50/p99 of the slowest sidecar
//     and of all sidecars;
//   - registration → every sidecar serving the new endpoint set, and kill -9 → the entry expired
//     (lease TTL 10 s) and every sidecar serving without it (BENCH_CHURN, 5 each, kills 2.5 s apart);
//   - RSS of each idle sidecar; etcd writes per apply (raft proposals committed, puts, txns).
// Figures, not assertions. Report: bench/results/mesh-bench-<date>.md.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EtcdClient } from '../src/store/etcd/client.js';
import { PrefixWatch } from '../src/store/etcd/watch.js';
import { storeKeys } from '../src/store/keys.js';
import { etcdMissing, startEtcd, type EtcdCluster } from '../src/store/local-etcd.js';
import type { SidecarStatus } from '../src/store/status.js';
import { applyToStore } from '../src/store/store-apply.js';
import { positiveEnv } from './measure.js';
import { freePort, launch, stopAll, stopChildrenOnExit, type Child } from './proc.js';
import { machineLines, writeReport } from './report.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = path.join(REPO_ROOT, 'dist/src/cli/main.js');
const SIDECARS = positiveEnv('BENCH_SIDECARS', 50);
const APPLIES = positiveEnv('BENCH_APPLIES', 20);
const CHURN = positiveEnv('BENCH_CHURN', 5);
const PREFIX = '/meshlet';
const keys = storeKeys(PREFIX);

interface Sidecar { child: Child; id: string; admin: number }

let cluster: EtcdCluster | null = null;

const SE = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: bench}
spec:
  hosts: [bench]
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: bench}}
`;
const vs = (i: number): string => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bench}
spec:
  hosts: [bench]
  http:
  - route: [{destination: {host: bench}}]
    headers: {response: {set: {x-apply: "${i}"}}}
`;

function pct(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0 ? NaN : (s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number);
}

const ms = (n: number): string => (Number.isFinite(n) ? `${n.toFixed(0)} ms` : '–');

/** Every sidecar's last status, and waiters for "these sidecars serve revision ≥ R" (resolved with each one's arrival time). */
class StatusBoard {
  readonly latest = new Map<string, { status: SidecarStatus; at: number }>();
  private waiters: { ids: string[]; revision: number; resolve: (arrivals: Map<string, number>) => void; arrivals: Map<string, number> }[] = [];

  update(status: SidecarStatus, at: number): void {
    this.latest.set(status.sidecar, { status, at });
    for (const w of this.waiters) {
      if (status.revision >= w.revision && w.ids.includes(status.sidecar) && !w.arrivals.has(status.sidecar)) w.arrivals.set(status.sidecar, at);
    }
    this.waiters = this.waiters.filter((w) => {
      if (w.arrivals.size < w.ids.length) return true;
      w.resolve(w.arrivals);
      return false;
    });
  }

  remove(id: string): void {
    this.latest.delete(id);
  }

  /** Resolves when each of `ids` has reported revision ≥ `revision` (arrival time per sidecar). */
  serving(ids: string[], revision: number, timeoutMs = 60_000): Promise<Map<string, number>> {
    const arrivals = new Map<string, number>();
    for (const id of ids) {
      const s = this.latest.get(id);
      if (s !== undefined && s.status.revision >= revision) arrivals.set(id, s.at);
    }
    if (arrivals.size === ids.length) return Promise.resolve(arrivals);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`sidecars not at revision ${revision} after ${timeoutMs} ms: ${ids.filter((i) => !arrivals.has(i)).join(', ')}`)), timeoutMs);
      this.waiters.push({ ids, revision, arrivals, resolve: (a) => { clearTimeout(timer); resolve(a); } });
    });
  }
}

async function etcdCounters(etcd: EtcdCluster): Promise<Record<string, number>> {
  const port = etcd.members.find((m) => m.proc !== null)?.clientPort;
  const text = await new Promise<string>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
  const out: Record<string, number> = {};
  for (const name of ['etcd_server_proposals_committed_total', 'etcd_mvcc_put_total', 'etcd_mvcc_delete_total', 'etcd_mvcc_txn_total']) {
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    out[name] = line === undefined ? NaN : Number(line.split(' ')[1]);
  }
  return out;
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? NaN : Number(m[1]) / 1024;
}

async function main(): Promise<void> {
  const missing = etcdMissing();
  if (missing !== null) throw new Error(`bench:mesh needs etcd: ${missing}`);
  stopChildrenOnExit();
  const startedAt = new Date();
  const machine = machineLines();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshlet-mesh-bench-'));
  const etcd = await startEtcd(3);
  cluster = etcd;
  const url = etcd.url(PREFIX.slice(1));
  const client = new EtcdClient({ endpoints: etcd.endpoints, tls: null });
  const app = http.createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', () => r()));
  const appPort = (app.address() as { port: number }).port;
  const workload = path.join(dir, 'workload.yaml');
  writeFileSync(workload, 'apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: bench}\nspec:\n  labels: {app: bench}\n');

  const board = new StatusBoard();
  const statusWatch = new PrefixWatch(client, [keys.status], 1, {
    events: (_i, events) => {
      const at = Date.now();
      for (const e of events) {
        const id = e.kv.key.slice(keys.status.length);
        if (e.type === 'delete') board.remove(id);
        else board.update(JSON.parse(e.kv.value) as SidecarStatus, at);
      }
    },
    connection: () => undefined,
    resync: async () => (await client.range(keys.status)).revision,
  });
  statusWatch.start();
  const workloadEvents: { type: string; key: string; revision: number; at: number }[] = [];
  const workloadWatch = new PrefixWatch(client, [keys.workloads], 1, {
    events: (_i, events) => { for (const e of events) workloadEvents.push({ type: e.type, key: e.kv.key, revision: e.kv.modRevision, at: Date.now() }); },
    connection: () => undefined,
    resync: async () => (await client.range(keys.workloads)).revision,
  });
  workloadWatch.start();

  let i = 0;
  const first = await applyToStore(client, keys, [{ file: 'bench.yaml', text: `${SE}---\n${vs(0)}` }], { dryRun: false, ifGeneration: null });
  if (!first.ok) throw new Error(first.errors.map((e) => e.message).join('; '));

  const start = async (n: number): Promise<Sidecar> => {
    const [admin, out, inbound] = [await freePort(), await freePort(), await freePort()];
    const file = path.join(dir, `sidecar-${n}.yaml`);
    writeFileSync(file, `apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: s${n}}\nspec:\n  egress:\n  - port: {number: ${out}, protocol: HTTP, name: out}\n    hosts: ["*/*"]\n  ingress:\n  - port: {number: ${inbound}, protocol: HTTP, name: http}\n    defaultEndpoint: 127.0.0.1:${appPort}\n`);
    const child = launch(`sidecar-${n}`, null, process.execPath, [MAIN, 'run', '-c', file, '--workers', '1', '--admin', `127.0.0.1:${admin}`,
      '--log-level', 'warn', '--store', url, '--register', workload, '--store-cache', path.join(dir, `cache-${n}`)]);
    const id = `${os.hostname().toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 50) || 'host'}-${admin}`;
    return { child, id, admin };
  };
  const sidecars: Sidecar[] = [];
  const startAt = Date.now();
  for (let b = 0; b < SIDECARS; b += 5) {
    const batch = await Promise.all(Array.from({ length: Math.min(5, SIDECARS - b) }, () => start(i++)));
    sidecars.push(...batch);
    await board.serving(batch.map((s) => s.id), 0, 120_000); // status written = serving and registered on its lease
  }
  const everyone = (): string[] => sidecars.map((s) => s.id);
  // settle: every sidecar sees every registration
  const settled = (await client.range(keys.workloads)).revision;
  await board.serving(everyone(), settled, 120_000);
  process.stderr.write(`bench: ${SIDECARS} sidecars serving in ${((Date.now() - startAt) / 1000).toFixed(1)} s\n`);
  await new Promise((r) => setTimeout(r, 3000));
  const rss = sidecars.map((s) => rssMb(s.child.pid));

  // applies
  const before = await etcdCounters(etcd);
  const slowest: number[] = [];
  const each: number[] = [];
  for (let k = 1; k <= APPLIES; k++) {
    const t0 = Date.now();
    const change = await applyToStore(client, keys, [{ file: 'bench.yaml', text: vs(k) }], { dryRun: false, ifGeneration: null });
    if (change.written === null) throw new Error(`apply ${k} wrote nothing`);
    const arrivals = await board.serving(everyone(), change.written);
    const times = [...arrivals.values()].map((t) => t - t0);
    slowest.push(Math.max(...times));
    each.push(...times);
  }
  const afterApplies = await etcdCounters(etcd);
  const per = (name: string): string => ((afterApplies[name] as number - (before[name] as number)) / APPLIES).toFixed(1);
  process.stderr.write(`bench: ${APPLIES} applies done\n`);

  // kill -9 → expired → every other sidecar serving without it
  const removal: number[] = [];
  const expiry: number[] = [];
  const victims = sidecars.splice(0, CHURN);
  const killedAt = new Map<string, number>();
  for (const v of victims) {
    killedAt.set(v.id, Date.now());
    v.child.proc.kill('SIGKILL');
    // spaced so that each expiry propagates alone (not queued behind the previous one's applies)
    await new Promise((r) => setTimeout(r, 2500));
  }
  for (const v of victims) {
    const key = `${keys.workloads}default/bench-${v.id}`;
    const deadline = Date.now() + 30_000;
    let del = workloadEvents.find((e) => e.type === 'delete' && e.key === key);
    while (del === undefined && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      del = workloadEvents.find((e) => e.type === 'delete' && e.key === key);
    }
    if (del === undefined) throw new Error(`${key} never expired`);
    const arrivals = await board.serving(everyone(), del.revision);
    const t0 = killedAt.get(v.id) as number;
    expiry.push(del.at - t0);
    removal.push(Math.max(...arrivals.values()) - t0);
  }
  // registration → every sidecar serving with it
  const registration: number[] = [];
  for (let k = 0; k < CHURN; k++) {
    const s = await start(i++);
    const key = `${keys.workloads}default/bench-${s.id}`;
    const others = everyone();
    sidecars.push(s);
    const deadline = Date.now() + 60_000;
    let put = workloadEvents.find((e) => e.type === 'put' && e.key === key);
    while (put === undefined && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      put = workloadEvents.find((e) => e.type === 'put' && e.key === key);
    }
    if (put === undefined) throw new Error(`${key} never registered`);
    const arrivals = await board.serving(others, put.revision);
    registration.push(Math.max(...arrivals.values()) - put.at);
  }

  const table = [
    '| figure | p50 | p99 | max | n |',
    '| --- | ---: | ---: | ---: | ---: |',
    `| apply → every sidecar serving it (slowest sidecar per apply) | ${ms(pct(slowest, 50))} | ${ms(pct(slowest, 99))} | ${ms(Math.max(...slowest))} | ${slowest.length} |`,
    `| apply → one sidecar serving it (all sidecars × applies) | ${ms(pct(each, 50))} | ${ms(pct(each, 99))} | ${ms(Math.max(...each))} | ${each.length} |`,
    `| registration (entry written) → every sidecar serving it | ${ms(pct(registration, 50))} | ${ms(pct(registration, 99))} | ${ms(Math.max(...registration))} | ${registration.length} |`,
    `| kill -9 → entry expired in etcd (lease TTL 10 s) | ${ms(pct(expiry, 50))} | ${ms(pct(expiry, 99))} | ${ms(Math.max(...expiry))} | ${expiry.length} |`,
    `| kill -9 → gone from every sidecar's endpoints | ${ms(pct(removal, 50))} | ${ms(pct(removal, 99))} | ${ms(Math.max(...removal))} | ${removal.length} |`,
  ].join('\n');
  const rssLine = `RSS per idle sidecar (1 worker, ${SIDECARS} endpoints each): median ${pct(rss, 50).toFixed(1)} MB, p90 ${pct(rss, 90).toFixed(1)} MB, max ${Math.max(...rss).toFixed(1)} MB`;
  const writes = `etcd writes per apply (member counters, mean of ${APPLIES}): ${per('etcd_server_proposals_committed_total')} raft proposals committed, `
    + `${per('etcd_mvcc_txn_total')} txns, ${per('etcd_mvcc_put_total')} puts, ${per('etcd_mvcc_delete_total')} deletes `
    + `(meshlet apply itself: 1 txn of 2 puts, the resource and the generation marker; the rest are the ${SIDECARS} sidecars' status updates)`;
  const body = [`# mesh bench ${startedAt.toISOString()}`, '', ...machine,
    `- etcd: 3 members on loopback (heartbeat 50 ms, election 500 ms), ${SIDECARS} sidecars (1 worker each), all on this machine`, '',
    table, '', `- ${rssLine}`, `- ${writes}`, ''].join('\n');
  process.stdout.write(`${body}\n`);
  const file = writeReport(REPO_ROOT, startedAt, body, 'mesh-bench');
  process.stderr.write(`bench: report ${file}\n`);
  statusWatch.close();
  workloadWatch.close();
  await stopAll(10_000);
  client.close();
  await etcd.stop();
  app.close();
  rmSync(dir, { recursive: true, force: true });
}

main().catch(async (err: Error) => {
  process.stderr.write(`bench:mesh failed: ${err.stack ?? err.message}\n`);
  await stopAll(3000);
  await cluster?.stop();
  process.exit(1);
});
