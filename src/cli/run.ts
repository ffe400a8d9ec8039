// `meshlet run`: load and validate the config, refuse ports another process serves, start the
// workers, the admin endpoint and the control socket, and drain on SIGTERM/SIGINT.
import { upstreamMetrics } from '../upstream/shared/report.js';
import { spawn } from 'node:child_process';
import { watch } from 'node:fs';
import path from 'node:path';
import type http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import { startAdmin } from '../admin/admin-server.js';
import { readConfigFiles } from '../config/index.js';
import { ConfigStore, describeIssues } from '../control/config-store.js';
import { startControlServer } from '../control/control-server.js';
import { createOps } from '../control/ops.js';
import { defaultControlSocket, securePrivateDir, SOCKET_ENV } from '../control/socket-path.js';
import { assertPortsFree } from '../control/port-check.js';
import { StatsService } from '../control/stats-service.js';
import { Supervisor, type SupervisorOptions } from '../control/supervisor.js';
import type { Snapshot } from '../config/snapshot.js';
import { createLogger, type Logger } from '../log.js';
import { DEFAULT_CODEC } from '../upstream/codecs.js';
import { identitySourceFromArgs, type IdentityArgs, type IdentitySource, type WorkloadIdentity } from '../tls/identity/index.js';

export interface RunOptions extends SupervisorOptions {
  configFiles: string[];
  adminHost: string;
  adminPort: number;
  /** null = defaultControlSocket(adminPort), in a directory only this user can write */
  controlSocket: string | null;
  watch: boolean;
  drainTimeoutMs: number;
  /** wrapper mode: the app to run once meshlet is ready (empty: none) */
  command: string[];
  /** wrapper mode: also set HTTP_PROXY/http_proxy to the outbound listener */
  setHttpProxy: boolean;
  /** --identity-dir, or --ca-url/--ca-token/--identity: the workload identity for mTLS; null = plaintext mesh */
  identityArgs: IdentityArgs | null;
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
  command: [],
  setHttpProxy: false,
  retryBudgetRatio: 0.2,
  retryBudgetMinPerSecond: 10,
  tracing: null,
  identityArgs: null,
};

export interface Sidecar {
  readonly snapshot: Snapshot;
  store: ConfigStore;
  supervisor: Supervisor;
  stats: StatsService;
  admin: http.Server;
  control: net.Server;
  controlPath: string;
  log: Logger;
  /**
   * Shutdown in order: readiness false and inbound stops accepting at once; outbound keeps serving
   * until `until` settles (the wrapped app exited) — or, without it, until every worker has been
   * quiet for a moment — or the drain timeout passes; then in-flight requests finish within what is
   * left of the timeout and the workers exit.
   */
  stop(until?: Promise<unknown>): Promise<void>;
}

export class StartupError extends Error {}

export async function startSidecar(options: RunOptions): Promise<Sidecar> {
  const log = createLogger(options.logLevel);
  const store = new ConfigStore();
  const sources = await readConfigFiles(options.configFiles).catch((err: Error) => { throw new StartupError(err.message); });
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
  const stats = new StatsService({
    workers: () => supervisor.workerCount,
    generation: () => store.generation,
    upstream: () => upstreamMetrics(supervisor.upstream.state, store.snapshot),
  });
  // the workload identity (mTLS) is obtained before any worker starts, so listeners never serve without it
  let identitySource: IdentitySource | null = null;
  let identity: WorkloadIdentity | null = null;
  try {
    identitySource = options.identityArgs === null ? null : identitySourceFromArgs(options.identityArgs, log);
    if (identitySource !== null) identity = await identitySource.start();
  } catch (err) {
    await identitySource?.close();
    throw new StartupError(`workload identity: ${(err as Error).message}`);
  }
  const supervisor: Supervisor = new Supervisor(snapshot, { ...options, identity }, log, {
    snapshot: (s) => stats.registerSnapshot(s),
    ring: (id, ring) => stats.addRing(id, ring),
    exited: (id) => stats.removeRing(id),
    gauges: (id, inflight, endpoints, trace) => stats.setGauges(id, inflight, endpoints, trace),
  });
  const admin = await startAdmin(options.adminHost, options.adminPort, { supervisor, store, stats })
    .catch((err: Error) => { throw new StartupError(err.message); });
  let stopping: Promise<void> | null = null;
  const controlPath = options.controlSocket ?? defaultControlSocket(options.adminPort);
  let control: net.Server;
  try {
    if (options.controlSocket === null) await securePrivateDir(controlPath, true);
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
  const stopConfigWatch = options.watch ? watchFiles(options.configFiles, controlPath, log) : () => undefined;
  // rotation: a renewed or rewritten identity reaches the TLS front and every worker; open
  // connections keep theirs, new ones use the new one
  identitySource?.on('update', (next) => {
    supervisor.applyIdentity(next).then(
      () => log.info({ identity: next.spiffeId, notAfter: next.notAfter.toISOString() }, 'workload identity rotated'),
      (err: Error) => log.error({ err: err.message }, 'workload identity update refused; the previous one stays'),
    );
  });
  const stopWatching = (): void => { stopConfigWatch(); void identitySource?.close(); };
  const listeners = snapshot.listeners.map((l) => `${l.direction} ${l.bind}:${l.port}`);
  const mtls = supervisor.frontedListeners.map((f) => `${f.name} ${f.mode} via 127.0.0.1:${f.internalPort}`);
  log.info({ listeners, ...(mtls.length > 0 ? { mtls } : {}), workers: supervisor.workerCount, generation: store.generation, admin: `${options.adminHost}:${options.adminPort}`, control: controlPath }, 'meshlet ready');
  const sidecar: Sidecar = {
    get snapshot() { return store.snapshot as Snapshot; },
    store, supervisor, stats, admin, control, controlPath, log,
    stop(until?: Promise<unknown>) {
      stopping ??= (async () => {
        log.info({ drainTimeoutMs: options.drainTimeoutMs }, 'draining');
        const deadline = Date.now() + options.drainTimeoutMs;
        stopWatching();
        control.close();
        const quiet = supervisor.drainInbound();
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([until ?? quiet, new Promise((r) => { timer = setTimeout(r, options.drainTimeoutMs); })]);
        clearTimeout(timer);
        await supervisor.drain(Math.max(0, deadline - Date.now()));
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
      const sources = await readConfigFiles(files);
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

/** Runs until SIGTERM/SIGINT, then drains and exits 0; in wrapper mode, runs the app and exits with its code. */
export async function runUntilSignal(options: RunOptions): Promise<void> {
  let sidecar: Sidecar;
  try {
    sidecar = await startSidecar(options);
  } catch (err) {
    process.stderr.write(`meshlet: ${(err as Error).message}\n`);
    process.exit(1);
  }
  if (options.command.length > 0) return runWrapped(sidecar, options);
  const onSignal = (signal: string): void => {
    sidecar.log.info({ signal }, 'signal received');
    void sidecar.stop().then(() => process.exit(0));
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
}

const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'];

/**
 * Wrapper mode (`meshlet run … -- APP ARGS`): the app starts once every worker serves; signals are
 * forwarded to it; a SIGTERM drains inbound at once while outbound serves the app until it exits;
 * when the app exits (a Job finishing, say) meshlet drains and exits with the app's exit code.
 */
function runWrapped(sidecar: Sidecar, options: RunOptions): void {
  const [command, ...args] = options.command as [string, ...string[]];
  const outbound = sidecar.snapshot.listeners.find((l) => l.direction === 'outbound');
  const env: NodeJS.ProcessEnv = { ...process.env, MESHLET_ADMIN: `${options.adminHost}:${options.adminPort}`, [SOCKET_ENV]: sidecar.controlPath };
  if (outbound !== undefined) {
    env.MESHLET_OUTBOUND = `${outbound.bind}:${outbound.port}`;
    if (options.setHttpProxy) env.HTTP_PROXY = env.http_proxy = `http://${outbound.bind}:${outbound.port}`;
  }
  const child = spawn(command, args, { stdio: 'inherit', env });
  const exited = new Promise<number>((resolve) => {
    child.once('error', (err) => {
      sidecar.log.error({ command, err: err.message }, 'app could not be started');
      resolve(127);
    });
    child.once('exit', (code, signal) => {
      sidecar.log.info({ command, code, signal }, 'app exited');
      resolve(code ?? 128 + (signal === null ? 0 : (os.constants.signals[signal] ?? 0)));
    });
  });
  sidecar.log.info({ command, pid: child.pid }, 'app started');
  for (const signal of FORWARDED_SIGNALS) {
    process.on(signal, () => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      if (signal === 'SIGTERM' || signal === 'SIGINT') void sidecar.stop(exited);
    });
  }
  void exited.then(async (code) => {
    await sidecar.stop(Promise.resolve());
    process.exit(code);
  });
}
