// A local etcd for `meshlet demo --mesh`, the mesh bench and the tests (Debian's etcd-server,
// /usr/bin/etcd): one member or a cluster of three on free loopback ports (nothing on a public
// interface), each with its own private temp data dir; members can be killed and restarted on the
// same ports and data. Readiness is etcd's own log line saying its client listener serves.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pickLoopbackPort as freePort } from '../control/port-check.js';

export const ETCD = process.env.ETCD ?? '/usr/bin/etcd';

/** Why etcd tests cannot run here (etcd missing), or null. */
export function etcdMissing(): string | null {
  const r = spawnSync(ETCD, ['--version'], { encoding: 'utf8', timeout: 15_000 });
  return r.error === undefined && r.status === 0 ? null : `etcd not installed (${ETCD}; Debian's etcd-server package)`;
}

/** Serve clients over TLS with these PEM files; clients must present a certificate of `ca`. */
export interface EtcdTlsFiles {
  cert: string;
  key: string;
  ca: string;
}

export interface EtcdMember {
  name: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  proc: ChildProcess | null;
  output: string;
}

export interface EtcdCluster {
  members: EtcdMember[];
  /** host:port of every member's client URL */
  endpoints: string[];
  /** `etcd://h:p,h:p/<prefix>` */
  url(prefix: string): string;
  /** SIGKILL one member (index) and wait for it to exit */
  kill(i: number): Promise<void>;
  /** start a killed member again on its ports and data; resolves when it serves */
  restart(i: number): Promise<void>;
  stop(): Promise<void>;
}

// etcd 3.4 logs the first when its client listener serves; later versions the second
const READY = /serving client traffic|ready to serve client requests/;

function startMember(m: EtcdMember, initialCluster: string, state: 'new' | 'existing', tls: EtcdTlsFiles | null, timeoutMs = 20_000): Promise<void> {
  const scheme = tls === null ? 'http' : 'https';
  const args = [
    '--name', m.name, '--data-dir', m.dataDir,
    '--listen-client-urls', `${scheme}://127.0.0.1:${m.clientPort}`, '--advertise-client-urls', `${scheme}://127.0.0.1:${m.clientPort}`,
    ...(tls === null ? [] : ['--cert-file', tls.cert, '--key-file', tls.key, '--trusted-ca-file', tls.ca, '--client-cert-auth']),
    '--listen-peer-urls', `http://127.0.0.1:${m.peerPort}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peerPort}`,
    '--initial-cluster', initialCluster, '--initial-cluster-state', state, '--initial-cluster-token', `meshlet-local-${process.pid}`,
    '--logger', 'zap', '--log-outputs', 'stderr', '--log-level', 'info',
    // short raft timers: a killed member's peers elect a new leader within a second
    '--heartbeat-interval', '50', '--election-timeout', '500',
  ];
  const proc = spawn(ETCD, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  m.proc = proc;
  m.output = '';
  return new Promise<void>((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => finish(new Error(`etcd ${m.name} not ready within ${timeoutMs} ms:\n${m.output.slice(-3000)}`)), timeoutMs);
    const finish = (err: Error | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err === null) resolve();
      else reject(err);
    };
    const onData = (d: Buffer): void => {
      m.output = (m.output + d.toString()).slice(-20_000);
      if (READY.test(m.output)) finish(null);
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    proc.once('exit', (code, signal) => finish(new Error(`etcd ${m.name} exited (${code ?? signal}):\n${m.output.slice(-3000)}`)));
  });
}

/** Starts `size` members (1 or 3) and resolves when every one serves. */
export async function startEtcd(size = 1, tls: EtcdTlsFiles | null = null): Promise<EtcdCluster> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'meshlet-etcd-')) // mode 0700;
  const members: EtcdMember[] = [];
  for (let i = 0; i < size; i++) {
    members.push({ name: `m${i}`, clientPort: await freePort(), peerPort: await freePort(), dataDir: path.join(root, `m${i}`), proc: null, output: '' });
  }
  const initial = members.map((m) => `${m.name}=http://127.0.0.1:${m.peerPort}`).join(',');
  const cluster: EtcdCluster = {
    members,
    endpoints: members.map((m) => `127.0.0.1:${m.clientPort}`),
    url: (prefix) => `etcd://${members.map((m) => `127.0.0.1:${m.clientPort}`).join(',')}/${prefix}`,
    async kill(i) {
      const m = members[i] as EtcdMember;
      const proc = m.proc;
      if (proc === null || proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await exited;
      m.proc = null;
    },
    async restart(i) {
      await startMember(members[i] as EtcdMember, initial, 'existing', tls);
    },
    async stop() {
      await Promise.all(members.map((_, i) => cluster.kill(i)));
      rmSync(root, { recursive: true, force: true });
    },
  };
  try {
    await Promise.all(members.map((m) => startMember(m, initial, 'new', tls)));
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}
