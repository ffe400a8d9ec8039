// `meshlet run`: load and validate the config, refuse ports another process serves, start the
// workers, the admin endpoint and the control socket, and drain on SIGTERM/SIGINT.
import { watch } from 'node:fs';
import path from 'node:path';
import type http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import { startAdmin } from '../admin/admin-server.js';
import { ConfigStore, describeIssues, readSources } from '../control/config-store.js';
import { startControlServer } from '../control/control-server.js';
import { createOps } from '../control/ops.js';
import { assertPortsFree } from '../control/port-check.js';
import { StatsService } from '../control/stats-service.js';
import { Supervisor } from '../control/supervisor.js';
import type { Snapshot } from '../config/snapshot.js';
import { createLogger, type Logger } from '../log.js';
import { DEFAULT_CODEC, type CodecName } from '../upstream/codecs.js';

export interface RunOptions {
  configFiles: string[];
  workers: number;
  adminHost: string;
  adminPort: number;
  /** null = /tmp/meshlet-<admin port>.sock */
  controlSocket: string | null;
  watch: boolean;
  logLevel: string;
  drainTimeoutMs: number;
  connectionsPerEndpoint: number;
  upstreamIdleTimeoutMs: number;
  connectTimeoutMs: number;
  /** file path, 'stdout', or null (off) */
  accessLog: string | null;
  accessLogSample: number;
  codec: CodecName;
  /** false: workers write no stats records (to measure what stats cost) */
  stats: boolean;
}

export const DEFAULT_RUN_OPTIONS: Omit<RunOptions, 'configFiles'> = {
  workers: os.availableParallelism(),
  adminHost: '127.0.0.1',
  adminPort: 15000,
  controlSocket: null,
  watch: false,
  logLevel: 'info',
  drainTimeoutMs: 5000,
  connectionsPerEndpoint: 256,
  upstreamIdleTimeoutMs: 4000,
  connectTimeoutMs: 10_000,
  accessLog: null,
  accessLogSample: 1,
  codec: DEFAULT_CODEC,
  stats: true,
};

export function defaultControlSocket(adminPort: number): string {
  return `/tmp/meshlet-${adminPort}.sock`;
}

export interface Sidecar {
  readonly snapshot: Snapshot;
  store: ConfigStore;
  supervisor: Supervisor;
  stats: StatsService;
  admin: http.Server;
  control: net.Server;
  controlPath: string;
  log: Logger;
  /** drain and stop; resolves when every worker has exited */
  stop(): Promise<void>;
}

export class StartupError extends Error {}

export async function startSidecar(options: RunOptions): Promise<Sidecar> {
  const log = createLogger(options.logLevel);
  const store = new ConfigStore();
  const sources = await readSources(options.configFiles).catch((err: Error) => { throw new StartupError(err.message); });
  const plan = store.plan(sources);
  for (const w of describeIssues(plan.warnings)) log.warn(w);
  if (!plan.ok) throw new StartupError(describeIssues(plan.errors).join('\n'));
  store.commit(plan);
  const snapshot = plan.snapshot;
  try {
    await assertPortsFree(snapshot.listeners);
  } catch (err) {
    throw new StartupError((err as Error).message);
  }
  const stats = new StatsService({ workers: () => supervisor.workerCount, generation: () => store.generation });
  const supervisor: Supervisor = new Supervisor(snapshot, options, log, {
    snapshot: (s) => stats.registerSnapshot(s),
    ring: (id, ring) => stats.addRing(id, ring),
    exited: (id) => stats.removeRing(id),
    gauges: (id, inflight, endpoints) => stats.setGauges(id, inflight, endpoints),
  });
  const admin = await startAdmin(options.adminHost, options.adminPort, { supervisor, store, stats })
    .catch((err: Error) => { throw new StartupError(err.message); });
  let stopping: Promise<void> | null = null;
  const controlPath = options.controlSocket ?? defaultControlSocket(options.adminPort);
  let control: net.Server;
  try {
    control = await startControlServer(controlPath, createOps({ store, supervisor, stats, drain: () => void sidecar.stop().then(() => process.exit(0)) }), log);
  } catch (err) {
    admin.close();
    throw new StartupError((err as Error).message);
  }
  try {
    await supervisor.start();
  } catch (err) {
    await supervisor.drain(0);
    admin.close();
    control.close();
    throw new StartupError((err as Error).message);
  }
  const stopWatching = options.watch ? watchFiles(options.configFiles, controlPath, log) : () => undefined;
  const listeners = snapshot.listeners.map((l) => `${l.direction} ${l.bind}:${l.port}`);
  log.info({ listeners, workers: supervisor.workerCount, generation: store.generation, admin: `${options.adminHost}:${options.adminPort}`, control: controlPath }, 'meshlet ready');
  const sidecar: Sidecar = {
    get snapshot() { return store.snapshot as Snapshot; },
    store, supervisor, stats, admin, control, controlPath, log,
    stop() {
      stopping ??= (async () => {
        log.info({ drainTimeoutMs: options.drainTimeoutMs }, 'draining');
        stopWatching();
        control.close();
        await supervisor.drain(options.drainTimeoutMs);
        stats.close();
        await new Promise<void>((resolve) => admin.close(() => resolve()));
        admin.closeAllConnections();
        log.info('stopped');
      })();
      return stopping;
    },
  };
  return sidecar;
}

/** --watch: a change to any config file re-applies the whole set through the control socket path. */
function watchFiles(files: string[], controlPath: string, log: Logger): () => void {
  let timer: NodeJS.Timeout | null = null;
  const reload = async (): Promise<void> => {
    const { controlRequest } = await import('../control/control-client.js');
    try {
      const sources = await readSources(files);
      const reply = await controlRequest(controlPath, { op: 'apply', files: sources });
      if (reply.ok === true) log.info({ generation: reply.generation, diff: reply.diff }, 'config reloaded');
      else log.error({ errors: reply.errors }, 'config reload rejected; the running config keeps serving');
    } catch (err) {
      log.error({ err: (err as Error).message }, 'config reload failed');
    }
  };
  // Directories are watched, not files: editors and `kubectl`-style tools replace a file by
  // renaming a new one over it, which ends a watch on the old inode.
  const names = new Map<string, Set<string>>();
  for (const f of files) {
    const dir = path.dirname(path.resolve(f));
    if (!names.has(dir)) names.set(dir, new Set());
    names.get(dir)?.add(path.basename(f));
  }
  const watchers = [...names].map(([dir, base]) => watch(dir, (_event, name) => {
    if (name === null || !base.has(name)) return;
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(() => void reload(), 100);
  }));
  return () => {
    if (timer !== null) clearTimeout(timer);
    for (const w of watchers) w.close();
  };
}

/** Runs until SIGTERM/SIGINT, then drains and exits 0. */
export async function runUntilSignal(options: RunOptions): Promise<void> {
  let sidecar: Sidecar;
  try {
    sidecar = await startSidecar(options);
  } catch (err) {
    process.stderr.write(`meshlet: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const onSignal = (signal: string): void => {
    sidecar.log.info({ signal }, 'signal received');
    void sidecar.stop().then(() => process.exit(0));
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
}
